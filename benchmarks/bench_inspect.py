"""Latency from "a new snapshot arrived" to "the feature maps are ready to draw".

For each model: Inspector.run on one image with parameters the Inspector has not seen
in the previous call (host NumPy arrays, as a Snapshot carries them) plus map_grid (or
vector_grid for 1-D layers) for every tap — everything the Feature-maps panel needs
before it calls ``setImage``. Also timed apart: the forward pass alone, the grids
alone, and ``tile_filters`` for every conv layer (the Filters panel). Medians (and
90th percentiles) over ``--runs`` runs after a warm-up that includes compilation.

    python benchmarks/bench_inspect.py              # default and CIFAR-sized models
    python benchmarks/bench_inspect.py --cores 2    # pin to 2 CPUs first (Linux)

Target: under 50 ms on a 2-core CPU, map_grid included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def build_spec(name: str):
    from convscope.config import ArchSpec, ConvLayer

    if name == "default":
        return ArchSpec()
    if name == "cifar":  # 32×32×3, four 3×3×32 conv layers, a 2×2 max-pool after every second
        return ArchSpec(
            input_shape=(32, 32, 3),
            convs=(
                ConvLayer(32, 3, pool="none"),
                ConvLayer(32, 3),
                ConvLayer(32, 3, pool="none"),
                ConvLayer(32, 3),
            ),
        )
    raise ValueError(name)


def _stats(samples: list[float]) -> tuple[float, float]:
    ms = sorted(1000 * s for s in samples)
    return statistics.median(ms), ms[min(len(ms) - 1, int(0.9 * len(ms)))]


def measure(name: str, runs: int, warmup: int) -> dict:
    import jax
    import numpy as np

    from convscope.model.network import init
    from convscope.probes.inspect import Inspector
    from convscope.viz.tiles import map_grid, tile_filters, vector_grid

    arch = build_spec(name)
    rng = np.random.default_rng(0)
    # A few distinct host parameter sets, cycled, so every call transfers "new" weights.
    snapshots = []
    for seed in range(4):
        params, state = jax.device_get(init(arch, seed))
        snapshots.append((params, state))
    norm = np.array([[0.5] * arch.input_shape[2], [0.25] * arch.input_shape[2]], np.float32)
    image = rng.integers(0, 256, arch.input_shape, dtype=np.uint8)
    inspector = Inspector(arch)

    def grids(taps):
        return [map_grid(t) if t.ndim == 3 else vector_grid(t) for t in taps.values()]

    t0 = time.perf_counter()
    inspector.run(*snapshots[0], norm, image)
    compile_s = time.perf_counter() - t0
    for i in range(warmup):
        grids(inspector.run(*snapshots[i % 4], norm, image).taps)

    total, forward, grid, filters = [], [], [], []
    for i in range(runs):
        params, state = snapshots[i % 4]
        t0 = time.perf_counter()
        result = inspector.run(params, state, norm, image)
        t1 = time.perf_counter()
        grids(result.taps)
        t2 = time.perf_counter()
        for k in range(1, len(arch.convs) + 1):
            tile_filters(params[f"conv{k}"]["w"])
        t3 = time.perf_counter()
        total.append(t2 - t0)
        forward.append(t1 - t0)
        grid.append(t2 - t1)
        filters.append(t3 - t2)
    return {
        "model": name,
        "taps": len(result.taps),
        "compile_s": compile_s,
        "total": _stats(total),
        "forward": _stats(forward),
        "grids": _stats(grid),
        "filters": _stats(filters),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--cores", type=int, default=0, help="pin the process to the first N CPUs (Linux)")
    ap.add_argument("--models", nargs="+", default=["default", "cifar"], choices=["default", "cifar"])
    args = ap.parse_args()
    if args.cores and hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[: args.cores]
        os.sched_setaffinity(0, cpus)  # before XLA starts its thread pool
    import convscope  # noqa: F401  (sets XLA_FLAGS before jax is imported)

    jax = __import__("jax")

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"device {jax.devices()[0].platform}, {cores} CPU cores available, "
        f"median / p90 over {args.runs} runs (ms)"
    )
    header = (
        f"{'model':<8} {'taps':>4} {'compile s':>9}  {'snapshot→maps':>14}  {'forward':>12}  "
        f"{'map grids':>12}  {'filter tiles':>12}"
    )
    print(header)
    print("-" * len(header))
    for name in args.models:
        r = measure(name, args.runs, args.warmup)

        def cell(key: str, r: dict = r) -> str:
            med, p90 = r[key]
            return f"{med:6.2f} / {p90:5.2f}"

        print(
            f"{r['model']:<8} {r['taps']:>4} {r['compile_s']:>9.2f}  {cell('total'):>14}  "
            f"{cell('forward'):>12}  {cell('grids'):>12}  {cell('filters'):>12}"
        )


if __name__ == "__main__":
    main()
