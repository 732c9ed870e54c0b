"""A data-set switch while training reaches every panel as one model change (issue 11,
item 2), on the real engine: train on digits, open a colour set, and nothing computed
for the digit model reaches a panel of the colour model — no "inspection failed", no
banner left behind, layer pickers with the new shapes, the evaluation of the new set.
And the pieces behind it, fast, with the stand-in loop: the bridge drops what a stopped
loop still says, and the session announces a switch once."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))


def small_digits():
    from convscope.data import Dataset, builtin_mnist

    full = builtin_mnist()
    return Dataset("digits (small)", full.x_train[:128], full.y_train[:128], full.x_val[:40],
                   full.y_val[:40], full.class_names, full.source)  # fmt: skip


def colours_npz(path: Path) -> Path:
    """The first images of the built-in colour set, as a user's .npz (32×32×3, 10 classes)."""
    from convscope.data import load_dataset

    full = load_dataset("builtin:colors")
    np.savez(path, x_train=full.x_train[:96], y_train=full.y_train[:96], x_test=full.x_val[:30],
             y_test=full.y_val[:30], class_names=np.array(full.class_names))  # fmt: skip
    return path


@pytest.mark.gui
@pytest.mark.slow
def test_switching_to_colours_while_training_keeps_every_panel_consistent(qtbot, tmp_path, caplog,
                                                                         monkeypatch) -> None:  # fmt: skip
    from convscope.probes.inspect import Inspector
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow
    from convscope.ui.panels.dataset import DatasetPanel, loader_for
    from convscope.ui.panels.evaluation import EvaluationPanel
    from convscope.ui.panels.feature_maps import FeatureMapsPanel
    from convscope.ui.panels.filters import FiltersPanel
    from convscope.ui.panels.inspect_image import ImagePanel
    from convscope.ui.panels.prediction import PredictionPanel
    from convscope.ui.worker import wait_for_stragglers

    digits = small_digits()
    npz = colours_npz(tmp_path / "colours.npz")
    arch = dataclasses.replace(TINY, input_shape=digits.image_shape, num_classes=digits.num_classes)
    panels = [ImagePanel, PredictionPanel, FeatureMapsPanel, FiltersPanel, EvaluationPanel, DatasetPanel]
    window = MainWindow(digits, arch, TrainConfig(batch_size=16, eval_every=10), loop_factory=TrainingLoop,
                        panels=panels)  # fmt: skip
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    session = window.session
    maps, filters, evaluation = window.panels["Feature maps"], window.panels["Filters"], window.panels["Evaluation"]
    c = maps.controller
    failures: list[str] = []
    c.failed.connect(failures.append)
    switched: list[bool] = []  # [True] once the colours are in use
    session.dataset_changed.connect(lambda _d: switched.append(True))
    evaluated: list[tuple[bool, int]] = []  # (after the switch?, images evaluated)
    evaluation.runner.finished.connect(
        lambda _tag, result: evaluated.append((bool(switched), len(result.evaluation.y_true)))
    )
    qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)

    # Train on the digits, with the Evaluation panel on screen (it evaluates as it goes).
    window.docks["Evaluation"].raise_()
    window.train_action.trigger()
    qtbot.waitUntil(lambda: c.inspection is not None and evaluation.result is not None, timeout=60_000)
    assert maps.picker.itemText(0) == "conv1 · 28×28×4"
    assert filters.picker.itemText(0) == "conv1 · 4 filters 3×3×1"

    # Data ▸ Colours, while training.
    with caplog.at_level(logging.ERROR, logger="convscope"):
        loader_for(session).load(npz)
        qtbot.waitUntil(lambda: session.dataset.image_shape == (32, 32, 3), timeout=30_000)
        # At once: the digit model's maps and kernels are gone (its colour model compiles).
        assert maps.maps is None and "waiting for the new model" in maps.heading.text()
        assert filters.weights is None and "waiting for the new model" in filters.heading.text()
        qtbot.waitUntil(lambda: c.snapshot is not None and c.snapshot.arch.input_shape == (32, 32, 3)
                        and c.inspection is not None, timeout=60_000)  # fmt: skip
        qtbot.waitUntil(lambda: evaluated and evaluated[-1][0], timeout=60_000)
        qtbot.wait(300)  # whatever else was on its way
    assert session.state == "training"

    # Nothing the digit model computed reached a colour-model panel, and nothing failed.
    assert failures == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert "Inspection" not in window.notice_label.text()
    assert c.inspection.input.shape[:3] == (32, 32, 3)
    assert maps.picker.itemText(0) == "conv1 · 32×32×4"
    assert filters.picker.itemText(0) == "conv1 · 4 filters 3×3×3"
    # Every evaluation delivered after the switch is of the 30 colour images.
    assert [n for after, n in evaluated if after and n != 30] == []
    assert evaluation.class_names[0] == "circle" and len(evaluation.result.evaluation.y_true) == 30
    prediction = window.panels["Prediction"]
    assert len(prediction.bars.opts["brushes"]) == 10

    # A failing inspection shows a banner; it goes when inspections work again.
    real_run, calls = Inspector.run, {"n": 0}

    def fail_once(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ValueError("a passing failure")
        return real_run(self, *args, **kwargs)

    monkeypatch.setattr(Inspector, "run", fail_once)
    with caplog.at_level(logging.CRITICAL, logger="convscope"):  # the one traceback is expected
        c.move(dx=2)
        qtbot.waitUntil(lambda: "a passing failure" in window.notice_label.text(), timeout=10_000)
        c.move(dx=3)
        qtbot.waitUntil(lambda: window.notice_label.text() == "", timeout=10_000)

    window.close()
    assert wait_for_stragglers(timeout_s=30)


# ------------------------------------------------------------------ fast, stand-in loop
def test_a_stopped_loop_says_nothing_more(qtbot) -> None:
    """A loop that is still compiling when it is stopped (XLA holds its thread) finishes
    later; its Started and Snapshot must not reach the session of the new loop."""
    from conftest import FAKE_DATASET, FakeLoop

    from convscope.ui.session import Session
    from convscope.ui.worker import wait_for_stragglers

    loops: list[FakeLoop] = []

    def factory(a, c, d):
        loops.append(FakeLoop(a, c, d, block_s=0.6 if not loops else 0.0))
        return loops[-1]

    session = Session(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=factory)
    started: list[object] = []
    session.bridge.started.connect(started.append)
    session.start()
    qtbot.waitUntil(lambda: bool(loops and loops[0].events_sent), timeout=5000)  # it is "compiling"
    assert not session.bridge.stop(timeout_s=0.05)  # busy: it ends on its own
    session.state = "idle"
    session.start()
    qtbot.waitUntil(lambda: len(loops) == 2 and session.state == "paused", timeout=5000)
    qtbot.waitUntil(lambda: any(isinstance(e, ev.Finished) for e in loops[0].events_sent), timeout=5000)
    qtbot.wait(50)
    assert len(started) == 1  # the old loop's Started was dropped
    session.shutdown(timeout_s=2.0)
    assert wait_for_stragglers(timeout_s=5.0)  # the old loop ended by itself


def test_a_data_set_switch_is_one_model_change(window, qtbot) -> None:
    """Session.set_dataset announces the new model once (generation + 1), the panels
    reset with it, and the new loop's Started is not a second change."""
    session = window.session
    changes: list[object] = []
    session.model_changed.connect(changes.append)
    before = session.generation
    c = window.panels["Feature maps"].controller
    rgb = SimpleNamespace(
        name="rgb", image_shape=(16, 16, 3), num_classes=10, class_names=tuple("abcdefghij"),
        x_train=np.zeros((8, 16, 16, 3), np.uint8), y_train=np.zeros(8, np.int32),
        x_val=np.zeros((8, 16, 16, 3), np.uint8), y_val=np.zeros(8, np.int32), summary=lambda: "rgb",
    )
    assert session.set_dataset(rgb) == ""
    assert len(changes) == 1 and changes[0].new_data and changes[0].generation == before + 1
    assert changes[0].arch.input_shape == (16, 16, 3)
    # At once, everywhere: the controller forgot the old model and offers the new images.
    assert c.snapshot is None and c.inspection is None and c.model_image.shape == (16, 16, 3)
    qtbot.waitUntil(lambda: session.state == "paused", timeout=5000)
    assert len(changes) == 1 and session.generation == before + 1
    session.reset()  # a new model on the same data: one more change
    qtbot.waitUntil(lambda: len(changes) == 2, timeout=5000)
    assert not changes[1].new_data and changes[1].generation == before + 2


def test_deep_visualization_waits_for_the_new_models_snapshot(qtbot, session) -> None:
    """After a model change, deep visualization holds the old model's snapshot (for its
    pictures) but asks nothing of it: its next request is for the new model's first
    snapshot."""
    import jax

    from convscope.model.network import init
    from convscope.probes.deepvis import ActMaxSettings
    from convscope.ui.panels.deepvis import DeepVisPanel

    arch = dataclasses.replace(TINY, input_shape=(28, 28, 1), num_classes=10)
    params, state = jax.device_get(init(arch, 0))
    snap = ev.Snapshot(0, arch, params, state, np.array([[0.1], [0.3]], np.float32))
    panel = DeepVisPanel(session)
    qtbot.addWidget(panel)
    panel.controls.set_settings(ActMaxSettings(steps=2, progress_every=1))
    panel._on_snapshot(snap)
    panel.runner.cancel()
    session._change_model(new_data=False)  # what a Reset's Started (or a data switch) does
    assert panel.snapshot is snap
    assert not panel.refresh(force=True)  # nothing is computed for the old model
    panel._on_snapshot(dataclasses.replace(snap, step=1))  # the new model's first snapshot
    assert panel.refresh(force=True)
    panel.runner.shutdown(2.0)
