"""Long probes (loss landscape, deep visualization, evaluation) off the GUI thread.

A :class:`ProbeRunner` owns one daemon thread. ``submit(tag, job)`` runs ``job(ctx)``
there; the latest request wins: a newer submit replaces the waiting one and asks the
running one to stop (``ctx.should_stop()`` turns true, and its result is dropped). A job
reports partial results with ``ctx.report(payload)``; they arrive, like the final result
and errors, as signals on the GUI thread, tagged with what was submitted.

``share`` (0 < share ≤ 1) caps the fraction of wall time a job may compute: each
``should_stop()`` call sleeps long enough that the time spent computing since the
previous call is at most ``share`` of the time elapsed, so a probe that checks between
grid rows or optimisation steps leaves the rest of the CPU to training.

Plain ``threading`` rather than a QThread for the reason given in ui/inspection.py: a
daemon thread can never abort the process by being destroyed while running.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from convscope.probes.jobs import Cancelled, Job

log = logging.getLogger(__name__)


class ProbeContext:
    """What a running job sees (the protocol of ``probes.jobs.ProbeContext``): whether
    to stop, and how to report progress."""

    def __init__(self, runner: ProbeRunner, generation: int, tag: Any = None) -> None:
        self._runner = runner
        self._generation = generation
        self.tag = tag
        self._mark = time.perf_counter()
        self.started = self._mark

    def cancelled(self) -> bool:
        return self._runner._is_stale(self._generation)

    def should_stop(self) -> bool:
        """True when the job should end now; otherwise pause to keep within ``share``."""
        if self.cancelled():
            return True
        share = self._runner.share
        if share < 1.0:
            busy = time.perf_counter() - self._mark
            rest = busy * (1.0 - share) / share
            # Sleep in small slices so a cancel is noticed quickly.
            end = time.perf_counter() + rest
            while (left := end - time.perf_counter()) > 0:
                if self.cancelled():
                    return True
                time.sleep(min(left, 0.05))
        self._mark = time.perf_counter()
        return self.cancelled()

    def check(self) -> None:
        """``should_stop()`` as an exception, for jobs with nested loops."""
        if self.should_stop():
            raise Cancelled

    def report(self, payload: Any) -> None:
        """Send a partial result to the GUI thread (dropped if the job is stale)."""
        if not self.cancelled():
            self._runner._progress.emit((self._generation, self.tag, payload))


class ProbeRunner(QObject):
    """One worker thread for one kind of probe; the latest request wins.

    Signals (GUI thread): ``busy_changed(bool)``, ``progressed(tag, payload)``,
    ``finished(tag, result)``, ``errored(tag, message)``. A job that returns ``None``
    after a stop emits nothing.
    """

    busy_changed = Signal(bool)
    progressed = Signal(object, object)
    finished = Signal(object, object)
    errored = Signal(object, str)

    _progress = Signal(object)
    _done = Signal(object)
    _failed = Signal(object)

    def __init__(self, name: str, parent: QObject | None = None, share: float = 1.0) -> None:
        super().__init__(parent)
        self.name = name
        self.share = share
        self._cond = threading.Condition()
        self._waiting: tuple[int, Any, Job] | None = None
        self._generation = 0
        self._running_tag: Any = None
        self._busy = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._progress.connect(self._on_progress)
        self._done.connect(self._on_done)
        self._failed.connect(self._on_failed)

    # ------------------------------------------------------------- GUI thread
    def set_share(self, share: float) -> None:
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share!r}")
        self.share = float(share)

    def submit(self, tag: Any, job: Job) -> None:
        """Run ``job(ctx)`` on the worker; replaces any waiting job, stops the running one."""
        with self._cond:
            self._generation += 1
            self._waiting = (self._generation, tag, job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"convscope-{self.name}", daemon=True)
                self._thread.start()
            self._cond.notify()
        self._set_busy(True)

    def cancel(self) -> None:
        """Stop the running job and drop the waiting one."""
        with self._cond:
            self._generation += 1
            self._waiting = None
        if not self._busy_now():
            self._set_busy(False)

    @property
    def busy(self) -> bool:
        return self._busy

    def idle(self) -> bool:
        return not self._busy_now()

    def shutdown(self, timeout_s: float = 0.5) -> bool:
        """End the thread (after its current job notices the stop); True if it ended."""
        with self._cond:
            self._stopping = True
            self._generation += 1
            self._waiting = None
            self._cond.notify()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(max(0.0, timeout_s))
        return not thread.is_alive()

    def _set_busy(self, busy: bool) -> None:
        if busy != self._busy:
            self._busy = busy
            self.busy_changed.emit(busy)

    @Slot(object)
    def _on_progress(self, item: tuple[int, Any, Any]) -> None:
        generation, tag, payload = item
        if generation == self._generation:
            self.progressed.emit(tag, payload)

    @Slot(object)
    def _on_done(self, item: tuple[int, Any, Any]) -> None:
        generation, tag, result = item
        if generation == self._generation:
            self._set_busy(False)
            if result is not None:
                self.finished.emit(tag, result)
        elif not self._busy_now():
            self._set_busy(False)

    @Slot(object)
    def _on_failed(self, item: tuple[int, Any, str]) -> None:
        generation, tag, message = item
        if generation == self._generation:
            self._set_busy(False)
            self.errored.emit(tag, message)

    # ---------------------------------------------------------- worker thread
    def _is_stale(self, generation: int) -> bool:
        return self._stopping or generation != self._generation

    def _busy_now(self) -> bool:
        with self._cond:
            return self._waiting is not None or self._running_tag is not None

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and self._waiting is None:
                    self._cond.wait()
                if self._stopping:
                    return
                generation, tag, job = self._waiting  # type: ignore[misc]
                self._waiting = None
                self._running_tag = tag
            try:
                result = job(ProbeContext(self, generation, tag))
                outcome: tuple[Any, ...] = (self._done, (generation, tag, result))
            except Cancelled:
                outcome = (self._done, (generation, tag, None))
            except Exception as exc:  # noqa: BLE001 - reaches the user through errored
                log.exception("%s probe failed", self.name)
                outcome = (self._failed, (generation, tag, f"{type(exc).__name__}: {exc}"))
            with self._cond:
                self._running_tag = None
            try:
                outcome[0].emit(outcome[1])
            except RuntimeError:  # the runner was deleted with its window
                return


def shutdown_runners(parent: QObject, timeout_s: float = 0.2) -> bool:
    """Stop every ProbeRunner below ``parent`` (the window's close uses this)."""
    runners = parent.findChildren(ProbeRunner)
    deadline = time.monotonic() + timeout_s
    return all([r.shutdown(max(0.0, deadline - time.monotonic())) for r in runners])
