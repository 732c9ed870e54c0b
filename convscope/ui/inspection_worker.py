"""The inspection controller's worker threads (see ui/inspection.py): a daemon thread
with "latest wins" slots for one image and one validation batch, each job tagged with
the model generation it was asked for, so the controller can drop what an older model
computed."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope import events as ev
from convscope.config import ArchSpec
from convscope.probes.batch_stats import batch_stats

log = logging.getLogger("convscope.ui.inspection")


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


class InspectionWorker:
    """A daemon thread with "latest wins" slots for an image and a batch job.

    The controller runs two, one per kind, so that the image the user is looking at
    (~2 ms) never waits behind a batch (0.1–0.4 s).

    Plain ``threading`` rather than a QThread: it never touches Qt except to emit the
    controller's private signals (queued to the GUI thread), and a daemon thread cannot
    abort the process as a QThread destroyed while running does.
    """

    def __init__(self, controller: Any, name: str) -> None:
        """``controller``: the InspectionController whose private signals carry the results."""
        self._controller = controller
        self._cond = threading.Condition()
        self._image_job: Job | None = None
        self._batch_job: Job | None = None
        self._stopping = False
        self._inspectors: dict[ArchSpec, Any] = {}
        self.busy = False
        self.thread = threading.Thread(target=self._run, name=f"convscope-{name}", daemon=True)
        self.thread.start()

    def submit(self, job: Job) -> None:
        with self._cond:
            if job.image is not None:
                self._image_job = job
            else:
                self._batch_job = job
            self._cond.notify()

    def request_stop(self) -> None:
        """Drop waiting jobs and end after the current one (never interrupts JAX)."""
        with self._cond:
            self._stopping = True
            self._image_job = self._batch_job = None
            self._cond.notify()

    def join(self, timeout_s: float) -> bool:
        if threading.current_thread() is not self.thread:
            self.thread.join(max(0.0, timeout_s))
        return not self.thread.is_alive()

    def idle(self) -> bool:
        with self._cond:
            return not self.busy and self._image_job is None and self._batch_job is None

    def _inspector(self, arch: ArchSpec) -> Any:
        from convscope.probes.inspect import Inspector

        if arch not in self._inspectors:
            self._inspectors.clear()  # one architecture at a time; the jit cache stays
            self._inspectors[arch] = Inspector(arch)
        return self._inspectors[arch]

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._image_job is None and self._batch_job is None:
                    self._cond.wait()
                if self._stopping:
                    return
                # The image first: it is what the user is looking at and costs ~1 ms.
                job = self._image_job or self._batch_job
                if job is self._image_job:
                    self._image_job = None
                else:
                    self._batch_job = None
                self.busy = True
            try:
                self._do(job)
            except RuntimeError as exc:
                if "deleted" in str(exc):  # the controller is gone (window closed)
                    return
                self._report(job.generation, exc)
            except Exception as exc:  # noqa: BLE001 - reaches the user as a notice
                self._report(job.generation, exc)
            finally:
                with self._cond:
                    self.busy = False

    def _report(self, generation: int, exc: Exception) -> None:
        log.exception("inspection failed")
        try:
            self._controller._errored.emit(generation, f"{type(exc).__name__}: {exc}")
        except RuntimeError:
            pass

    def _do(self, job: Job) -> None:
        snap = job.snapshot
        inspector = self._inspector(snap.arch)
        if job.image is not None:
            inspection = inspector.run(snap.params, snap.state, snap.norm, job.image)
            self._controller._result_ready.emit(
                Result(job.generation, snap.step, snap.arch, job.image, inspection)
            )
        if job.batch is not None:
            from convscope.probes.activations import activation_layers

            pre = [p for p, _a in activation_layers(snap.arch)]
            taps, _probs = inspector.run_batch(snap.params, snap.state, snap.norm, job.batch, layers=pre)
            stats = batch_stats(snap.arch, snap.step, taps, len(job.batch))
            self._controller._stats_ready.emit((job.generation, stats))
