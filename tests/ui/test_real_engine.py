"""The window on the real JAX TrainingLoop: controls reach it, edits rebuild it, close is fast.

One test on purpose: every new architecture compiles, so the checks share a session.
"""

from __future__ import annotations

import time

import pytest

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.ui.worker import wait_for_stragglers

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))


@pytest.fixture(scope="module")
def small_digits():
    from convscope.data import Dataset, builtin_mnist

    full = builtin_mnist()
    return Dataset(
        "digits (small)",
        full.x_train[:512],
        full.y_train[:512],
        full.x_val[:200],
        full.y_val[:200],
        full.class_names,
        full.source,
    )


def test_gui_drives_the_real_training_loop(qtbot, small_digits) -> None:
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow

    loops: list[TrainingLoop] = []

    def factory(arch: ArchSpec, config: TrainConfig, dataset) -> TrainingLoop:
        loops.append(TrainingLoop(arch, config, dataset))
        return loops[-1]

    window = MainWindow(small_digits, TINY, TrainConfig(batch_size=32, eval_every=5), loop_factory=factory)
    qtbot.addWidget(window)
    window.show()
    session, panel = window.session, window.panels["Training"]
    qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)
    assert window.device_label.text() in ("CPU",) or window.device_label.text().startswith("GPU")
    loop = loops[0]

    # Train: metrics and evaluations reach the curves.
    window.train_action.trigger()
    # (the loop evaluates once at step 0, before any training)
    qtbot.waitUntil(lambda: panel.buffers["val_loss"].size >= 2, timeout=60_000)
    assert panel.buffers["loss"].size >= 1 and session.state == "training"

    # A slider reaches the running loop, which keeps going; the change is marked.
    controls = window.panels["Hyperparameters"]
    controls.learning_rate.slider.setValue(controls.learning_rate.values.index(3e-3))
    qtbot.waitUntil(lambda: loop.config.learning_rate == 3e-3, timeout=10_000)
    qtbot.waitUntil(lambda: [m.text for m in panel.markers] == ["lr 1e-3→3e-3"], timeout=10_000)
    step = loop.step
    qtbot.waitUntil(lambda: loop.step > step, timeout=10_000)

    # Pause, then Step runs exactly one batch.
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: not loop.running, timeout=10_000)
    qtbot.wait(100)
    step = loop.step
    window.step_action.trigger()
    qtbot.waitUntil(lambda: loop.step == step + 1, timeout=10_000)
    assert session.state == "paused"

    # An architecture edit rebuilds the model with the new spec.
    editor = window.panels["Architecture editor"]
    editor.kernel.setValue(5)
    candidate = session.candidate
    assert candidate is not None and candidate.convs[0].kernel == 5
    editor.apply_button.click()
    qtbot.waitUntil(lambda: session.arch == candidate, timeout=60_000)
    assert loop.arch == candidate and loop.step == 0

    # Closing mid-training stops the worker within a second. (Wait for the first
    # evaluation: the new model's evaluation compiles then, and XLA holds the thread.)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: panel.buffers["val_loss"].size >= 1 and loop.step > 6, timeout=60_000)
    bridge = session.bridge
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < 1.0
    assert wait_for_stragglers(timeout_s=30)
    assert not bridge.is_running()
