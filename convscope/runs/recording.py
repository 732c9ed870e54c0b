"""Recording every training of an interactive session as runs (the GUI's side of the writer).

A :class:`RunRecorder` wraps a loop's event generator (``recorder.events(loop,
commands)``) on the loop's own thread: each event goes to the current
:class:`~convscope.runs.writer.RunWriter` before it is passed on, between steps, so the
writer may read the weights and optimizer state without a lock, and nothing is written
on the GUI thread. It also sees the commands the loop takes (a proxy of the command
queue), because a run ends *before* the loop replaces its model:

* ``Reset`` and ``Load`` end the current run ("stopped", its final checkpoint written
  while the old weights are still there); the ``Started`` that follows begins a new run,
  or, after :meth:`RunRecorder.expect_resume`, reopens the resumed one;
* a ``Reset`` or ``Load`` the loop refuses leaves no gap: the next metrics reopen the
  run that was ended;
* the generator's end (``Stop``: a data-set change, the window closing) ends the run.

A writer's failure (disk full, folder removed) or an unexpected error never reaches the
loop: training goes on, and one ``Notice`` says what was kept. Qt-free and JAX-free.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from convscope import events as ev
from convscope.runs.writer import RunWriter

log = logging.getLogger(__name__)

NOT_RECORDED = "Training goes on, unrecorded: "


class _WatchedCommands:
    """The loop's command queue, seen by the recorder as the loop takes each command."""

    def __init__(self, inner: queue.Queue, on_command: Any) -> None:
        self.inner = inner
        self._on_command = on_command

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        cmd = self.inner.get(block, timeout)
        self._on_command(cmd)
        return cmd

    def get_nowait(self) -> Any:
        return self.get(False)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        self.inner.put(item, block, timeout)

    def put_nowait(self, item: Any) -> None:
        self.inner.put_nowait(item)

    def empty(self) -> bool:
        return self.inner.empty()


class _Recording:
    """The run(s) of one loop: only that loop's thread writes them (and, once, the GUI
    thread at close, under ``lock``, when that thread cannot)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.writer: RunWriter | None = None
        self.ended: Path | None = None  # the run a Reset/Load ended; reopened if the command fails
        self.resuming: tuple[Path, int] | None = None  # (run, step) the next Started continues
        self.closed = False  # ended from outside: nothing more is written
        self.done = threading.Event()
        self.reported: RunWriter | None = None  # the writer whose failure was said


class RunRecorder:
    """Writes the runs of every loop it wraps under :attr:`root` (new runs only: a
    changed root applies from the next run on)."""

    def __init__(self, root: str | os.PathLike, *, source: str = "gui", **writer_kw: Any) -> None:
        self.root = Path(root)
        self.source = source
        self.writer_kw = writer_kw
        self.failure = ""  # the last write failure, one line ("" if none)
        self._lock = threading.Lock()
        self._active: list[_Recording] = []
        self._resumes: dict[str, tuple[Path, int]] = {}

    # ----------------------------------------------------------- GUI-thread side
    def expect_resume(self, checkpoint: str | os.PathLike, run_dir: str | os.PathLike, step: int) -> None:
        """The next ``Load(checkpoint)`` continues ``run_dir`` from ``step`` (if the loop
        restores it exactly) instead of starting a new run."""
        with self._lock:
            self._resumes[str(checkpoint)] = (Path(run_dir), int(step))

    @property
    def current_run(self) -> Path | None:
        """The directory of the run being written now (None between runs)."""
        with self._lock:
            for rec in reversed(self._active):
                w = rec.writer
                if w is not None and not rec.closed:
                    return w.dir
        return None

    def wait(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for every wrapped loop to end its run; a run whose loop
        cannot (busy inside XLA) is ended from here, "stopped" with the checkpoints it
        has. True if every run was ended by its own loop."""
        with self._lock:
            active = list(self._active)
        ok = True
        deadline = time.monotonic() + timeout_s
        for rec in active:
            if not rec.lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
                ok = False  # its thread is inside a write: let it finish, if the process lets it
                continue
            try:
                if rec.writer is None:  # no run yet (its model still compiles): none may begin now
                    rec.closed = True
            finally:
                rec.lock.release()
            if rec.closed or rec.done.wait(max(0.0, deadline - time.monotonic())):
                continue
            ok = False
            if rec.lock.acquire(timeout=0.1):
                try:
                    if rec.writer is not None and not rec.closed:
                        _safe_finish(rec.writer, "stopped", None, "closed while the model was busy")
                    rec.closed = True
                finally:
                    rec.lock.release()
        return ok

    # ---------------------------------------------------------- loop-thread side
    def events(self, loop: Any, commands: queue.Queue) -> Iterator[Any]:
        """``loop.events(commands)``, every event recorded before it is passed on."""
        rec = _Recording()
        with self._lock:
            self._active.append(rec)
        watched = _WatchedCommands(commands, lambda cmd: self._command(rec, cmd, loop))
        status, with_loop = "stopped", True
        try:
            for event in loop.events(watched):
                notice = self._observe(rec, event, loop)
                if isinstance(event, ev.Finished) and event.reason == "done":
                    status = "finished"
                yield event
                if notice is not None:
                    yield notice
        except Exception:
            status, with_loop = "interrupted", False  # its state may be half-updated: no checkpoint
            raise
        finally:
            with rec.lock:
                if rec.writer is not None and not rec.closed:
                    _safe_finish(rec.writer, status, loop if with_loop else None)
                    self._note_failure(rec.writer)
                rec.writer = None
                rec.closed = True
            with self._lock:
                self._active.remove(rec)
            rec.done.set()

    def _command(self, rec: _Recording, cmd: Any, loop: Any) -> None:
        if not isinstance(cmd, ev.Reset | ev.Load | ev.StartFrom):
            return
        with rec.lock:
            if rec.closed:
                return
            if isinstance(cmd, ev.Load):
                with self._lock:
                    rec.resuming = self._resumes.pop(str(cmd.path), None)
            w = rec.writer
            if w is not None:
                # The old model is still in the loop: its final checkpoint is written now.
                _safe_finish(w, "stopped", loop)
                self._note_failure(w)
                rec.ended, rec.writer = (w.dir if not w.failure else None), None

    def _observe(self, rec: _Recording, event: Any, loop: Any) -> ev.Notice | None:
        with rec.lock:
            if rec.closed:
                return None
            try:
                return self._observe_locked(rec, event, loop)
            except Exception as e:  # a bug here must never stop training
                log.exception("recording the run failed")
                if rec.writer is not None:
                    rec.writer.failure = rec.writer.failure or f"{type(e).__name__}: {e}"
                    rec.writer.close()
                self.failure = (f"cannot write a run under {self.root} ({e.strerror or e})" if isinstance(e, OSError)
                                else f"{type(e).__name__}: {e}")
                rec.closed = True
                return ev.Notice("error", NOT_RECORDED + self.failure)

    def _observe_locked(self, rec: _Recording, event: Any, loop: Any) -> ev.Notice | None:
        if isinstance(event, ev.Started):
            if rec.writer is not None:  # a new model without a Reset/Load seen: end the old run
                _safe_finish(rec.writer, "stopped", None)
            rec.writer, rec.ended = self._begin(rec, event, loop), None
        elif rec.writer is None and rec.ended is not None and isinstance(
                event, ev.StepMetrics | ev.EvalMetrics | ev.HyperParamsChanged | ev.Paused):
            # The Reset/Load that ended it was refused: the same model goes on, and its run.
            rec.writer, rec.ended = RunWriter.reopen(rec.ended, int(loop.step), **self.writer_kw), None
        w = rec.writer
        if w is None or isinstance(event, ev.Finished):
            return None
        w.observe(event, loop)
        # The writer's own thread writes checkpoints, so a failure may have come between
        # two events: it is said once, at the first event after it.
        if w.failure and rec.reported is not w:
            rec.reported = w
            self.failure = w.failure
            return ev.Notice("error", NOT_RECORDED + w.failure)
        return None

    def _begin(self, rec: _Recording, event: ev.Started, loop: Any) -> RunWriter:
        resuming, rec.resuming = rec.resuming, None
        if resuming is not None and resuming[1] == event.step and getattr(loop, "restored_exactly", False):
            return RunWriter.reopen(resuming[0], event.step, **self.writer_kw)
        return RunWriter.create(self.root, arch=event.arch, config=event.config, dataset=loop.dataset,
                                source=self.source, device=event.device,
                                init_from=getattr(loop, "init_from", None), **self.writer_kw)

    def _note_failure(self, w: RunWriter) -> None:
        if w.failure:
            self.failure = w.failure


def _safe_finish(w: RunWriter, status: str, loop: Any, reason: str = "") -> None:
    try:
        w.finish(status, loop, reason=reason)
    except Exception as e:  # never into the loop; the run stays as it was on disk
        log.exception("ending the run %s failed", w.dir)
        w.failure = w.failure or f"{type(e).__name__}: {e}"
        w.close()
