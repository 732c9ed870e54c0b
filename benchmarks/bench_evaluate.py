"""Throughput of a whole-split evaluation: ``predict_probs`` (the jitted forward in
fixed-size chunks) for a few chunk sizes, then the NumPy metrics on its output
(``evaluate_probs``, ``ClassRanking`` for one class, and ``at`` — what one move of the
threshold slider costs). Medians over ``--runs`` runs after a warm-up that compiles.

    python benchmarks/bench_evaluate.py                    # default and CIFAR-sized models
    python benchmarks/bench_evaluate.py --n 10000 --runs 3

Reference: PERFORMANCE.md's forward-only evaluation at batch 512 (MNIST-sized 22,848,
CIFAR-sized 5,590 images/s on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_spec(name: str):
    from convscope.config import ArchSpec, ConvLayer

    if name == "default":
        return ArchSpec()
    if name == "cifar":
        return ArchSpec(
            input_shape=(32, 32, 3),
            convs=(ConvLayer(32, 3, pool="none"), ConvLayer(32, 3), ConvLayer(32, 3, pool="none"), ConvLayer(32, 3)),
        )
    raise ValueError(name)


def _median(f, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(name: str, n: int, chunks: list[int], runs: int) -> None:
    import jax
    import numpy as np

    from convscope.model.network import init
    from convscope.probes.evaluate import ClassRanking, evaluate_probs, predict_probs

    arch = build_spec(name)
    params, state = jax.device_get(init(arch, 0))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, *arch.input_shape), dtype=np.uint8)
    labels = rng.integers(0, arch.num_classes, n).astype(np.int32)
    norm = np.stack([np.full(arch.input_shape[2], 0.5, np.float32), np.full(arch.input_shape[2], 0.25, np.float32)])
    probs = None
    for chunk in chunks:
        t0 = time.perf_counter()
        predict_probs(arch, params, state, norm, images[:chunk], chunk=chunk)  # compiles
        compile_s = time.perf_counter() - t0
        s = _median(lambda c=chunk: predict_probs(arch, params, state, norm, images, chunk=c), runs)
        print(f"{name:8s} chunk {chunk:4d}: {n / s:9,.0f} images/s ({1000 * s:7.1f} ms for {n:,}; "
              f"first call {compile_s:.2f} s)", flush=True)
        probs = predict_probs(arch, params, state, norm, images, chunk=chunk)
    m = _median(lambda: evaluate_probs(probs, labels), runs)
    r = _median(lambda: ClassRanking(probs, labels, 3), runs)
    ranking = ClassRanking(probs, labels, 3)
    a = _median(lambda: ranking.at(0.1), max(runs, 20))
    print(f"{name:8s} metrics: evaluate_probs {1000 * m:.2f} ms, ClassRanking {1000 * r:.2f} ms, "
          f"at(threshold) {1000 * a:.3f} ms", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="default,cifar")
    ap.add_argument("--n", type=int, default=4000, help="images per evaluation")
    ap.add_argument("--chunks", default="128,256,512")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--cores", type=int, default=0, help="pin to this many CPUs first (Linux)")
    args = ap.parse_args()
    if args.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(args.cores)))
    for name in args.models.split(","):
        measure(name, args.n, [int(c) for c in args.chunks.split(",")], args.runs)


if __name__ == "__main__":
    main()
