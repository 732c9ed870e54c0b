"""The Augmentation group: each control reaches the running loop, the preview follows
the controls, and (on the real engine) no change recompiles the training step."""

from __future__ import annotations

import numpy as np
import pytest

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.ui.controls import AUGMENT_SLIDERS, HyperparameterControls, ValueSlider
from convscope.ui.panels.augment_preview import GAP, GAP_VALUE, preview_mosaic
from convscope.ui.panels.training import TrainingPanel

WINDOW_PANELS = [HyperparameterControls, TrainingPanel]  # the controls (with their preview) and the curves

pytestmark = pytest.mark.gui


def move(slider: ValueSlider, value: float) -> None:
    slider.slider.setValue(slider.values.index(value))


def digits(n: int = 64) -> np.ndarray:
    from convscope.data import builtin_mnist

    return builtin_mnist().x_train[:n]


def wait_for_preview(qtbot, controls) -> np.ndarray:
    qtbot.waitUntil(lambda: controls.preview.mosaic is not None and controls.preview.idle(), timeout=60_000)
    return controls.preview.mosaic


@pytest.mark.parametrize(
    ("name", "value"),
    [("augment_shift", 4), ("augment_flip", 0.5), ("augment_rotate", 15.0), ("augment_zoom", 0.2),
     ("augment_brightness", 0.3), ("augment_contrast", 0.2), ("augment_saturation", 0.4)],
)
def test_each_augmentation_slider_reaches_the_running_loop(window, loop, qtbot, name, value) -> None:
    controls = window.panels["Hyperparameters"]
    window.session.train()
    qtbot.waitUntil(lambda: loop.step > 2, timeout=3000)
    move(getattr(controls, name), value)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get(name) == value, timeout=3000)
    assert getattr(loop.config, name) == value and loop.running
    assert getattr(window.session.config, name) == value


def test_the_group_checkbox_switches_augmentation_off_and_on(window, loop, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    assert controls.augmentation.isChecked()
    controls.augmentation.setChecked(False)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("augment") is False, timeout=3000)
    assert not controls.augment_rotate.isEnabled(), "the strengths grey out with the group"
    controls.augmentation.setChecked(True)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("augment") is True, timeout=3000)


@pytest.mark.parametrize("mode", ["center", "none", "standardize"])
def test_normalization_choice_reaches_the_loop(window, loop, qtbot, mode) -> None:
    combo = window.panels["Hyperparameters"].normalization
    if mode == "standardize":  # the default: go elsewhere first so there is a change
        combo.setCurrentIndex(combo.findData("none"))
    combo.setCurrentIndex(combo.findData(mode))
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("normalization") == mode, timeout=3000)
    assert loop.config.normalization == mode


def test_preview_follows_the_controls(window, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    x = digits()
    controls.preview.set_images(x)
    controls.augmentation.setChecked(False)
    plain = wait_for_preview(qtbot, controls).copy()
    controls.augmentation.setChecked(True)
    qtbot.waitUntil(lambda: not np.array_equal(controls.preview.mosaic, plain), timeout=60_000)
    shifted = wait_for_preview(qtbot, controls).copy()
    move(controls.augment_rotate, 45.0)
    qtbot.waitUntil(lambda: not np.array_equal(controls.preview.mosaic, shifted), timeout=60_000)
    rotated = wait_for_preview(qtbot, controls).copy()
    controls.new_draw.click()
    qtbot.waitUntil(lambda: not np.array_equal(controls.preview.mosaic, rotated), timeout=60_000)
    assert controls.preview.last_seconds < 5.0


def test_preview_shows_the_examples_unchanged_when_augmentation_is_off(window, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    x = digits(200)
    controls.preview.set_images(x)
    controls.augmentation.setChecked(False)
    mosaic = wait_for_preview(qtbot, controls)
    for i in range(32):  # every cell is one of the examples, as it is
        r, c = divmod(i, 8)
        cell = mosaic[r * (28 + GAP) : r * (28 + GAP) + 28, c * (28 + GAP) : c * (28 + GAP) + 28, 0]
        assert any(np.array_equal(cell, img[..., 0]) for img in x), i


def test_setting_augmentation_from_a_config_sends_nothing(window, loop, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    controls.show_config(window.session.config.replace(augment_rotate=30.0, augment=False, normalization="center"))
    assert controls.augment_rotate.label.text() == "±30°"
    assert not controls.augmentation.isChecked()
    assert controls.normalization.currentData() == "center"
    window.session.request_snapshot()
    qtbot.waitUntil(lambda: bool(loop.seen(ev.RequestSnapshot)), timeout=3000)
    assert not loop.seen(ev.SetHyperParams)


def test_saturation_is_only_offered_for_colour_images(window) -> None:
    controls = window.panels["Hyperparameters"]
    assert not controls.augment_saturation.isEnabled()  # the fake data set is grayscale
    assert [name for name, *_ in AUGMENT_SLIDERS][-1] == "augment_saturation"


def test_preview_mosaic_lays_cells_out_row_by_row() -> None:
    imgs = np.arange(6 * 2 * 3, dtype=np.uint8).reshape(6, 2, 3, 1)
    m = preview_mosaic(imgs, rows=2, cols=4, gap=1)
    assert m.shape == (2 * 2 + 1, 4 * 3 + 3, 3)
    np.testing.assert_array_equal(m[0:2, 4:7, 0], imgs[1, ..., 0])
    np.testing.assert_array_equal(m[3:5, 0:3, 1], imgs[4, ..., 0])
    assert (m[2] == GAP_VALUE).all() and (m[3:5, 8:] == GAP_VALUE).all()  # gap row, unused cells
    rgba = np.arange(2 * 2 * 4, dtype=np.uint8).reshape(1, 2, 2, 4)
    np.testing.assert_array_equal(preview_mosaic(rgba, 1, 1), rgba[0, ..., :3])
    two = np.arange(2 * 2 * 2, dtype=np.uint8).reshape(1, 2, 2, 2)
    np.testing.assert_array_equal(preview_mosaic(two, 1, 1), np.repeat(two[0, ..., :1], 3, axis=-1))
    with pytest.raises(ValueError, match="channels"):
        preview_mosaic(np.zeros((1, 2, 2, 5), np.uint8), 1, 1)


@pytest.mark.slow
def test_moving_augmentation_controls_never_recompiles_the_real_step(qtbot) -> None:
    from convscope.data import Dataset, builtin_mnist
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow

    full = builtin_mnist()
    data = Dataset("digits (small)", full.x_train[:256], full.y_train[:256], full.x_val[:64], full.y_val[:64],
                   full.class_names, full.source)
    loops: list[TrainingLoop] = []

    def factory(arch, config, dataset):
        loops.append(TrainingLoop(arch, config, dataset))
        return loops[-1]

    tiny = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
    window = MainWindow(data, tiny, TrainConfig(batch_size=32, eval_every=5), loop_factory=factory)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=60_000)
    loop, controls = loops[0], window.panels["Hyperparameters"]
    window.train_action.trigger()
    qtbot.waitUntil(lambda: loop.step > 4, timeout=60_000)
    traces = dict(loop.fns.traces)
    move(controls.augment_rotate, 20.0)
    move(controls.augment_zoom, 0.2)
    controls.normalization.setCurrentIndex(controls.normalization.findData("center"))
    controls.augmentation.setChecked(False)
    qtbot.waitUntil(lambda: loop.config.normalization == "center" and not loop.config.augment, timeout=10_000)
    qtbot.waitUntil(lambda: loop.config.augment_zoom == 0.2, timeout=10_000)
    steps = loop.step
    qtbot.waitUntil(lambda: loop.step > steps + 4, timeout=60_000)
    assert loop.fns.traces == traces, "an augmentation or normalization change recompiled"
    assert loop.config.augment_rotate == 20.0
    np.testing.assert_allclose(loop.norm[1], 1.0)
    window.session.shutdown(timeout_s=5.0)


def test_the_preview_worker_ends_with_its_widget(qtbot) -> None:
    from convscope.ui.panels.augment_preview import AugmentPreview

    preview = AugmentPreview(rows=1, cols=2)
    qtbot.addWidget(preview)
    preview.set_images(digits(4))
    preview.request(TrainConfig())
    qtbot.waitUntil(preview.idle, timeout=60_000)
    thread = preview.runner._thread  # noqa: SLF001
    assert thread is not None and thread.is_alive()
    preview.deleteLater()
    qtbot.waitUntil(lambda: not thread.is_alive(), timeout=5000)
