"""The three convolutions of a training step, layer by layer: forward, input gradient
and weight gradient of every conv layer of ``bench_training.py``'s models, timed alone
on XLA:CPU (the layer function ConvScope trains with, ``convscope.model.layers.conv2d``,
differentiated by JAX) and, with ``--torch PYTHON``, by PyTorch on the same shapes
(``aten.convolution_backward``, channels_last, its faster layout here). Each side's
arithmetic rate is put beside the machine's: a 2048² float32 matmul. Usage::

    python benchmarks/conv_parts.py [--models cifar_tutorial] [--batch 128]
        [--torch /path/to/torch-venv/bin/python]

What it showed (2026-12-04, Intel Xeon, 2 cores, AVX-512): the CIFAR net's second conv
(128×32×32×32 → 30×30×32) takes JAX 10.2 / 12.8 / 30.7 ms (fwd / dx / dw; 208 / 166 /
68 GFLOPS) and PyTorch 7.7 / 8.7 / 8.6 ms (277 / 245 / 247 GFLOPS), with the matmul at
240 (XLA) and 291 (PyTorch) GFLOPS. The weight gradients are XLA's slow part (59–99 GFLOPS
on every layer of the three nets but the first, PyTorch 170–261); the convolutions of a
CIFAR step take JAX 88 ms, PyTorch 38 ms, of whole steps of ~120 and ~83 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

MATMUL = 2048


def conv_shapes(model: str, batch: int) -> list[dict]:
    """Every conv layer of ``model``: its input (N, H, W, C), kernel, stride, padding, filters."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_training import build_spec

    from convscope.shapes import layer_table

    spec = build_spec(model)
    rows, convs, out = layer_table(spec), iter(spec.convs), []
    for prev, row in zip(rows, rows[1:], strict=False):
        if row.kind == "conv":
            conv = next(convs)
            out.append(dict(layer=row.name, input=(batch, *prev.shape), kernel=conv.kernel, stride=conv.stride,
                            padding=conv.padding, filters=conv.filters, output=(batch, *row.shape)))  # fmt: skip
    return out


def flops(layer: dict) -> float:
    n, h, w, k = layer["output"]
    return 2.0 * n * h * w * k * layer["kernel"] ** 2 * layer["input"][3]


def timed(fn, repeat: int) -> float:
    """Median milliseconds of ``fn()`` (which returns only when its work is done)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1e3


def jax_side(layers: list[dict], repeat: int) -> dict:
    import jax
    import jax.numpy as jnp

    a = jnp.ones((MATMUL, MATMUL), jnp.float32)
    mm = jax.jit(lambda a: a @ a)
    return {"matmul_ms": timed(lambda: mm(a).block_until_ready(), repeat),
            "layers": [jax_layer(layer, repeat) for layer in layers]}  # fmt: skip


def jax_layer(layer: dict, repeat: int) -> dict:
    import jax
    import jax.numpy as jnp

    from convscope.model.layers import conv2d

    n, h, w, c = layer["input"]
    f, s, pad, k = layer["kernel"], layer["stride"], layer["padding"], layer["filters"]
    x = jax.random.normal(jax.random.key(0), (n, h, w, c))
    wt = jax.random.normal(jax.random.key(1), (f, f, c, k)) * 0.1
    b = jnp.zeros((k,))
    g = jnp.ones(layer["output"], jnp.float32)
    fwd = jax.jit(lambda x, wt: conv2d(x, wt, b, s, pad))
    dx = jax.jit(lambda x, wt, g: jax.vjp(lambda x: conv2d(x, wt, b, s, pad), x)[1](g)[0])
    dw = jax.jit(lambda x, wt, g: jax.vjp(lambda wt: conv2d(x, wt, b, s, pad), wt)[1](g)[0])
    return {
        "fwd": timed(lambda: fwd(x, wt).block_until_ready(), repeat),
        "dx": timed(lambda: dx(x, wt, g).block_until_ready(), repeat),
        "dw": timed(lambda: dw(x, wt, g).block_until_ready(), repeat),
    }


def torch_side(layers: list[dict], repeat: int) -> dict:  # runs in the torch venv: no ConvScope
    import torch

    a = torch.ones(MATMUL, MATMUL)
    return {"matmul_ms": timed(lambda: a @ a, repeat), "layers": [torch_layer(layer, repeat) for layer in layers]}


def torch_layer(layer: dict, repeat: int) -> dict:
    import torch

    cl = torch.channels_last
    n, h, w, c = layer["input"]
    f, s, k = layer["kernel"], layer["stride"], layer["filters"]
    x = torch.randn(n, c, h, w)
    if layer["padding"] == "same":  # as ConvScope pads it: F - 1 in all, the extra one after
        lo, hi = (f - 1) // 2, f - 1 - (f - 1) // 2
        x = torch.nn.functional.pad(x, (lo, hi, lo, hi))
    x = x.contiguous(memory_format=cl)
    wt = (torch.randn(k, c, f, f) * 0.1).contiguous(memory_format=cl)
    no, ho, wo, _ = layer["output"]
    g = torch.ones(no, k, ho, wo).contiguous(memory_format=cl)
    args = (None, (s, s), (0, 0), (1, 1), False, (0, 0), 1)
    bwd = torch.ops.aten.convolution_backward
    with torch.no_grad():
        return {
            "fwd": timed(lambda: torch.nn.functional.conv2d(x, wt, stride=s), repeat),
            "dx": timed(lambda: bwd(g, x, wt, *args, (True, False, False)), repeat),
            "dw": timed(lambda: bwd(g, x, wt, *args, (False, True, False)), repeat),
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["default", "mnist_tutorial", "cifar_tutorial"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--torch", metavar="PYTHON", help="a Python with torch: time its convolutions too")
    ap.add_argument("--torch-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_child:  # the shapes come as JSON; the times go back as one JSON line
        print(json.dumps(torch_side(json.loads(args.torch_child), args.repeat)))
        return

    import convscope  # noqa: F401  (its XLA flags, before jax)

    for model in args.models:
        layers = conv_shapes(model, args.batch)
        sides = {"JAX": jax_side(layers, args.repeat)}
        if args.torch:
            cmd = [args.torch, os.path.abspath(__file__), "--repeat", str(args.repeat), "--torch-child", json.dumps(layers)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            sides["PyTorch"] = json.loads(out.strip().splitlines()[-1])
        print(f"\n{model}, batch {args.batch}: ms (GFLOPS)")
        for side, r in sides.items():
            print(f"  {side}: {MATMUL}² matmul {2 * MATMUL**3 / r['matmul_ms'] / 1e6:.0f} GFLOPS")
        print(f"  {'layer':6s} {'input':16s} {'side':8s} {'forward':>14s} {'input grad':>14s} {'weight grad':>14s}")
        for i, layer in enumerate(layers):
            fl = flops(layer)
            for side, r in sides.items():
                t = r["layers"][i]
                cells = " ".join(f"{t[p]:6.2f} ({fl / t[p] / 1e6:4.0f})" for p in ("fwd", "dx", "dw"))
                shape = "×".join(map(str, layer["input"]))
                print(f"  {layer['layer']:6s} {shape:16s} {side:8s} {cells}")
        for side, r in sides.items():  # a step needs no input gradient of the first layer
            t = r["layers"]
            total = sum(p["fwd"] + p["dw"] for p in t) + sum(p["dx"] for p in t[1:])
            print(f"  {side}: a training step's convolutions {total:.1f} ms")


if __name__ == "__main__":
    main()
