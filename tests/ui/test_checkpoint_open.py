"""File ▸ Open Checkpoint on the real engine: the checkpoint's step and epoch reach the
status bar, the loop's counters and the curves; a hostile file is a message and leaves
the loaded model as it was."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer, TrainConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/hostile_checkpoints.py
from hostile_checkpoints import HOSTILE, write  # noqa: E402

from convscope.ui.controls import HyperparameterControls
from convscope.ui.panels.training import TrainingPanel

WINDOW_PANELS = [HyperparameterControls, TrainingPanel]  # the checkpoint actions are the window's; the curves

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
CONFIG = TrainConfig(batch_size=32, eval_every=1000)


@pytest.fixture(scope="module")
def small_digits():
    from convscope.data import Dataset, builtin_mnist

    full = builtin_mnist()
    return Dataset("digits (small)", full.x_train[:512], full.y_train[:512], full.x_val[:100],
                   full.y_val[:100], full.class_names, full.source)


@pytest.fixture
def real_window(qtbot, small_digits):
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow

    loops: list[TrainingLoop] = []

    def factory(arch: ArchSpec, config: TrainConfig, dataset) -> TrainingLoop:
        loops.append(TrainingLoop(arch, config, dataset))
        return loops[-1]

    window = MainWindow(small_digits, TINY, CONFIG, loop_factory=factory)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=60_000)
    yield window, loops[0]
    window.session.shutdown(timeout_s=2.0)


def test_opening_a_checkpoint_restores_its_step_and_epoch(qtbot, tmp_path, small_digits, real_window) -> None:
    from convscope.train.checkpoint import save_checkpoint
    from convscope.train.headless import run_to_completion
    from convscope.train.loop import TrainingLoop

    # A checkpoint 12 steps of 32 images into 512: epoch 0.75.
    trainer = TrainingLoop(TINY, CONFIG, small_digits, max_steps=12)
    run_to_completion(trainer)
    path = save_checkpoint(tmp_path / "at12.npz", trainer.checkpoint())

    window, loop = real_window
    panel = window.panels["Training"]
    window.open_checkpoint(str(path))
    qtbot.waitUntil(lambda: "Opened checkpoint" in window.notice_label.text(), timeout=30_000)
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    assert loop.step == 12 and loop.epoch == pytest.approx(0.75)
    assert window.step_label.text() == "step 12"
    assert window.epoch_label.text() == "epoch 0.75"
    # The evaluation at the checkpoint sits at its step on the curves.
    qtbot.waitUntil(lambda: panel.buffers["val_loss"].size == 1, timeout=10_000)
    assert panel.buffers["val_loss"].x.tolist() == [12.0]

    window.step_action.trigger()
    qtbot.waitUntil(lambda: loop.step == 13, timeout=30_000)
    qtbot.waitUntil(lambda: window.step_label.text() == "step 13", timeout=10_000)
    assert window.epoch_label.text() == f"epoch {13 * 32 / 512:.2f}"
    assert panel.buffers["loss"].x.tolist() == [13.0]


def test_a_hostile_checkpoint_is_a_message_and_the_model_stays(qtbot, tmp_path, real_window) -> None:
    window, loop = real_window
    window.step_action.trigger()
    qtbot.waitUntil(lambda: loop.step == 1 and window.session.state == "paused", timeout=30_000)
    before = {k: {n: np.asarray(a).copy() for n, a in v.items()} for k, v in loop.params.items()}
    arch, config = loop.arch, loop.config
    for name in ("complex weights", "string step", "tens of GiB architecture", "deeply nested meta", "NaN weights"):
        path = write(tmp_path, name)
        window.open_checkpoint(str(path))
        qtbot.waitUntil(lambda p=path: str(p) in window.notice_label.text(), timeout=10_000)
        assert HOSTILE[name][1] in window.notice_label.text()
        assert window.notice_label.property("level") == "error"
        assert window.session.state == "paused" and loop.step == 1
        assert loop.arch == arch and loop.config == config
        for layer, leaves in before.items():
            for leaf, value in leaves.items():
                np.testing.assert_array_equal(np.asarray(loop.params[layer][leaf]), value)
    assert window.step_label.text() == "step 1"
    # Still alive: the next step trains the same model on.
    window.step_action.trigger()
    qtbot.waitUntil(lambda: loop.step == 2, timeout=30_000)


def test_a_foreign_file_opened_while_training_leaves_model_curves_and_save(qtbot, tmp_path, real_window) -> None:
    """A plain .npy named .npz, or random bytes: np.load once returned the .npy's array
    (a TypeError that stopped the loop, cleared the curves and greyed out Save)."""
    window, loop = real_window
    panel = window.panels["Training"]
    window.train_action.trigger()
    qtbot.waitUntil(lambda: panel.buffers["loss"].size >= 2 and panel.buffers["val_loss"].size >= 1,
                    timeout=30_000)
    arch, first_loss = loop.arch, panel.buffers["loss"].x[:2].tolist()
    with open(tmp_path / "array.npz", "wb") as f:
        np.save(f, np.zeros((28, 28), np.float32))
    (tmp_path / "random.npz").write_bytes(np.random.default_rng(1).bytes(4000))
    for name in ("array.npz", "random.npz"):
        path = tmp_path / name
        window.open_checkpoint(str(path))
        qtbot.waitUntil(lambda p=path: str(p) in window.notice_label.text(), timeout=10_000)
        assert "not an .npz archive" in window.notice_label.text()
        assert window.notice_label.property("level") == "error"
        assert window.session.state == "training" and loop.running and loop.arch == arch
        for action in (window.save_action, window.step_action, window.pause_action, window.open_action):
            assert action.isEnabled(), action.text()
        # The curves keep what they drew, and go on.
        n = panel.buffers["loss"].size
        assert panel.buffers["loss"].x[:2].tolist() == first_loss and panel.buffers["val_loss"].size >= 1
        qtbot.waitUntil(lambda n=n: panel.buffers["loss"].size > n, timeout=30_000)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    assert window.train_action.isEnabled() and window.save_action.isEnabled()
    window.save_checkpoint(str(tmp_path / "kept.npz"))  # the model trained so far is saved
    qtbot.waitUntil(lambda: "Saved checkpoint" in window.notice_label.text(), timeout=10_000)
    from convscope.train.checkpoint import load_checkpoint

    assert load_checkpoint(tmp_path / "kept.npz").step == loop.step


def test_save_refuses_non_finite_weights_with_a_message(qtbot, tmp_path, real_window) -> None:
    """Ctrl+S once wrote 288 NaNs without a word. Here a weight is made NaN in the paused
    loop (the training step never keeps one): Save says why and writes nothing."""
    import jax.numpy as jnp

    window, loop = real_window
    window.step_action.trigger()
    qtbot.waitUntil(lambda: loop.step == 1 and window.session.state == "paused", timeout=30_000)
    loop.params = {**loop.params, "logits": {**loop.params["logits"], "b": jnp.full((10,), jnp.nan)}}
    path = tmp_path / "nan.npz"
    window.save_checkpoint(str(path))
    qtbot.waitUntil(lambda: str(path) in window.notice_label.text(), timeout=10_000)
    assert "not saved: params/logits/b holds non-finite values" in window.notice_label.text()
    assert window.notice_label.property("level") == "error"
    assert not path.exists() and list(tmp_path.iterdir()) == []
    assert window.save_action.isEnabled() and window.session.state == "paused"
