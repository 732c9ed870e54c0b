"""``convscope train`` headless: a diverging run ends (status 1, the reason on stderr)
and keeps its last good weights in the run directory."""

from __future__ import annotations

import threading

import numpy as np

from convscope.cli import EXIT_DIVERGED, main
from convscope.train.checkpoint import load_checkpoint


def test_a_diverging_headless_run_exits_non_zero_and_keeps_the_last_good_weights(tmp_path, capsys):
    """Issue 11.19: the loop paused on divergence and waited forever for a Resume. SGD at
    learning rate 10 with weight decay 1 multiplies every kernel by −9 each step, so the
    weights overflow within ~40 steps whatever the data (an 8×8 set keeps it fast)."""
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8), y_train=np.arange(64) % 2)
    out = tmp_path / "run"
    argv = ["train", "--data", str(data), "--steps", "400", "--out", str(out), "--quiet",
            "--set", "optimizer=sgd", "--set", "learning_rate=10", "--set", "weight_decay=1",
            "--set", "blocks=1", "--set", "filters=2", "--set", "dense=0", "--set", "batch_size=16"]  # fmt: skip
    result: list[int] = []
    worker = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    worker.start()
    worker.join(timeout=90)
    assert not worker.is_alive(), "convscope train never returned after the loss diverged"
    assert result == [EXIT_DIVERGED] and EXIT_DIVERGED != 0
    err = capsys.readouterr().err
    assert "training paused and the last good weights restored" in err
    assert "training diverged" in err and "last_good.npz" in err
    assert not (out / "checkpoints" / "final.npz").exists()
    ckpt = load_checkpoint(out / "checkpoints" / "last_good.npz")
    assert 0 <= ckpt.step < 400
    leaves = [a for layer in (*ckpt.params.values(), *ckpt.state.values()) for a in layer.values()]
    assert leaves and all(np.all(np.isfinite(a)) for a in leaves)
    # The weights from before the loss exploded (it does within a few steps here), not the
    # finite wreck of the last chunk before the NaN (kernels of 1e6 and more).
    kernel = ckpt.params["conv1"]["w"]
    assert np.abs(kernel).max() < 10
