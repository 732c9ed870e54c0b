"""Help ▸ Try this: each preset's effect on what the engine receives (FakeLoop) and on the
session, the note it shows; and the learning-rate preset on the real engine."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QRect

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data import Dataset
from convscope.ui.inspection import controller_for
from convscope.ui.presets import PRESETS
from convscope.ui.tour import guide_for

pytestmark = pytest.mark.gui


def _trigger(window, title: str) -> None:
    index = [p.title for p in PRESETS].index(title)
    window.presets.actions[index].trigger()


def _note(window) -> str:
    guide = guide_for(window)
    return guide.panel.title.text() if guide.active else ""


def _current_tab(window, title: str) -> str:
    from PySide6.QtWidgets import QTabBar

    for bar in window.findChildren(QTabBar):
        if bar.parent() is window and bar.isVisible() and title in [bar.tabText(i) for i in range(bar.count())]:
            return bar.tabText(bar.currentIndex())
    return ""


def test_learning_rate_too_high_diverges_then_recovers_when_lowered(window, loops, qtbot) -> None:
    _trigger(window, "Learning rate too high")
    # (the loop's thread takes the commands in turn: wait for the last, Resume, to be taken)
    qtbot.waitUntil(lambda: len(loops[-1].seen(ev.Reset)) == 1 and bool(loops[-1].seen(ev.Resume)), timeout=3000)
    loop = loops[-1]
    assert loop.hyperparams_seen() == {"optimizer": "sgd", "learning_rate": 1.0}
    # A fresh model with Leaky ReLUs, after the new hyperparameters (the queue's order).
    reset = loop.seen(ev.Reset)[0]
    assert reset.arch.activation == "leaky_relu"
    kinds = [type(c) for c in loop.commands_seen]
    assert kinds.index(ev.SetHyperParams) < kinds.index(ev.Reset) < kinds.index(ev.Resume)
    controls = window.panels["Hyperparameters"]
    assert controls.learning_rate.value() == 1.0 and controls.optimizer.currentData() == "sgd"
    assert _note(window) == "Try this: Learning rate too high"
    assert "0.05" in guide_for(window).panel.text.text()
    assert _current_tab(window, "Training") == "Training"
    # The FakeLoop, like the real one, pauses on a non-finite loss at this rate…
    qtbot.waitUntil(lambda: window.session.state == "paused" and "non-finite" in window.notice_label.text(),
                    timeout=3000)
    step = loop.step
    # …and trains again once it is lowered.
    assert window.session.set_hyperparams(learning_rate=0.05) == ""
    window.train_action.trigger()
    qtbot.waitUntil(lambda: loop.step > step + 3, timeout=3000)


def test_dead_relus_start_from_zero_weights(window, loop, qtbot) -> None:
    _trigger(window, "Dead ReLUs from a bad initialization")
    qtbot.waitUntil(lambda: window.session.arch.init == "zeros", timeout=3000)
    assert loop.seen(ev.Reset)[-1].arch == ArchSpec(init="zeros")
    assert loop.hyperparams_seen() == {}
    qtbot.waitUntil(lambda: loop.running, timeout=3000)
    assert _current_tab(window, "Activations") == "Activations"
    assert _note(window) == "Try this: Dead ReLUs from a bad initialization"


def test_overfitting_trains_a_small_subset_without_dropout_and_defaults_bring_back_the_set(
    window, loops, qtbot
) -> None:
    original = window.session.dataset
    _trigger(window, "Overfitting a small subset, without dropout")
    qtbot.waitUntil(lambda: len(loops) == 2 and loops[-1].running, timeout=3000)
    loop = loops[-1]
    # 500 images, at most a quarter of the set: 16 of the fake set's 64, validation whole.
    assert len(loop.dataset.x_train) == 16 and np.bincount(loop.dataset.y_train).tolist() == [16]
    assert loop.dataset.x_val is original.x_val
    assert loop.config.dropout == 0.0 and loop.config.augment is False  # the loop is built with them
    assert window.panels["Hyperparameters"].dropout.value() == 0.0
    assert "16 training images" in window.windowTitle()
    # The note shows its whole text: title and sentences wrapped, none cut off.
    qtbot.wait(50)
    panel = guide_for(window).panel
    for label in (panel.title, panel.text):
        assert label.height() >= label.heightForWidth(label.width())
        assert panel.rect().contains(label.geometry())

    _trigger(window, "Back to the defaults")
    qtbot.waitUntil(lambda: len(loops) == 3, timeout=3000)
    assert loops[-1].dataset is original
    assert loops[-1].config == TrainConfig()
    assert window.panels["Hyperparameters"].dropout.value() == TrainConfig().dropout


def test_off_centre_digit_moves_a_validation_digit_in_the_image_panel(window, qtbot) -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (20, 28, 28, 1), dtype=np.uint8)
    y = np.arange(20, dtype=np.int32) % 10
    data = Dataset("noise digits", x, y, x[:10], y[:10], tuple("0123456789"), "test")
    window.resize(1280, 720)  # the smallest screen the layout is drawn for
    assert window.session.set_dataset(data) == ""
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=3000)
    controller = controller_for(window.session)

    _trigger(window, "An off-centre digit")
    assert controller.image.label == "validation example 0"
    expected = np.zeros_like(x[0])
    expected[4:, 6:] = x[0][:-4, :-6]  # 6 px right, 4 down; what comes in from outside is 0
    np.testing.assert_array_equal(controller.model_image, expected)
    panel = window.panels["Image"]
    assert panel.sliders["dx"].value() == 6 and panel.sliders["dy"].value() == 4
    assert _current_tab(window, "Prediction") in ("Prediction", "")  # its own dock when tall enough
    # The note points at the sliders it asks to drag, and covers none of them.
    guide = guide_for(window)
    qtbot.wait(50)
    assert guide.highlight.geometry().contains(QRect(panel.sliders["dx"].mapTo(window, QPoint(0, 0)),
                                                     panel.sliders["dx"].size()))
    watched = [panel, window.panels["Prediction"]]  # the whole image panel: labels, strip
    for widget in watched:  # nor what it asks to watch
        area = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
        assert not guide.panel.geometry().intersects(area), widget
    assert window.session.state == "paused"  # looking, not training
    assert _note(window) == "Try this: An off-centre digit"


def test_max_and_average_pooling_rebuild_every_block(window, loop, qtbot) -> None:
    window.session.reset(ArchSpec(convs=(ConvLayer(8, pool="none"), ConvLayer(8, pool="max"))))
    qtbot.waitUntil(lambda: len(window.session.arch.convs) == 2 and window.session.arch.convs[0].filters == 8,
                    timeout=3000)
    _trigger(window, "Average pooling")
    qtbot.waitUntil(lambda: [c.pool for c in window.session.arch.convs] == ["avg", "avg"], timeout=3000)
    assert [c.pool for c in loop.seen(ev.Reset)[-1].arch.convs] == ["avg", "avg"]
    assert [c.filters for c in window.session.arch.convs] == [8, 8]  # the rest stays
    assert _current_tab(window, "Feature maps") == "Feature maps"
    _trigger(window, "Max pooling")
    qtbot.waitUntil(lambda: [c.pool for c in window.session.arch.convs] == ["max", "max"], timeout=3000)
    # Five blocks that do not pool: pooled, 28 px would vanish (28→14→7→3→1→0); said, not done.
    deep = ArchSpec(convs=tuple(ConvLayer(4, pool="none") for _ in range(5)))
    window.session.reset(deep)
    qtbot.waitUntil(lambda: window.session.arch == deep, timeout=3000)
    resets = len(loop.seen(ev.Reset))
    _trigger(window, "Average pooling")
    assert "Could not load" in guide_for(window).panel.text.text()
    qtbot.wait(50)
    assert len(loop.seen(ev.Reset)) == resets and window.session.arch == deep


def test_a_preset_while_following_a_run_says_why_and_changes_nothing(window, loop, qtbot, tmp_path) -> None:
    window.session.begin_follow(tmp_path / "someone-elses-run")
    arch, config = window.session.arch, window.session.config
    _trigger(window, "Dead ReLUs from a bad initialization")
    assert window.session.arch == arch and window.session.config == config
    assert loop.seen(ev.Reset) == [] and loop.seen(ev.SetHyperParams) == []
    text = guide_for(window).panel.text.text()
    assert "Could not load" in text and "Stop Following" in text


@pytest.mark.slow
def test_learning_rate_too_high_on_the_real_engine(qtbot) -> None:
    """Leaky ReLUs on SGD at learning rate 1 go non-finite within a few steps; the loop
    pauses with the last good weights, and at 0.05 the loss falls again."""
    from convscope.data import builtin_mnist
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow

    full = builtin_mnist()
    data = Dataset("digits (small)", full.x_train[:512], full.y_train[:512], full.x_val[:100],
                   full.y_val[:100], full.class_names, full.source)
    # Leaky from the start: the preset's fresh model then needs no second compile.
    tiny = ArchSpec(convs=(ConvLayer(filters=8, kernel=3),), dense=(32,), activation="leaky_relu")
    from convscope.ui.controls import HyperparameterControls
    from convscope.ui.panels.training import TrainingPanel

    # Only the panels it needs: the others' probes would compile and run beside it.
    window = MainWindow(data, tiny, TrainConfig(batch_size=64, eval_every=10), loop_factory=TrainingLoop,
                        panels=[HyperparameterControls, TrainingPanel])
    qtbot.addWidget(window)
    window.show()
    session, panel = window.session, window.panels["Training"]
    try:
        qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)
        _trigger(window, "Learning rate too high")
        qtbot.waitUntil(lambda: session.state == "paused" and "non-finite" in window.notice_label.text(),
                        timeout=60_000)
        assert session.arch.activation == "leaky_relu" and session.config.learning_rate == 1.0
        losses = panel.buffers["loss"]
        seen = losses.size
        assert session.set_hyperparams(learning_rate=0.05) == ""
        window.train_action.trigger()
        # 80 steps on: records come at every snapshot step too (1, 2, 5, 10, …), so count steps
        qtbot.waitUntil(lambda: losses.size >= seen + 3 and losses.x[losses.size - 1] >= 80, timeout=60_000)
        recent = np.asarray(losses.y[seen:])
        assert np.all(np.isfinite(recent)) and recent[-3:].mean() < 1.5  # chance is ln 10 ≈ 2.30
    finally:
        session.shutdown(timeout_s=5.0)
