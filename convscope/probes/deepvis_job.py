"""The Deep-visualization panel's computation: what a request is, and the ProbeRunner
job that answers it (top-k patches first, reported at once, then activation
maximization with its steps reported). Qt-free: the ProbeContext is probes.jobs'."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope import events as ev
from convscope.probes.deepvis import ActMaxResult, ActMaxSettings, activation_maximization, spatial_layers
from convscope.probes.jobs import Job, ProbeContext
from convscope.probes.topk import TopK, top_k_patches
from convscope.shapes import layer_table


@dataclass(frozen=True)
class DeepVisRequest:
    """What one computation is for; equal requests need no recomputation."""

    generation: int  # counts the session's model starts: a reset at step 0 is new
    step: int
    layer: str
    settings: ActMaxSettings
    k: int


@dataclass(frozen=True)
class DeepVisResult:
    request: DeepVisRequest
    topk: TopK
    actmax: ActMaxResult


def deepvis_job(snapshot: ev.Snapshot, request: DeepVisRequest, images: np.ndarray) -> Job:
    """Top-k patches (reported as soon as found), then activation maximization."""

    def job(ctx: ProbeContext) -> DeepVisResult | None:
        a, p, s, n = snapshot.arch, snapshot.params, snapshot.state, snapshot.norm
        topk = top_k_patches(a, p, s, n, request.layer, images, request.k, should_stop=ctx.should_stop)
        if topk is None:
            return None
        ctx.report(("topk", topk))
        actmax = activation_maximization(
            a, p, s, n, request.layer, request.settings, should_stop=ctx.should_stop,
            progress=lambda i, total: ctx.report(("steps", i, total)),
        )  # fmt: skip
        return None if actmax is None else DeepVisResult(request, topk, actmax)

    return job


def map_layers(arch: Any) -> dict[str, tuple[int, ...]]:
    """Spatial layers (with an (H, W, C) map) and their shapes, forward order."""
    shapes = {row.name: row.shape for row in layer_table(arch)}
    return {n: shapes[n] for n in spatial_layers(arch) if len(shapes[n]) == 3}


def default_layer(layers: list[str]) -> str:
    """The last conv block's activation: its channels see the most of the image (the
    first layer's 3×3 patches say little); the last layer of all if there is none."""
    acts = [n for n in layers if n.startswith("act")]
    return acts[-1] if acts else (layers[-1] if layers else "")
