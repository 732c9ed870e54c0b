"""What every probe panel shares: on what to compute, when, and with how much CPU.

A :class:`ProbeFeed` belongs to one panel, which becomes a view: the feed owns the
panel's :class:`~convscope.ui.probe_runner.ProbeRunner` (``feed.runner``, latest request
wins) and follows

- the snapshots of the InspectionController (live, or the timeline's stored step:
  ``stored``), the one place every panel gets the network it shows from;
- the session's model changes: a new model (reset, checkpoint, architecture, data set)
  counts a new ``generation``, cancels the running job (its result would describe a
  model that no longer exists, and is dropped) and emits ``model_started``;
- the run state: a job computes at most ``training_share`` of the time while training,
  all of it while the model waits.

``ask()`` marks a computation as wanted; the feed emits ``due`` once the panel is on
screen, its runner idle and the last computation at least ``min_interval_s`` old (an
automatic recomputation never cancels a running one, so fast training cannot starve a
slow probe), and the view then builds its job and ``submit``\\ s it. With ``follow``
every new snapshot asks. A user's explicit request submits at once, whatever the state.
"""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtWidgets import QWidget

from convscope.probes.jobs import Job
from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.probe_runner import ProbeRunner
from convscope.ui.visibility import on_screen

POLL_MS = 250  # while a computation waits: how often the feed looks again


class ProbeFeed(QObject):
    """The snapshot source, the runner and the pacing of one probe panel."""

    due = Signal()  # a wanted computation can start now: the view submits it
    model_started = Signal()  # a new model: the running job was cancelled

    def __init__(
        self,
        view: QWidget,
        session: Any,
        name: str,
        *,
        training_share: float = 1.0,
        min_interval_s: float = 0.0,
        follow: bool = False,
    ) -> None:
        super().__init__(view)
        self.view = view
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.runner = ProbeRunner(name, view)
        self.training_share = training_share
        self.min_interval_s = min_interval_s
        self.follow = follow
        self.generation = 0  # model starts seen
        self.wanted = False  # a computation is asked for and waits for its turn
        self.finished_at = -1e9  # monotonic time of the last result or error
        self.keep_job = lambda: False  # True: a new model leaves the running job (a frozen view's)
        self._poll = QTimer(self, interval=POLL_MS, timeout=self.poke)
        self.runner.finished.connect(self._on_done)
        self.runner.errored.connect(self._on_done)
        self.runner.busy_changed.connect(lambda busy: None if busy else QTimer.singleShot(0, self, self.poke))
        self.controller.snapshot_changed.connect(self._on_snapshot)
        session.arch_changed.connect(self._on_model)
        session.state_changed.connect(self._on_state)
        view.installEventFilter(self)

    # ----------------------------------------------------------------- what
    @property
    def snapshot(self) -> Any:
        """The network the panels show now (None until the model's first snapshot)."""
        return self.controller.snapshot

    @property
    def stored(self) -> bool:
        """The snapshot shown is a stored step of the run (the timeline), not live."""
        return self.controller.stored

    # ----------------------------------------------------------------- when
    def on_screen(self) -> bool:
        """Shown, not a tab in the background (Qt keeps those "visible"), window not minimised."""
        return on_screen(self.view)

    def wait_left(self) -> float:
        """Seconds until the minimum interval since the last computation has passed."""
        return max(0.0, self.finished_at + self.min_interval_s - time.monotonic())

    def ready(self) -> bool:
        return self.on_screen() and self.runner.idle() and self.wait_left() <= 0

    def ask(self) -> None:
        """A computation is wanted: ``due`` fires now if the panel can take it, else later."""
        self.wanted = True
        self.poke()

    def poke(self) -> None:
        if not self.wanted:
            self._poll.stop()
            return
        if not self.ready():
            if not self._poll.isActive():
                self._poll.start()
            return
        self.wanted = False
        self._poll.stop()
        self.due.emit()

    def hold(self) -> None:
        """Count the minimum interval from now (a stop: the next refresh waits its turn)."""
        self.finished_at = time.monotonic()

    # ----------------------------------------------------------------- how
    def apply_share(self) -> None:
        self.runner.set_share(self.training_share if self.session.is_training else 1.0)

    def submit(self, tag: Any, job: Job) -> None:
        """Run ``job`` now at the current share (replacing a running one)."""
        self.wanted = False
        self.apply_share()
        self.runner.submit(tag, job)

    def cancel(self) -> None:
        self.runner.cancel()

    # ----------------------------------------------------------------- events
    def _on_snapshot(self, _snapshot: Any) -> None:
        if self.follow:
            self.ask()

    def _on_model(self, _arch: Any) -> None:
        self.generation += 1
        if not self.keep_job():
            self.runner.cancel()
            self.finished_at = -1e9  # the new model's results at once, not after the interval
        self.model_started.emit()

    def _on_state(self, _state: str) -> None:
        self.apply_share()
        self.poke()

    def _on_done(self, *_args: Any) -> None:
        self.finished_at = time.monotonic()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.view and event.type() == QEvent.Type.Show:
            QTimer.singleShot(0, self, self.poke)  # shown: a computation that waited for it
        return False
