"""Deep visualization and saliency timings, headless.

For each model: synthetic images (activation maximization) for every channel of the
second conv block's activation, all channels in one batch vs one channel at a time;
Grad-CAM and SmoothGrad (50 samples) on one image. Compile time is reported apart
(first call minus a steady call). Each model runs in a fresh subprocess so that
compile times are honest and XLA flags are set before jax is imported. Usage::

    python benchmarks/bench_deepvis.py                    # default and CIFAR-tutorial nets
    python benchmarks/bench_deepvis.py --steps 64 --single 4

Targets (2 cores): a whole layer with the default regularizers < 2 s after compile;
Grad-CAM < 20 ms. Machine load is printed: on a shared machine the numbers are upper
bounds (compare ratios within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

MODELS = ("default", "cifar_tutorial")


def measure(name: str, layer: str, steps: int, single: int, reps: int) -> dict:
    import time

    import jax
    import numpy as np

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_training import build_spec

    from convscope.model import init
    from convscope.probes.deepvis import ActMaxSettings, activation_maximization, spatial_row
    from convscope.probes.saliency import saliency

    arch = build_spec(name)
    params, state = jax.device_get(init(arch, 0))
    channels = spatial_row(arch, layer).shape[2]
    s = ActMaxSettings(steps=steps)
    t = time.perf_counter()
    activation_maximization(arch, params, state, None, layer, s.replace(steps=1))
    first = time.perf_counter() - t
    batched, cpu = [], []
    for _ in range(reps):
        c = time.process_time()
        batched.append(activation_maximization(arch, params, state, None, layer, s).seconds)
        cpu.append(time.process_time() - c)
    per_step = float(np.median(batched)) / steps
    compile_s = first - per_step
    picked = list(range(min(single, channels)))
    activation_maximization(arch, params, state, None, layer, s.replace(steps=1), channels=[0])  # compile
    t = time.perf_counter()
    for c in picked:
        activation_maximization(arch, params, state, None, layer, s, channels=[c])
    single_s = (time.perf_counter() - t) / len(picked) * channels

    image = np.random.default_rng(0).integers(0, 256, arch.input_shape, dtype=np.uint8)
    out = {}
    for method, opts, n in (("gradcam", {}, 30), ("smoothgrad", {"samples": 50}, 5)):
        t = time.perf_counter()
        saliency(arch, params, state, None, image, method, **opts)
        first = time.perf_counter() - t
        times = []
        for _ in range(n):
            t = time.perf_counter()
            saliency(arch, params, state, None, image, method, **opts)
            times.append(time.perf_counter() - t)
        out[method] = float(np.median(times))
        out[method + "_compile"] = first - out[method]
    return {
        "model": name, "layer": layer, "channels": channels, "steps": steps,
        "batched_s": float(np.median(batched)), "batched_cpu_s": float(np.median(cpu)), "compile_s": compile_s,
        "single_s": single_s, "single_measured": len(picked), **out,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    ap.add_argument("--layer", default="act2", help="layer to synthesise images for (default act2)")
    ap.add_argument("--steps", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3, help="batched runs timed (median)")
    ap.add_argument("--single", type=int, default=8,
                    help="channels timed one at a time; the total is extrapolated to the whole layer")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    if args.child:
        import convscope  # noqa: F401  (sets XLA_FLAGS before jax is imported)

        print(json.dumps(measure(args.child, args.layer, args.steps, args.single, args.reps)))
        return
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'model':<15} {'layer':<6} {'ch':>3} {'steps':>5} {'batched s':>9} {'(cpu s)':>7} {'1-by-1 s':>9} "
          f"{'compile s':>9} {'gradcam ms':>10} {'(compile s)':>11} {'smoothgrad ms':>13} {'(compile s)':>11}")
    results = []
    for name in args.models:
        cmd = [sys.executable, __file__, "--child", name, "--layer", args.layer, "--steps", str(args.steps),
               "--single", str(args.single), "--reps", str(args.reps)]
        r = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"{r['model']:<15} {r['layer']:<6} {r['channels']:>3} {r['steps']:>5} {r['batched_s']:>9.2f} "
              f"{r['batched_cpu_s']:>7.2f} "
              f"{r['single_s']:>9.2f} {r['compile_s']:>9.2f} {1000 * r['gradcam']:>10.1f} "
              f"{r['gradcam_compile']:>11.2f} {1000 * r['smoothgrad']:>13.1f} {r['smoothgrad_compile']:>11.2f}",
              flush=True)
    print("1-by-1: one channel per run, extrapolated from the channels timed (--single); "
          "cpu s: process CPU time of the batched run (all threads), a load-independent bound")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
