"""Where the training step's time goes on XLA:CPU: the real jitted chunk of steps run
under JAX's profiler, its XLA operations summed by kind over XLA's worker threads, and
the slowest ones named with the shape the optimized HLO gives them. Usage::

    python benchmarks/profile_step.py [--model cifar_tutorial] [--batch 128] [--calls 10]

Models are ``bench_training.py``'s (default, mnist_tutorial, cifar_tutorial);
augmentation off, as in the PyTorch comparison. Times are per call of
``STEPS_PER_CALL`` steps: each operation's time on XLA's worker threads, summed over
them. The events do not cover all of a step (on the CIFAR net, 141 of the 408 core-ms of
a call; work that Eigen hands to its pool outside an operation's event is the likely
rest), so the sums are a lower bound: compare an operation with the wall time per call. 2026-12-04, Intel Xeon 2 cores with AVX-512, CIFAR tutorial
net: 204 ms per call of 2 steps; the largest single operation, ~10 ms a step (as alone
in a microbenchmark), is a transpose putting conv1's activations batch-innermost
([C, H, W, N]) for conv2's weight gradient; all transposes together ~14% of the step.
"""

from __future__ import annotations

import argparse
import collections
import glob
import os
import re
import sys
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="cifar_tutorial", choices=("default", "mnist_tutorial", "cifar_tutorial"))
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--calls", type=int, default=10)
    ap.add_argument("--top", type=int, default=12, help="the slowest operations listed")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="convscope-profile-")
    dump = os.path.join(work, "hlo")  # the optimized HLO, for the operations' shapes
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_dump_to={dump} --xla_dump_hlo_pass_re=^$".strip()
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import jax
    from bench_training import index_rows, setup
    from jax.profiler import ProfileData

    import convscope  # noqa: F401  (its XLA flags join the ones above, before jax)

    b = setup(args.model, args.batch, augment=False)
    fns, idx, k = b.fns, index_rows(b, args.batch), b.k
    params, state, opt = b.params, b.state, b.opt

    def call(p, s, o):
        out = fns.train_chunk(p, s, o, b.x, b.y, idx, b.active, b.norm, b.hp, b.keys)
        return out[0], out[1], out[2], out[3]

    params, state, opt, loss = call(params, state, opt)  # compiled
    for _ in range(3):
        params, state, opt, loss = call(params, state, opt)
    jax.block_until_ready(loss)
    trace = os.path.join(work, "trace")
    with jax.profiler.trace(trace):
        t = time.perf_counter()
        for _ in range(args.calls):
            params, state, opt, loss = call(params, state, opt)
        jax.block_until_ready(loss)
        wall = (time.perf_counter() - t) / args.calls
    print(f"{args.model}, batch {args.batch}: {k * args.batch / wall:,.0f} examples/s under the profiler, "
          f"{1000 * wall:.1f} ms per call of {k} steps (wall)")

    ops: collections.Counter = collections.Counter()
    for plane in ProfileData.from_file(glob.glob(f"{trace}/**/*.xplane.pb", recursive=True)[0]).planes:
        for line in plane.lines:
            if line.name.startswith("tf_XLAEigen"):  # XLA's worker threads: one event per operation
                for event in line.events:
                    if not event.name.startswith("ThunkExecutor"):
                        ops[event.name] += event.duration_ns
    hlo_files = sorted(glob.glob(f"{dump}/*jit_train_chunk.cpu_after_optimizations.txt"))
    hlo = open(hlo_files[-1]).read() if hlo_files else ""

    def kind(name: str) -> str:
        head = name.split(".")[0]
        if "transpose" in head:
            return "transposes"
        if head.startswith("ynn"):
            return "YNNPACK fusions (dots, convolutions)"
        if head.startswith(("convolution", "dot")):
            return "convolutions and dots (Eigen)"
        return "elementwise and reductions"

    kinds: collections.Counter = collections.Counter()
    for name, ns in ops.items():
        kinds[kind(name)] += ns
    total = sum(kinds.values()) or 1
    print(f"\nTraced operations per call, summed over XLA's threads: {total / 1e6 / args.calls:.1f} ms "
          f"(a lower bound: see the docstring)")
    for name, ns in kinds.most_common():
        print(f"  {name:40s} {ns / 1e6 / args.calls:7.2f} ms  {100 * ns / total:5.1f}%")
    print(f"\nThe {args.top} slowest operations:")
    for name, ns in ops.most_common(args.top):
        m = re.search(r"%" + re.escape(name) + r" = (\S+) \w+\(([^)]*)\)", hlo)
        shape = f"{m.group(1)} <- {m.group(2)[:70]}" if m else ""
        print(f"  {ns / 1e6 / args.calls:7.2f} ms  {name:30s} {shape}")


if __name__ == "__main__":
    main()
