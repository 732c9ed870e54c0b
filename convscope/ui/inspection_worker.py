"""The inspection controller's jobs (see ui/inspection.py), for its two ProbeRunners:
one for the inspected image (~2 ms), one for the validation batch's statistics
(0.1–0.4 s), so that the image the user is looking at never waits behind a batch. Each
job carries the model generation it was asked for, so the controller can drop what an
older model computed; each runner keeps its own Inspector per architecture (the jit
cache is shared)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope import events as ev
from convscope.config import ArchSpec
from convscope.probes.batch_stats import batch_stats


@dataclass(frozen=True)
class Job:
    generation: int
    snapshot: ev.Snapshot
    image: np.ndarray | None = None  # one image to inspect, or None
    batch: np.ndarray | None = None  # validation batch for statistics, or None


@dataclass(frozen=True)
class Result:
    generation: int
    step: int
    arch: ArchSpec
    image: np.ndarray
    inspection: Any  # probes.inspect.Inspection


class Inspectors:
    """One Inspector at a time, for the architecture of the latest job (used by one
    runner's thread only)."""

    def __init__(self) -> None:
        self._by_arch: dict[ArchSpec, Any] = {}

    def get(self, arch: ArchSpec) -> Any:
        from convscope.probes.inspect import Inspector

        if arch not in self._by_arch:
            self._by_arch.clear()  # one architecture at a time; the jit cache stays
            self._by_arch[arch] = Inspector(arch)
        return self._by_arch[arch]


def inspection_job(job: Job, inspectors: Inspectors) -> Callable[[Any], Any]:
    """The ProbeRunner job for ``job``: a :class:`Result` for an image, else
    ``(generation, BatchStats)`` for a batch."""

    def run(_ctx: Any) -> Any:
        snap = job.snapshot
        inspector = inspectors.get(snap.arch)
        if job.image is not None:
            inspection = inspector.run(snap.params, snap.state, snap.norm, job.image)
            return Result(job.generation, snap.step, snap.arch, job.image, inspection)
        from convscope.probes.activations import activation_layers

        pre = [p for p, _a in activation_layers(snap.arch)]
        taps, _probs = inspector.run_batch(snap.params, snap.state, snap.norm, job.batch, layers=pre)
        return job.generation, batch_stats(snap.arch, snap.step, taps, len(job.batch))

    return run
