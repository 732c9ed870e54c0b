"""Faults around checkpoints and divergence, on the real engine (tiny model, 512 digits):
a checkpoint that fails to open after its checks leaves the running model as it was;
non-finite weights are never saved; the weights restored after divergence are finite;
a blow-up that stays finite is a warning."""

from __future__ import annotations

import queue

import numpy as np
import pytest
from test_train_loop import TINY, drain, make_loop, small_mnist  # noqa: I001

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.train.checkpoint import load_checkpoint, save_checkpoint
from convscope.train.loop import TrainingLoop


@pytest.mark.parametrize("fault", ["reading", "compiling"])
def test_a_checkpoint_that_fails_to_open_leaves_the_running_model(tmp_path, monkeypatch, fault) -> None:
    other = TrainingLoop(ArchSpec(convs=(ConvLayer(filters=6, kernel=5),), dense=(8,)), TrainConfig(batch_size=32),
                         small_mnist())
    other.reinitialise()
    path = str(save_checkpoint(tmp_path / "other.npz", other.checkpoint()))

    loop = make_loop()
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands, start_paused=False)
    m, _ = drain(gen, ev.StepMetrics)
    drain(gen, ev.StepMetrics)
    params, step = loop.params, loop.step

    def out_of_memory(*_args) -> None:  # what compiling a model too large for the device raises
        raise RuntimeError("RESOURCE_EXHAUSTED: Out of memory while trying to allocate")

    def reader_bug(*_args) -> None:  # np.load once returned a .npy's array: a TypeError
        raise TypeError("'numpy.ndarray' object does not support the context manager protocol")

    if fault == "compiling":
        monkeypatch.setattr(loop, "warm_up", out_of_memory)
    else:
        monkeypatch.setattr("convscope.train.restore.load_checkpoint", reader_bug)
    commands.put(ev.Load(path))
    notice, seen = drain(gen, ev.Notice)
    assert notice.level == "error" and path in notice.message
    assert ("RESOURCE_EXHAUSTED" if fault == "compiling" else "TypeError") in notice.message
    assert not any(isinstance(e, ev.Started | ev.Paused) for e in seen)  # no new model announced
    assert all(e.arch == TINY for e in seen if isinstance(e, ev.Snapshot))  # the running one's, if any
    assert loop.arch == TINY and loop.params is params and loop.step == step and loop.running
    after, _ = drain(gen, ev.StepMetrics)  # training goes on where it was
    assert after.step > step
    commands.put(ev.Stop())
    drain(gen, ev.Finished)


@pytest.mark.parametrize("where", ["params/dense1/w", "state/bn1/var", "norm"])
def test_non_finite_weights_are_never_saved(tmp_path, where) -> None:
    from hostile_checkpoints import TINY as BN_TINY
    from hostile_checkpoints import good_arrays

    from convscope.train.checkpoint import Checkpoint, CheckpointError

    arrays = good_arrays(BN_TINY)
    arrays[where] = arrays[where].copy()
    arrays[where].flat[-1] = np.nan if where != "norm" else np.inf
    tree: dict = {"params": {}, "state": {}}
    for key, value in arrays.items():
        if key.count("/") == 2:
            prefix, layer, name = key.split("/")
            tree[prefix].setdefault(layer, {})[name] = value
    ckpt = Checkpoint(BN_TINY, TrainConfig(), tree["params"], tree["state"], 5, arrays["norm"])
    with pytest.raises(CheckpointError, match=rf"not saved: {where} holds non-finite values"):
        save_checkpoint(tmp_path / "bad.npz", ckpt)
    assert list(tmp_path.iterdir()) == []
    arrays[where].flat[-1] = 0.5  # the same checkpoint with finite values saves and reopens
    assert load_checkpoint(save_checkpoint(tmp_path / "good.npz", ckpt)).step == 5
