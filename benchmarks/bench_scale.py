"""Data-parallel training throughput on 1, 2 and 4 devices (train/parallel.py), and two
processes through jax.distributed. On a CPU the devices are XLA's forced host devices
(XLA_FLAGS=--xla_force_host_platform_device_count=4) sharing the machine's cores, so the
figures measure what sharding costs, not a speed-up; on a GPU machine with several
GPUs the same script measures the scaling.

    python benchmarks/bench_scale.py [--batch 128] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def child(devices: int, batch: int, seconds: float) -> dict:
    import numpy as np

    from convscope.config import ArchSpec, TrainConfig
    from convscope.data import builtin_mnist
    from convscope.train.loop import TrainingLoop
    from convscope.train.parallel import describe
    from convscope.train.step import STEPS_PER_CALL

    ds = builtin_mnist()
    loop = TrainingLoop(ArchSpec(), TrainConfig(batch_size=batch), ds, devices=devices)
    loop.reinitialise()
    t0 = time.perf_counter()
    loop.warm_up()
    compile_s = time.perf_counter() - t0
    loop._dispatch(STEPS_PER_CALL)  # noqa: SLF001 — one call more, untimed
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        losses, *_ = loop._dispatch(STEPS_PER_CALL, first=False)  # noqa: SLF001 — as inside a chunk
        np.asarray(losses)
        steps += STEPS_PER_CALL
    rate = steps * batch / (time.perf_counter() - t0)
    return {"device": describe(loop.placement), "examples_per_s": rate, "compile_s": compile_s}


def run(devices: int, batch: int, seconds: float) -> dict:
    env = {**os.environ, "PYTHONPATH": ROOT}
    if "cpu" in os.environ.get("JAX_PLATFORMS", "cpu"):
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    out = subprocess.run([sys.executable, __file__, "--child", str(devices), "--batch", str(batch),
                          "--seconds", str(seconds)], env=env, capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.batch, args.seconds)))
        return
    print(f"default model, batch {args.batch}, load {os.getloadavg()[0]:.1f}")
    base = None
    for n in (1, 2, 4):
        r = run(n, args.batch, args.seconds)
        base = base or r["examples_per_s"]
        print(f"{r['device']:>10s}: {r['examples_per_s']:8,.0f} examples/s ({r['examples_per_s'] / base:.2f}× one "
              f"device), compile {r['compile_s']:.1f} s", flush=True)


if __name__ == "__main__":
    main()
