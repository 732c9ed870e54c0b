"""The Evaluation panel's computation: a snapshot's predictions on a labelled set and
their metrics (``probes.evaluate``), as a job for a probe runner (``probes.jobs``)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope import events as ev
from convscope.probes.jobs import Cancelled, Job, ProbeContext


@dataclass(frozen=True)
class EvalResult:
    step: int
    evaluation: Any  # probes.evaluate.Evaluation
    seconds: float
    label: str = ""  # what was evaluated when not the model shown, e.g. "Ensemble of 3"


def evaluation_job(snapshot: ev.Snapshot, images: np.ndarray, labels: np.ndarray) -> Job:
    """A ProbeRunner job: the snapshot's predictions on ``images`` and their metrics.

    Reports ``(done, total)`` after each chunk; stops (returning None) at the next chunk
    when a newer request or the window's close replaced it.
    """

    def job(ctx: ProbeContext) -> EvalResult | None:
        from convscope.probes.evaluate import evaluate_probs, predict_probs

        t0 = time.perf_counter()

        def progress(done: int, total: int) -> bool:
            ctx.report((done, total))
            return not ctx.should_stop()

        try:
            probs = predict_probs(snapshot.arch, snapshot.params, snapshot.state, snapshot.norm, images,
                                  progress=progress)
        except Cancelled:
            return None
        return EvalResult(snapshot.step, evaluate_probs(probs, labels), time.perf_counter() - t0)

    return job
