"""The saliency view's computation (``probes.saliency``) as a job for a probe runner
(``probes.jobs``), and what identifies one request."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from convscope import events as ev
from convscope.probes.jobs import Job, ProbeContext
from convscope.probes.saliency import METHOD_OPTIONS, SaliencyResult, saliency


@dataclass(frozen=True)
class SaliencyRequest:
    generation: int  # the panel's count of model starts: a reset at step 0 is new
    step: int
    method: str
    target: int | None  # None: the predicted class
    image: bytes  # the image's bytes: a request is identified by what it computes


def saliency_job(snapshot: ev.Snapshot, image: np.ndarray, method: str, target: int | None) -> Job:
    """A ProbeRunner job computing one saliency map (its result: SaliencyResult)."""

    def job(ctx: ProbeContext) -> SaliencyResult | None:
        if ctx.should_stop():
            return None
        return saliency(snapshot.arch, snapshot.params, snapshot.state, snapshot.norm, image, method, target,
                        **METHOD_OPTIONS.get(method, {}))

    return job
