"""The bridge between the training loop (a plain generator on a worker thread) and Qt.

The loop knows nothing of Qt: it is a generator of ``convscope.events`` dataclasses that
reads commands from a ``queue.Queue``. This module runs that generator on a ``QThread``
and re-emits every event as a Qt signal, so slots on the GUI thread draw it (only
signals cross threads).

Why a small QThread of our own rather than superqt's ``GeneratorWorker``: superqt's
``WorkerBase.run`` swaps the process-wide ``warnings`` filters and ``showwarning`` for
the whole life of the worker (not thread-safe, and it silences ``filterwarnings=error``
on the GUI thread while training runs), reports a ``RuntimeError`` from the generator
as a warning instead of ``errored`` (JAX's ``XlaRuntimeError`` is one), and runs on
the global ``QThreadPool``, where a long-lived training loop would permanently take
one of two threads on a 2-core machine. The loop already owns pausing and stopping
through its command queue, so the thread only has to iterate and forward.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal

from convscope import events as ev

log = logging.getLogger(__name__)

EventSource = Callable[["queue.Queue[ev.Command]"], Iterator[Any]]

# Threads whose loop did not stop within stop()'s timeout: kept referenced (a QThread
# destroyed while running aborts the process) until they finish; see wait_for_stragglers.
_stragglers: set[_LoopThread] = set()


class _LoopThread(QThread):
    """Iterates the loop's generator and forwards each event, tagged with the loop's
    serial number (which run of the bridge it belongs to); never touches a widget."""

    yielded = Signal(int, object)
    errored = Signal(int, object)

    def __init__(self, make_events: Callable[[], Iterator[Any]], serial: int) -> None:
        super().__init__()
        self._make_events = make_events
        self.serial = serial
        self.abandoned = False  # set by stop(): nothing it says is wanted any more

    def run(self) -> None:
        try:
            # Built here, not on the GUI thread: constructing the loop imports JAX and
            # moves the data set to the device, which would freeze the window.
            for event in self._make_events():
                # Stopped while it was busy (say, compiling): it reads the Stop at its next
                # command check and ends; until then it says nothing.
                if not self.abandoned:
                    self.yielded.emit(self.serial, event)
        except Exception as exc:  # reaches the user through `errored`, never vanishes
            if self.abandoned:
                log.debug("a stopped training loop failed on its way out: %s", exc)
                return
            log.exception("training loop failed")
            self.errored.emit(self.serial, exc)


class TrainingWorkerBridge(QObject):
    """Runs ``events(commands)`` on a worker thread; one Qt signal per event type.

    Commands go in with :meth:`send` (or the helpers), from the GUI thread. Signals
    carry the event dataclass itself and are emitted on the GUI thread (queued).

    Only the loop started last speaks: once :meth:`stop` is called, whatever that loop
    still had queued, or says later (a loop busy compiling ends on its own, after the
    window has moved on to another model), is dropped here, at the source, so that no
    panel ever receives an old model's Started, Snapshot or error after a new one.
    """

    compiling = Signal(object)  # Compiling: about to compile (show "compiling…")
    started = Signal(object)  # Started: a (new) model is ready
    stepped = Signal(object)  # StepMetrics
    evaluated = Signal(object)  # EvalMetrics
    snapshot_taken = Signal(object)  # Snapshot
    hyperparams_changed = Signal(object)  # HyperParamsChanged
    noticed = Signal(object)  # Notice
    paused = Signal(object)  # Paused
    saved = Signal(object)  # Saved
    finished = Signal(object)  # Finished (the generator returned after it)
    event_received = Signal(object)  # every event, for panels that want them all
    errored = Signal(object)  # an exception escaped the loop
    stopped = Signal()  # the worker thread has ended, whatever the reason

    _SIGNAL_FOR = {
        ev.Compiling: "compiling",
        ev.Started: "started",
        ev.StepMetrics: "stepped",
        ev.EvalMetrics: "evaluated",
        ev.Snapshot: "snapshot_taken",
        ev.HyperParamsChanged: "hyperparams_changed",
        ev.Notice: "noticed",
        ev.Paused: "paused",
        ev.Saved: "saved",
        ev.Finished: "finished",
    }

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.commands: queue.Queue[ev.Command] = queue.Queue()
        self._thread: _LoopThread | None = None
        self._serial = 0  # of the loop whose events are delivered (0: none)

    # ----------------------------------------------------------------- lifecycle
    def start(self, source: EventSource) -> None:
        """Start ``source(self.commands)`` (e.g. ``loop.events``) on a worker thread."""
        if self.is_running():
            raise RuntimeError("the training worker is already running")
        commands = self.commands  # commands sent before start (e.g. Load) are kept
        self._serial += 1
        thread = _LoopThread(lambda: source(commands), self._serial)
        # Not parented to us: if the window is deleted the thread must not die with it.
        thread.yielded.connect(self._dispatch)
        thread.errored.connect(self._on_errored)
        thread.finished.connect(self.stopped)
        self._thread = thread
        thread.start()

    def is_running(self) -> bool:
        return self._thread is not None and self._thread.isRunning()

    def stop(self, timeout_s: float = 1.0) -> bool:
        """Ask the loop to stop (a command, checked between steps) and wait for it.

        Returns True if the worker ended within ``timeout_s``. Never terminates the
        thread: one still busy (say, compiling) is kept alive until it finishes.
        """
        thread = self._thread
        if thread is None:
            return True
        thread.abandoned = True
        self._serial += 1  # what it queued or still says is dropped by _dispatch
        self.commands.put(ev.Stop())
        deadline = time.monotonic() + timeout_s
        done = thread.wait(max(0, int(timeout_s * 1000)))
        if not done:
            log.info("training worker still busy %.1f s after Stop; it ends on its own", timeout_s)
            _stragglers.add(thread)
        else:
            log.debug("training worker stopped with %.3f s to spare", deadline - time.monotonic())
        self._thread = None
        self.commands = queue.Queue()  # a Stop left unread must not reach a next run
        return bool(done)

    # ----------------------------------------------------------------- commands
    def send(self, command: ev.Command) -> None:
        """Queue a command for the loop (applied between steps)."""
        self.commands.put(command)

    # ----------------------------------------------------------------- internals
    def _is_current(self, serial: int) -> bool:
        return serial == self._serial and self._thread is not None

    def deliver(self, event: object) -> None:
        """Emit ``event`` as if the loop had yielded it: for events from another source
        than the live loop (a followed run, a resumed run's earlier curves), so that every
        panel takes them where it takes the loop's. GUI thread only."""
        self.event_received.emit(event)
        name = self._SIGNAL_FOR.get(type(event))
        if name is not None:
            getattr(self, name).emit(event)

    def _dispatch(self, serial: int, event: object) -> None:
        if not self._is_current(serial):
            log.debug("dropped %s from a stopped training loop", type(event).__name__)
            return
        self.event_received.emit(event)
        name = self._SIGNAL_FOR.get(type(event))
        if name is not None:
            getattr(self, name).emit(event)
        else:
            log.debug("unhandled event %r", event)

    def _on_errored(self, serial: int, exc: object) -> None:
        if self._is_current(serial):
            self.errored.emit(exc)


def wait_for_stragglers(timeout_s: float = 60.0) -> bool:
    """Block until workers that outlived their window have ended (call after exec)."""
    deadline = time.monotonic() + timeout_s
    for thread in list(_stragglers):
        remaining = max(0.0, deadline - time.monotonic())
        if not thread.wait(int(remaining * 1000)):
            log.info("a training worker did not stop within %.1f s", timeout_s)
            return False
        _stragglers.discard(thread)
    return True
