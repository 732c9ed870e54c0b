"""Loss-landscape grid speed against the model's plain evaluation throughput, headless.

For each model (default, MNIST tutorial, CIFAR tutorial; see bench_training.py) and
evaluation batch (256, 512 examples), in a fresh subprocess (XLA flags must be set
before jax is imported): the plain evaluation throughput on the same batch (the app's
jitted ``eval_chunk``, async-dispatched calls), then the wall time of 11×11, 21×21 and
51×51 grids with the "loop" (one jitted call per point) and "batched" (vmap over a few
points per call) strategies, compilation excluded (reported apart). Throughput of a
grid = examples × points / s; target ≥ 90% of plain evaluation, and the default 11×11
grid on 256 examples for the default model under 2 s on 2 cores. "CPU s" is the process
CPU time of the grid: on a busy machine, CPU s / cores estimates the wall time on an
idle one. Usage::

    python benchmarks/bench_landscape.py            # everything (minutes on 2 cores)
    python benchmarks/bench_landscape.py --quick    # default model, 256 examples, 11×11
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's convscope, not an installed one
sys.path.insert(0, str(ROOT / "benchmarks"))

MODELS = ("default", "mnist_tutorial", "cifar_tutorial")


def plain_eval_rate(spec, params, state, x, y, norm, seconds: float) -> float:
    """Examples/s of the app's own jitted evaluation on this batch (median of 3 windows)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from convscope.train.step import build_steps

    fns = build_steps(spec)
    tree = lambda t: {k: {n: jnp.asarray(v) for n, v in d.items()} for k, d in t.items()}  # noqa: E731
    p, s = tree(params), tree(state)
    xd, yd, nd = jnp.asarray(x), jnp.asarray(y), jnp.asarray(norm)
    valid = jnp.ones(len(x), jnp.float32)
    t = time.perf_counter()
    jax.block_until_ready(fns.eval_chunk(p, s, xd, yd, valid, nd))
    per_call = max(time.perf_counter() - t, 1e-4)  # includes compile: only sizes the windows
    t = time.perf_counter()
    jax.block_until_ready(fns.eval_chunk(p, s, xd, yd, valid, nd))
    per_call = max(time.perf_counter() - t, 1e-4)
    calls = max(2, int(seconds / 3 / per_call))
    rates = []
    for _ in range(3):
        t = time.perf_counter()
        outs = [fns.eval_chunk(p, s, xd, yd, valid, nd) for _ in range(calls)]
        jax.block_until_ready(outs)
        rates.append(calls * len(x) / (time.perf_counter() - t))
    return float(np.median(rates))


def measure(name: str, examples: list[int], resolutions: list[int], strategies: list[str],
            batch_points: int, eval_seconds: float) -> list[dict]:
    import jax
    import numpy as np
    from bench_training import build_spec

    from convscope.model import init
    from convscope.probes.landscape import grid_axis, random_directions
    from convscope.probes.landscape_eval import LandscapeEvaluator, auto_strategy
    from convscope.train.step import to_host

    spec = build_spec(name)
    params, state = (to_host(t) for t in init(spec, 0))
    dirs = random_directions(params, 0)
    h, w, c = spec.input_shape
    rng = np.random.default_rng(0)
    norm = np.array([[0.5] * c, [0.25] * c], np.float32)
    rows = []
    for n in examples:
        x = rng.integers(0, 256, (n, h, w, c), dtype=np.uint8)
        y = rng.integers(0, spec.num_classes, n).astype(np.int32)
        plain = plain_eval_rate(spec, params, state, x, y, norm, eval_seconds)
        for strategy in strategies:
            ev = LandscapeEvaluator(spec, params, state, x, y, norm, dirs, strategy=strategy,
                                    batch_points=batch_points, chunk=max(examples))
            t = time.perf_counter()
            ev.point(0.1, 0.2)
            compile_s = time.perf_counter() - t
            for res in resolutions:
                axis = grid_axis(res, 1.0)
                cpu = time.process_time()
                grid = ev.grid(axis, axis)
                cpu = time.process_time() - cpu
                rate = grid.n_done * n / grid.seconds
                rows.append({
                    "model": name, "examples": n, "strategy": strategy, "resolution": res,
                    "seconds": grid.seconds, "grid_examples_per_s": rate, "plain_eval_examples_per_s": plain,
                    "ratio": rate / plain, "compile_s": compile_s, "cpu_s": cpu, "batch_points": ev.batch_points,
                    "backend": jax.default_backend(), "auto": auto_strategy(),
                    "xla_flags": os.environ.get("XLA_FLAGS", ""),
                })
                print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--examples", nargs="+", type=int, default=[256, 512])
    ap.add_argument("--resolutions", nargs="+", type=int, default=[11, 21, 51])
    ap.add_argument("--strategies", nargs="+", default=["loop", "batched"], choices=("loop", "batched"))
    ap.add_argument("--batch-points", type=int, default=4, help="points per call of the batched strategy")
    ap.add_argument("--eval-seconds", type=float, default=3.0, help="time spent measuring plain evaluation")
    ap.add_argument("--quick", action="store_true", help="default model, 256 examples, 11×11 only")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.quick:
        args.models, args.examples, args.resolutions, args.eval_seconds = ["default"], [256], [11], 1.5
    if args.child:
        import convscope  # noqa: F401  (sets XLA_FLAGS before jax is imported)

        measure(args.child, args.examples, args.resolutions, args.strategies, args.batch_points,
                args.eval_seconds)
        return
    results = []
    print(f"{'model':<15} {'N':>4} {'strategy':<8} {'grid':>6} {'seconds':>8} {'grid ex/s':>10} "
          f"{'eval ex/s':>10} {'ratio':>6} {'compile s':>9} {'CPU s':>7}")
    for name in args.models:
        cmd = [sys.executable, __file__, "--child", name, "--examples", *map(str, args.examples),
               "--resolutions", *map(str, args.resolutions), "--strategies", *args.strategies,
               "--batch-points", str(args.batch_points), "--eval-seconds", str(args.eval_seconds)]
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT) as proc:
            assert proc.stdout is not None
            for raw in proc.stdout:
                r = json.loads(raw)
                results.append(r)
                grid = f"{r['resolution']}×{r['resolution']}"
                print(f"{r['model']:<15} {r['examples']:>4} {r['strategy']:<8} {grid:>6} {r['seconds']:>8.2f} "
                      f"{r['grid_examples_per_s']:>10,.0f} {r['plain_eval_examples_per_s']:>10,.0f} "
                      f"{r['ratio']:>6.2f} {r['compile_s']:>9.2f} {r['cpu_s']:>7.2f}", flush=True)
        if proc.returncode:
            sys.exit(f"bench_landscape: the {name} run failed (exit {proc.returncode})")
    if results:
        print(f"backend {results[0]['backend']}; auto strategy there: {results[0]['auto']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
