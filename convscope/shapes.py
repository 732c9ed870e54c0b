"""Shape, parameter-count and receptive-field inference from an ArchSpec.

Pure Python, no JAX: the GUI's Architecture panel and ArchSpec validation use it
without touching the model. The formulas are the ones the tutorials teach:

* convolution output  ``O = floor((N - F + 2P) / S) + 1``; "same" padding pads
  ``F - 1`` in total (the extra pixel at the bottom/right when ``F`` is even), so
  ``O = ceil(N / S)``;
* pooling with window ``P`` and stride ``P`` (non-overlapping): ``O = floor(N / P)``;
* conv parameters ``F·F·D·K + K``; dense ``in·out + out``; batch norm ``2K`` trainable
  (plus ``2K`` running statistics that are not trained);
* receptive field ``r' = r + (F - 1)·j``, jump ``j' = j·S``.

The layer names produced here are the names of the model's taps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from convscope.config import ArchSpec


@dataclass(frozen=True)
class LayerInfo:
    """One row of the architecture table."""

    name: str
    kind: str  # input, conv, bn, act, pool, flatten, dense, dropout, logits
    shape: tuple[int, ...]  # output shape without the batch axis (H, W, C) or (units,)
    params: int  # trainable parameters
    receptive_field: int  # in input pixels, along one side (0 for dense layers)
    detail: str  # e.g. "3×3, stride 1, same (P=1)"


def same_padding(kernel: int) -> tuple[int, int]:
    """(before, after) padding of a "same" convolution: F - 1 in total."""
    total = kernel - 1
    return total // 2, total - total // 2


def conv_output_size(n: int, kernel: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(n / stride)
    return (n - kernel) // stride + 1


def layer_table(spec: ArchSpec) -> list[LayerInfo]:
    """Every layer of ``spec`` in forward order; raises ValueError if a map vanishes."""
    h, w, c = spec.input_shape
    rf, jump = 1, 1
    rows = [LayerInfo("input", "input", (h, w, c), 0, 1, "image")]
    for i, conv in enumerate(spec.convs, start=1):
        f, s = conv.kernel, conv.stride
        if conv.padding == "valid" and (h < f or w < f):
            raise ValueError(
                f"conv block {i}: a {f}×{f} kernel does not fit the {h}×{w} input map "
                "with valid padding; use fewer blocks, a smaller kernel or 'same' padding"
            )
        h = conv_output_size(h, f, s, conv.padding)
        w = conv_output_size(w, f, s, conv.padding)
        rf += (f - 1) * jump
        jump *= s
        pad = f"P={same_padding(f)[0]}" if f % 2 else "P={}+{}".format(*same_padding(f))
        pad_txt = f"same ({pad})" if conv.padding == "same" else "valid (P=0)"
        params = f * f * c * conv.filters + conv.filters
        c = conv.filters
        rows.append(LayerInfo(f"conv{i}", "conv", (h, w, c), params, rf, f"{f}×{f}, stride {s}, {pad_txt}"))
        if spec.batch_norm:
            rows.append(LayerInfo(f"bn{i}", "bn", (h, w, c), 2 * c, rf, "batch norm"))
        rows.append(LayerInfo(f"act{i}", "act", (h, w, c), 0, rf, spec.activation))
        if conv.pool != "none" and conv.pool_size > 1:
            p = conv.pool_size
            if h < p or w < p:
                raise ValueError(
                    f"conv block {i}: the {h}×{w} map is smaller than the {p}×{p} pooling window; "
                    "use fewer blocks, a smaller pool or stride, or 'same' padding"
                )
            h, w = h // p, w // p
            rf += (p - 1) * jump
            jump *= p
            rows.append(LayerInfo(f"pool{i}", "pool", (h, w, c), 0, rf, f"{conv.pool} {p}×{p}, stride {p}"))
    units = h * w * c
    rows.append(LayerInfo("flatten", "flatten", (units,), 0, 0, f"{h}·{w}·{c}"))
    for j, width in enumerate(spec.dense, start=1):
        rows.append(LayerInfo(f"dense{j}", "dense", (width,), units * width + width, 0, "fully connected"))
        rows.append(LayerInfo(f"dense{j}_act", "act", (width,), 0, 0, spec.activation))
        units = width
    k = spec.num_classes
    rows.append(LayerInfo("logits", "logits", (k,), units * k + k, 0, "fully connected"))
    return rows


def total_params(spec: ArchSpec) -> int:
    return sum(row.params for row in layer_table(spec))


def param_shapes(spec: ArchSpec) -> tuple[dict[str, dict[str, tuple[int, ...]]], dict[str, dict[str, tuple[int, ...]]]]:
    """The shapes of ``model.init(spec)``'s parameters and batch-norm state, by layer and
    name, without building them (so a file's arrays can be checked before any is read)."""
    params: dict[str, dict[str, tuple[int, ...]]] = {}
    state: dict[str, dict[str, tuple[int, ...]]] = {}
    d = spec.input_shape[2]
    for i, conv in enumerate(spec.convs, start=1):
        f, k = conv.kernel, conv.filters
        params[f"conv{i}"] = {"w": (f, f, d, k), "b": (k,)}
        if spec.batch_norm:
            params[f"bn{i}"] = {"gamma": (k,), "beta": (k,)}
            state[f"bn{i}"] = {"mean": (k,), "var": (k,)}
        d = k
    units = next(row.shape[0] for row in layer_table(spec) if row.kind == "flatten")
    for j, width in enumerate(spec.dense, start=1):
        params[f"dense{j}"] = {"w": (units, width), "b": (width,)}
        units = width
    params["logits"] = {"w": (units, spec.num_classes), "b": (spec.num_classes,)}
    return params, state


def activation_values(spec: ArchSpec) -> int:
    """Values every layer outputs for one example (the input included): what a forward
    pass keeps per example for the backward pass, and what the panels' taps hold."""
    return sum(math.prod(row.shape) for row in layer_table(spec))


# Float32 copies of the weights that training holds: weights, gradients, the update,
# and the optimizer states kept for every optimizer a slider can switch to (momentum 1,
# Adam 2, RMSprop 1 and its momentum 1).
PARAM_COPIES = 8
# Per example in a batch: every layer's output and its gradient.
ACTIVATION_COPIES = 2


def training_memory_bytes(spec: ArchSpec, batch_size: int) -> int:
    """An estimate of the memory (bytes, float32) training ``spec`` on batches of
    ``batch_size`` needs: ``4 · (8 · parameters + 2 · activation values · batch)``.
    Exact integers, so an absurd architecture gives an absurd number, not an overflow."""
    p, s = param_shapes(spec)
    weights = sum(math.prod(shape) for tree in (p, s) for leaves in tree.values() for shape in leaves.values())
    return 4 * (PARAM_COPIES * weights + ACTIVATION_COPIES * activation_values(spec) * batch_size)
