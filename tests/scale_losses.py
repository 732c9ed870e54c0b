"""Run by tests/test_scale.py in a process of its own (XLA_FLAGS makes several CPU
devices; JAX reads it once, at start): the per-step losses of 50 training steps of a
tiny batch-norm model with dropout and augmentation on 1, 2 and 4 devices, as JSON.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 python tests/scale_losses.py DATA.npz
"""

from __future__ import annotations

import json
import sys

import numpy as np


def losses(data: str, devices: int, steps: int = 50) -> tuple[list[float], str, float, list]:
    from convscope.config import ArchSpec, TrainConfig
    from convscope.data.dataset import load_dataset
    from convscope.train.loop import TrainingLoop
    from convscope.train.parallel import describe
    from convscope.train.step import STEPS_PER_CALL

    ds = load_dataset(data, val_fraction=0.25, seed=0)
    arch = ArchSpec.uniform(blocks=1, filters=4, batch_norm=True, dense=(8,), input_shape=ds.image_shape,
                            num_classes=ds.num_classes)  # fmt: skip
    config = TrainConfig(batch_size=16, dropout=0.3, augment=True, seed=3)
    loop = TrainingLoop(arch, config, ds, devices=devices)
    loop.reinitialise()
    out, done = [], 0
    while done < steps:
        got, _acc, _ok, k = loop._dispatch(min(STEPS_PER_CALL, steps - done))  # noqa: SLF001
        out.append(np.asarray(got)[:k])
        done += k
    fns, real = loop.fns, loop.fns.eval_chunk
    eval_shards: set = set()

    def recording(params, state, x, *rest):
        eval_shards.update(tuple(s.data.shape[:1]) for s in x.addressable_shards)
        return real(params, state, x, *rest)

    fns.eval_chunk = recording
    val_loss, _ = loop.evaluate()
    fns.eval_chunk = real
    _carry, rows = loop._placed(np.zeros((STEPS_PER_CALL, 16), np.int32), copy=False)  # noqa: SLF001
    shards = sorted({tuple(s.data.shape) for s in rows.addressable_shards}) if devices > 1 else [rows.shape]
    return np.concatenate(out).tolist(), describe(loop.placement), val_loss, shards, sorted(eval_shards)


if __name__ == "__main__":
    from convscope.train.compile_cache import enable

    enable()  # as `convscope train` does: CONVSCOPE_COMPILE_CACHE, the test run's cache
    print(json.dumps({n: losses(sys.argv[1], n) for n in (1, 2, 4)}))
