"""What a probe job sees while it runs, without Qt.

A job is a callable ``job(ctx) -> result | None`` that a runner (``ui/probe_runner``'s
``ProbeRunner`` in the app) calls on its worker thread. ``ctx`` is a
:class:`ProbeContext`: the job asks it whether to stop (``should_stop``, which also
paces the job to its share of the CPU), raises :class:`Cancelled` through ``check``
from nested loops, and sends partial results with ``report``. The job modules
(``deepvis_job``, ``landscape_job``, ``evaluate_job``, ``saliency_job``) live here in
probes/, beside their numeric cores, and are tested without a GUI.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol


class Cancelled(Exception):
    """A job (or a chunked computation inside one) stopped because a newer request or a
    stop replaced it; the runner drops its result."""


class ProbeContext(Protocol):
    """The runner's side of a running job."""

    tag: Any

    def cancelled(self) -> bool:
        """True once a newer request or a stop replaced the job (never pauses)."""

    def should_stop(self) -> bool:
        """True when the job should end now; otherwise may pause to keep the job
        within its share of the CPU."""

    def check(self) -> None:
        """``should_stop()`` as an exception (:class:`Cancelled`), for nested loops."""

    def report(self, payload: Any) -> None:
        """Send a partial result to whoever submitted the job (dropped when stale)."""


Job = Callable[[ProbeContext], Any]

