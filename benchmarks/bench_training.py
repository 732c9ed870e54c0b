"""Training throughput (examples/s) of the real jitted train step, headless.

Runs each model in a fresh subprocess (XLA flags must be set before jax is imported)
and reports the median of several timing windows, plus compile time and forward-only
evaluation throughput. Usage::

    python benchmarks/bench_training.py            # default, tutorial MNIST, CIFAR nets
    python benchmarks/bench_training.py --ynn both # also compare the YNNPACK flag on/off
    python benchmarks/bench_training.py --torch /path/to/torch-venv/bin/python [--rounds 2]
        # side by side with PyTorch (benchmarks/bench_torch.py), alternating, augmentation
        # off on both sides; prints ConvScope / PyTorch-best per model and round

Reference (shared/PERFORMANCE.md, PyTorch CPU, 2 cores, batch 128): MNIST-sized
tutorial net 5,714 (NCHW) / 9,938 (channels_last); CIFAR-sized 1,277 / 1,346 examples/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from types import SimpleNamespace

MODELS = ("default", "mnist_tutorial", "cifar_tutorial")
PYTORCH = {"mnist_tutorial": 9938, "cifar_tutorial": 1346}


def build_spec(name: str):
    from convscope.config import ArchSpec, ConvLayer

    if name == "default":
        return ArchSpec()
    if name == "mnist_tutorial":  # conv 5×5×25, pool, conv 5×5×25, pool, conv 4×4×25, dense 50
        return ArchSpec(
            convs=(
                ConvLayer(25, 5, padding="valid"),
                ConvLayer(25, 5, padding="valid"),
                ConvLayer(25, 4, padding="valid", pool="none"),
            ),
            dense=(50,),
        )
    if name == "cifar_tutorial":  # Keras CIFAR-10 tutorial: conv3×3×32 ×4, two 2×2 pools, dense 256
        return ArchSpec(
            input_shape=(32, 32, 3),
            convs=(
                ConvLayer(32, 3, padding="same", pool="none"),
                ConvLayer(32, 3, padding="valid"),
                ConvLayer(32, 3, padding="same", pool="none"),
                ConvLayer(32, 3, padding="valid"),
            ),
            dense=(256,),
        )
    raise ValueError(name)


def setup(name: str, batch: int, augment: bool) -> SimpleNamespace:
    """The model's jitted steps, fresh weights and optimizer state, 4,096 random images on
    the device, and what a call of ``STEPS_PER_CALL`` steps takes besides the index rows."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from convscope.config import TrainConfig
    from convscope.model import init
    from convscope.train.step import STEPS_PER_CALL, build_steps, init_opt_states, live_hparams

    spec = build_spec(name)
    fns = build_steps(spec)
    params, state = init(spec, 0)
    h, w, c = spec.input_shape
    rng = np.random.default_rng(0)
    return SimpleNamespace(
        fns=fns, params=params, state=state, opt=init_opt_states(fns.optimizers, params),
        hp=live_hparams(TrainConfig(batch_size=batch, augment=augment)), rng=rng, k=STEPS_PER_CALL,
        x=jnp.asarray(rng.integers(0, 256, (4096, h, w, c), dtype=np.uint8)),
        y=jnp.asarray(rng.integers(0, spec.num_classes, 4096).astype(np.int32)),
        norm=jnp.asarray(np.array([[0.5] * c, [0.25] * c], np.float32)),
        keys=jax.random.split(jax.random.key(0), STEPS_PER_CALL), active=np.ones(STEPS_PER_CALL, bool),
    )  # fmt: skip


def index_rows(b: SimpleNamespace, batch: int):
    """One call's index rows: ``STEPS_PER_CALL`` random batches of the 4,096 images."""
    import numpy as np

    return np.stack([b.rng.permutation(4096)[:batch] for _ in range(b.k)]).astype(np.int32)


def measure(name: str, batch: int, windows: int, steps: int, augment: bool = True, devices: int = 1) -> dict:
    import time

    import jax
    import numpy as np

    from convscope.train.step import evaluate

    b = setup(name, batch, augment)
    fns, params, state, opt, hp, x, y, norm = b.fns, b.params, b.state, b.opt, b.hp, b.x, b.y, b.norm
    k, keys, active = b.k, b.keys, b.active
    calls = max(steps // k, 1)
    idx = [index_rows(b, batch) for _ in range(calls)]
    if devices > 1:  # the batch split over a data mesh of forced host devices (train/parallel.py)
        from convscope.train.parallel import Placement

        place = Placement.over(devices)
        params, state, opt, x, y, norm = place.replicate((params, state, opt, x, y, norm))
        idx = [place.split_rows(i) for i in idx]
    t = time.perf_counter()
    out = fns.train_chunk(params, state, opt, x, y, idx[0], active, norm, hp, keys)
    jax.block_until_ready(out)
    compile_s = time.perf_counter() - t
    params, state, opt = out[:3]
    rates = []
    for _ in range(windows):
        t = time.perf_counter()
        for i in range(calls):
            params, state, opt, loss, *_ = fns.train_chunk(params, state, opt, x, y, idx[i], active, norm, hp, keys)
        jax.block_until_ready(loss)
        rates.append(calls * k * batch / (time.perf_counter() - t))
    evaluate(fns, params, state, x[:512], y[:512], norm, chunk=512)
    t = time.perf_counter()
    for _ in range(5):
        evaluate(fns, params, state, x[:512], y[:512], norm, chunk=512)
    eval_rate = 5 * 512 / (time.perf_counter() - t)
    return {
        "model": name,
        "train_examples_per_s": float(np.median(rates)),
        "compile_s": compile_s,
        "eval_examples_per_s": eval_rate,
        "device": jax.devices()[0].platform,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "steps_per_call": k,
        "devices": devices,
    }


def run_child(name: str, ynn: str, args: argparse.Namespace) -> dict:
    env = dict(os.environ)
    env["CONVSCOPE_YNN"] = ynn
    if args.steps_per_call:
        env["CONVSCOPE_STEPS_PER_CALL"] = str(args.steps_per_call)
    cmd = [sys.executable, __file__, "--child", name, "--batch", str(args.batch),
           "--windows", str(args.windows), "--steps", str(args.steps)]
    if args.devices > 1:
        cmd += ["--devices", str(args.devices)]
        env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + f" --xla_force_host_platform_device_count={args.devices}").strip()
    if args.torch:
        cmd.append("--no-augment")  # like for like: the PyTorch twin does not augment
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--ynn", choices=("auto", "on", "off", "both"), default="auto",
                    help="YNNPACK-convolution work-around: auto (ConvScope's choice), on, off, both")
    ap.add_argument("--steps-per-call", type=int, default=0,
                    help="unrolled training steps per jitted call (default: ConvScope's, 2)")
    ap.add_argument("--devices", type=int, default=1,
                    help="split each batch over this many devices (on a CPU: forced host devices)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--no-augment", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--torch", metavar="PYTHON", help="a Python with torch: compare side by side")
    ap.add_argument("--rounds", type=int, default=2, help="with --torch: alternating rounds")
    args = ap.parse_args()
    if args.child:
        import convscope  # noqa: F401  (sets XLA_FLAGS before jax is imported)

        print(json.dumps(measure(args.child, args.batch, args.windows, args.steps, not args.no_augment, args.devices)))
        return
    if args.torch:
        compare(args)
        return
    modes = ("on", "off") if args.ynn == "both" else (args.ynn,)
    results = []
    print(f"{'model':<16} {'ynn':<5} {'train ex/s':>11} {'vs PyTorch':>10} {'compile s':>9} {'eval ex/s':>10}")
    for name in args.models:
        for mode in modes:
            r = run_child(name, mode, args)
            r["ynn"] = mode
            results.append(r)
            ref = PYTORCH.get(name)
            ratio = f"{r['train_examples_per_s'] / ref:.2f}×" if ref else "—"
            print(f"{name:<16} {mode:<5} {r['train_examples_per_s']:>11,.0f} {ratio:>10} "
                  f"{r['compile_s']:>9.2f} {r['eval_examples_per_s']:>10,.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def compare(args: argparse.Namespace) -> None:
    """ConvScope and PyTorch alternating, model by model, ``args.rounds`` times."""
    here = os.path.dirname(os.path.abspath(__file__))
    print(f"batch {args.batch}, {args.windows} windows of {args.steps} steps, load {os.getloadavg()[0]:.1f}")
    print(f"{'round':<6} {'model':<16} {'ConvScope':>10} {'PyTorch NCHW':>13} {'channels_last':>14} {'ratio':>6}")
    for r in range(args.rounds):
        for name in args.models:
            ours = run_child(name, args.ynn, args)["train_examples_per_s"]
            out = subprocess.run([args.torch, os.path.join(here, "bench_torch.py"), name, str(args.batch),
                                  str(args.windows), str(args.steps)], capture_output=True, text=True, check=True)
            theirs = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{r + 1:<6} {name:<16} {ours:>10,.0f} {theirs['nchw']:>13,.0f} {theirs['channels_last']:>14,.0f} "
                  f"{ours / theirs['best']:>5.2f}×", flush=True)


if __name__ == "__main__":
    main()
