"""Real data in, honest evaluation out, on the real training engine: an image folder
opened through File ▸ Open Data Set, re-split in the Data panel, trained on, saved and
evaluated by ``convscope evaluate`` on exactly the GUI's validation images; the
Evaluation panel's false positive clicked reaches the inspection panels. And a broken
data set opened while training runs changes nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from convscope.config import ArchSpec, ConvLayer, TrainConfig

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
CLASSES = ("circle", "cross", "plain")


def write_folder(root: Path, per_class: int = 24) -> Path:
    """Three classes of 20×24 gray PNGs, every image different (noise over a class pattern)."""
    from PIL import Image

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:20, 0:24]
    patterns = {
        "circle": 150.0 * (((yy - 10) ** 2 + (xx - 12) ** 2) < 36),
        "cross": 150.0 * ((abs(yy - 10) < 2) | (abs(xx - 12) < 2)),
        "plain": np.zeros((20, 24)),
    }
    for cls, pattern in patterns.items():
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            img = np.clip(pattern + rng.normal(60, 40, (20, 24)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / cls / f"{i:02d}.png")
    return root


@pytest.fixture
def small_gray():
    """What the window trains on before the folder: 12×12 gray, three classes, so that the
    folder's model is the one already compiled (a compile is most of this test's time)."""
    from convscope.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 12, 12, 1), dtype=np.uint8)
    y = (np.arange(60) % 3).astype(np.int32)
    return Dataset("noise", x[:48], y[:48], x[48:], y[48:], ("a", "b", "c"), "noise for the test")


@pytest.fixture
def small_digits():
    from convscope.data import Dataset, builtin_mnist

    full = builtin_mnist()
    return Dataset("digits (small)", full.x_train[:256], full.y_train[:256], full.x_val[:100],
                   full.y_val[:100], full.class_names, full.source)  # fmt: skip


def real_window(qtbot, dataset, panels):
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow

    arch = dataclasses.replace(TINY, input_shape=dataset.image_shape, num_classes=dataset.num_classes)
    window = MainWindow(dataset, arch, TrainConfig(batch_size=16, eval_every=10), loop_factory=TrainingLoop,
                        panels=panels)  # fmt: skip
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    return window


def rows(x: np.ndarray) -> set[bytes]:
    return {img.tobytes() for img in x}


def test_folder_to_training_to_cli_evaluation_and_gallery_inspection(qtbot, small_gray, tmp_path,
                                                                     monkeypatch) -> None:  # fmt: skip
    import convscope.data.dataset as dataset_module
    from convscope.cli import main
    from convscope.probes.inspect import Inspector
    from convscope.ui.panels.dataset import DatasetPanel
    from convscope.ui.panels.deepvis import DeepVisPanel
    from convscope.ui.panels.evaluation import EvaluationPanel
    from convscope.ui.panels.feature_maps import FeatureMapsPanel
    from convscope.ui.panels.inspect_image import ImagePanel
    from convscope.ui.panels.prediction import PredictionPanel
    from convscope.ui.worker import wait_for_stragglers

    folder = write_folder(tmp_path / "shapes")
    panels = [ImagePanel, PredictionPanel, FeatureMapsPanel, EvaluationPanel, DeepVisPanel, DatasetPanel]
    window = real_window(qtbot, small_gray, panels)
    session, data_panel = window.session, window.panels["Data"]
    window.docks["Deep visualization"].hide()  # off screen: no activation maximization meanwhile
    qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)

    # File ▸ Open Data Set Folder…, at a chosen image size.
    data_panel.size_spin.setValue(12)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    window.open_data_folder_action.trigger()
    qtbot.waitUntil(lambda: getattr(session.dataset, "origin", "") == str(folder), timeout=30_000)
    assert session.dataset.image_shape == (12, 12, 1) and session.dataset.val_split == (0.1, 0)
    qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)  # compiled: the re-split reuses it
    # Split again in the Data panel: a quarter, seed 7.
    data_panel.fraction_spin.setValue(0.25)
    data_panel.seed_spin.setValue(7)
    data_panel.resplit_button.click()
    qtbot.waitUntil(lambda: session.dataset.val_split == (0.25, 7), timeout=30_000)
    gui_data = session.dataset
    assert gui_data.class_names == CLASSES and len(gui_data.y_val) == 18
    qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)

    # Train a little on it, pause, save the checkpoint.
    c = window.panels["Evaluation"].controller
    window.train_action.trigger()
    qtbot.waitUntil(lambda: c.snapshot is not None and c.snapshot.step >= 15, timeout=60_000)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: session.state == "paused", timeout=10_000)
    ckpt = tmp_path / "gui.npz"
    window.save_checkpoint(str(ckpt))
    qtbot.waitUntil(
        lambda: ckpt.exists() and "Saved checkpoint" in window.notice_label.text(), timeout=10_000
    )

    # convscope evaluate cuts exactly the GUI's split, at the GUI's image size, unasked.
    loaded = []

    def spy(*args, **kwargs):
        loaded.append(real_load(*args, **kwargs))
        return loaded[-1]

    real_load = dataset_module.load_dataset
    monkeypatch.setattr(dataset_module, "load_dataset", spy)
    assert main(["evaluate", "--checkpoint", str(ckpt), "--data", str(folder), "--out", str(tmp_path / "e"),
                 "--gallery", "0"]) == 0  # fmt: skip
    cli_data = loaded[-1]
    np.testing.assert_array_equal(cli_data.x_val, gui_data.x_val)
    np.testing.assert_array_equal(cli_data.y_val, gui_data.y_val)
    assert not rows(cli_data.x_val) & rows(gui_data.x_train)  # not one training image evaluated
    assert len(rows(gui_data.x_train) | rows(gui_data.x_val)) == 72  # (the images are all distinct)

    # The Evaluation panel: evaluate, pick a false positive, inspect it.
    window.docks["Evaluation"].raise_()
    panel = window.panels["Evaluation"]
    snap = c.snapshot
    panel.refresh()
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.step == snap.step, timeout=60_000)
    panel.tabs.setCurrentIndex(1)
    panel.set_threshold(0.05)
    fp = panel.galleries["FP"]
    assert fp.count() > 0
    index = int(fp.indices[0])
    item = fp.item(0)
    fp.scrollToItem(item)
    qtbot.mouseClick(fp.viewport(), Qt.MouseButton.LeftButton, pos=fp.visualItemRect(item).center())
    image = gui_data.x_val[index]
    np.testing.assert_array_equal(c.image.fitted, image)
    qtbot.waitUntil(lambda: c.idle() and c.inspected_image is c.model_image, timeout=30_000)
    np.testing.assert_array_equal(c.model_image, image)
    maps, prediction = window.panels["Feature maps"], window.panels["Prediction"]
    window.docks["Feature maps"].raise_()
    maps.redraw()
    prediction.redraw()
    want = Inspector(snap.arch).run(snap.params, snap.state, snap.norm, image)
    np.testing.assert_allclose(prediction.probs, want.probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(maps.maps, want.taps[maps.layer], rtol=1e-4, atol=1e-5)
    assert f"true class {CLASSES[gui_data.y_val[index]]}" in prediction.heading.text()
    # Deep visualization's saliency explains that very image.
    saliency = window.panels["Deep visualization"].saliency
    np.testing.assert_array_equal(saliency.image, image)
    saliency.request()
    qtbot.waitUntil(lambda: saliency.result_image is not None and np.array_equal(saliency.result_image, image),
                    timeout=60_000)  # fmt: skip
    assert saliency.result.heatmap.shape == (12, 12)
    window.close()
    assert wait_for_stragglers(timeout_s=30)


def test_a_broken_data_set_opened_while_training_leaves_the_run_alone(qtbot, small_digits, tmp_path,
                                                                      monkeypatch) -> None:  # fmt: skip
    from convscope.ui.panels.dataset import DatasetPanel
    from convscope.ui.panels.training import TrainingPanel
    from convscope.ui.worker import wait_for_stragglers

    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 this is no zip archive")
    window = real_window(qtbot, small_digits, [TrainingPanel, DatasetPanel])
    session = window.session
    qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)
    steps: list[int] = []
    session.bridge.stepped.connect(lambda m: steps.append(m.step))
    window.train_action.trigger()
    qtbot.waitUntil(lambda: bool(steps) and steps[-1] >= 5, timeout=60_000)
    thread = session.bridge._thread

    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(broken), ""))
    window.open_data_file_action.trigger()
    qtbot.waitUntil(lambda: bool(window.last_error), timeout=30_000)
    message = window.last_error
    assert str(broken) in message and "\n" not in message
    assert "Not loaded" in window.panels["Data"].status_label.text()
    at_error = steps[-1]
    qtbot.waitUntil(lambda: steps[-1] >= at_error + 10, timeout=30_000)  # training carries on
    assert session.state == "training" and session.bridge._thread is thread  # the same loop
    assert session.dataset is small_digits and session.arch.input_shape == (28, 28, 1)
    window.close()
    assert wait_for_stragglers(timeout_s=30)
