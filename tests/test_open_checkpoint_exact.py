"""File ▸ Open Checkpoint (the loop's Load command) brings the optimizer moments and
random streams back when the checkpoint holds them: training goes on exactly as the
loop that wrote it would have. A weights-only checkpoint still opens (optimizers afresh)."""

from __future__ import annotations

import dataclasses
import queue

import numpy as np

from convscope import events as ev
from convscope.config import TrainConfig
from convscope.train.checkpoint import load_checkpoint, save_checkpoint
from convscope.train.loop import TrainingLoop
from tests.test_train_loop import TINY, drain, small_mnist

CFG = TrainConfig(batch_size=32, eval_every=1000, log_every=1, dropout=0.25, optimizer="adam",
                  learning_rate=3e-3, augment=False)


def _losses_after(gen, commands, n: int) -> list[float]:
    losses = []
    for _ in range(n):
        commands.put(ev.Step())
        m, _ = drain(gen, ev.StepMetrics)
        losses.append(m.loss)
    return losses


def _trained(tmp_path, steps: int, weights_only: bool = False):
    loop = TrainingLoop(TINY, CFG, small_mnist())
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands)
    drain(gen, ev.Paused)
    _losses_after(gen, commands, steps)
    ckpt = loop.checkpoint()
    if weights_only:
        ckpt = dataclasses.replace(ckpt, resume=None)
    path = save_checkpoint(tmp_path / "c.npz", ckpt)
    return loop, commands, gen, path


def _opened(path):
    loop = TrainingLoop(TINY, CFG.replace(learning_rate=1e-2, optimizer="sgd"), small_mnist())
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands)
    drain(gen, ev.Paused)
    commands.put(ev.Load(str(path)))
    notice, _ = drain(gen, ev.Notice)
    drain(gen, ev.Paused)
    return loop, commands, gen, notice


def test_opening_a_checkpoint_with_optimizer_state_continues_exactly(tmp_path):
    a, ca, ga, path = _trained(tmp_path, 6)
    want = _losses_after(ga, ca, 4)  # the run that was never interrupted
    b, cb, gb, notice = _opened(path)
    assert b.restored_exactly and "continues exactly" in notice.message
    got = _losses_after(gb, cb, 4)
    np.testing.assert_array_equal(got, want)  # bit for bit: moments, dropout key, data order
    assert b.step == a.step == 10 and b.config == CFG


def test_a_weights_only_checkpoint_opens_with_fresh_optimizers(tmp_path):
    a, ca, ga, path = _trained(tmp_path, 6, weights_only=True)
    assert load_checkpoint(path).resume is None
    want = _losses_after(ga, ca, 4)
    b, cb, gb, notice = _opened(path)
    assert not b.restored_exactly and "afresh" in notice.message
    got = _losses_after(gb, cb, 4)
    assert b.step == 10 and got != want  # the moments were not carried over
