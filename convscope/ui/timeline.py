"""Scrubbing back through a run: every panel shows the network at a stored step.

A run keeps snapshots of its weights (``checkpoints/step-*.npz``: the history steps and
every epoch's end, ``runs/layout.py``). :class:`Timeline` decides which snapshot the
panels see, in the one place they all get it from: the session's snapshots reach the
:class:`~convscope.ui.inspection.InspectionController` through the timeline, which
passes the live ones on, or — while a stored step is shown — keeps the newest live one
aside and gives the controller that step's weights instead (read off the GUI thread).
Training goes on meanwhile, and its curves with it; "Live" returns to now.

:class:`TimelineBar` is the toolbar under the main one: a slider over the run's
snapshots, their step, Play, and Live. The run is the one being recorded or followed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QSlider, QToolBar

from convscope import events as ev
from convscope.runs.reader import checkpoint_steps
from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.probe_runner import ProbeRunner

REFRESH_MS = 2000  # how often the run's list of snapshots is read again
PLAY_MS = 600  # one snapshot further every this many ms while playing


class Timeline(QObject):
    """Live or a stored step, for the panels (see the module's docstring).

    Signals: ``changed()`` (the steps or the position changed), ``shown(int)`` (a
    stored step's weights reached the panels), ``failed(str)``.
    """

    changed = Signal()
    shown = Signal(int)
    failed = Signal(str)

    def __init__(self, session: Any, run_dir_of: Callable[[], Path | None]) -> None:
        super().__init__(session)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.run_dir_of = run_dir_of
        self.run_dir: Path | None = None
        self.steps: list[int] = []
        self._paths: dict[int, Path] = {}
        self.pinned: int | None = None  # the stored step asked for; None: live
        self.shown_step: int | None = None  # the stored step the panels show now
        self.latest_live: ev.Snapshot | None = None
        self.loader = ProbeRunner("convscope-timeline", self)
        self.loader.finished.connect(self._on_loaded)
        self.loader.errored.connect(lambda _tag, message: self.failed.emit(message))
        bridge = session.bridge
        bridge.snapshot_taken.disconnect(self.controller.set_snapshot)
        bridge.snapshot_taken.connect(self._on_live)
        session.model_changed.connect(self._on_model_changed)

    @property
    def live(self) -> bool:
        return self.pinned is None

    def refresh(self) -> None:
        """Read the run's snapshots again (a new run, or new steps written)."""
        run_dir = self.run_dir_of()
        paths = checkpoint_steps(run_dir) if run_dir is not None else {}
        if run_dir != self.run_dir and self.pinned is not None:
            self.go_live()  # another run: its steps are not this one's
        self.run_dir = run_dir
        if list(paths) != self.steps or paths != self._paths:
            self.steps, self._paths = list(paths), paths
            self.changed.emit()

    def show_step(self, step: int) -> None:
        """Show the stored snapshot of ``step`` (one of :attr:`steps`) in every panel."""
        if step not in self._paths:
            return
        self.pinned = step
        self.changed.emit()
        path, arch, dataset = self._paths[step], self.session.arch, self.session.dataset

        def job(_ctx: Any) -> Any:  # on the loader's thread
            from convscope.train.checkpoint import CheckpointError, load_checkpoint

            try:
                ckpt = load_checkpoint(path)
            except CheckpointError as e:
                return str(e)
            if ckpt.arch != arch:
                return f"{path.name} is of another architecture than the model shown"
            norm = ckpt.norm
            if norm is None:
                from convscope.train.augment import data_norm

                norm = data_norm(dataset.x_train, ckpt.config.normalization)
            return ev.Snapshot(ckpt.step, ckpt.arch, ckpt.params, ckpt.state, norm)

        self.loader.submit(step, job)

    def go_live(self) -> None:
        """Back to now: the newest live snapshot goes to the panels."""
        self.loader.cancel()
        was = self.pinned is not None
        self.pinned = self.shown_step = None
        if was and self.latest_live is not None:
            self.controller.set_snapshot(self.latest_live)
        self.changed.emit()

    def _on_live(self, snapshot: Any) -> None:
        self.latest_live = snapshot
        if self.pinned is None:
            self.controller.set_snapshot(snapshot)

    def _on_loaded(self, step: Any, result: Any) -> None:
        if step != self.pinned:
            return  # Live since, or another step asked for
        if isinstance(result, str):
            self.failed.emit(result)
            return
        self.shown_step = int(step)
        self.controller.set_snapshot(result, stored=True)
        self.shown.emit(self.shown_step)

    def _on_model_changed(self, _change: Any) -> None:
        self.latest_live = None
        if self.pinned is not None:
            self.loader.cancel()
            self.pinned = self.shown_step = None
        QTimer.singleShot(0, self, self.refresh)  # a new run begins with the new model


def timeline_for(session: Any) -> Timeline | None:
    """The session's timeline (a child of it), or None before a window installs one."""
    return session.findChild(Timeline)


class TimelineBar(QToolBar):
    """The timeline's controls: a slider over the snapshots, their step, Play, Live."""

    def __init__(self, timeline: Timeline, parent: QMainWindow) -> None:
        super().__init__("Timeline", parent)
        self.setObjectName("timelineToolbar")
        self.setMovable(False)
        self.timeline = timeline
        self.addWidget(QLabel(" Timeline "))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("timelineSlider")
        self.slider.setMinimumWidth(240)
        self.slider.setPageStep(1)
        self.slider.setToolTip("Drag back through the run's snapshots: every panel shows the network at that step")
        self.addWidget(self.slider)
        self.step_label = QLabel()
        self.step_label.setObjectName("timelineStep")
        self.step_label.setMinimumWidth(200)
        self.addWidget(self.step_label)
        self.back_action = QAction("Earlier Snapshot", self, shortcut=QKeySequence("Ctrl+["))
        self.forward_action = QAction("Later Snapshot", self, shortcut=QKeySequence("Ctrl+]"))
        self.play_action = QAction("Play", self, shortcut=QKeySequence("Ctrl+Shift+Space"), checkable=True)
        self.play_action.setToolTip("Step through the snapshots from here to the newest, then return to Live")
        self.live_action = QAction("Live", self, shortcut=QKeySequence("Ctrl+End"))
        self.live_action.setToolTip("Show the network as it is now")
        self.back_action.setIconText("◀")
        self.forward_action.setIconText("▶")
        self.back_action.setToolTip("The snapshot before (Ctrl+[)")
        self.forward_action.setToolTip("The snapshot after; after the newest, Live (Ctrl+])")
        for action in (self.back_action, self.play_action, self.forward_action, self.live_action):
            self.addAction(action)
        self.back_action.triggered.connect(lambda: self.nudge(-1))
        self.forward_action.triggered.connect(lambda: self.nudge(+1))
        self.play_action.toggled.connect(self._play)
        self.live_action.triggered.connect(self.go_live)
        self.slider.valueChanged.connect(self._on_slider)
        self._player = QTimer(self, interval=PLAY_MS)
        self._player.timeout.connect(self._tick)
        self._refresher = QTimer(self, interval=REFRESH_MS)
        self._refresher.timeout.connect(timeline.refresh)
        self._refresher.start()
        timeline.changed.connect(self._sync)
        timeline.failed.connect(lambda message: self.step_label.setText(f"not shown: {message}"))
        self._syncing = False
        self._sync()

    def nudge(self, by: int) -> None:
        steps = self.timeline.steps
        if not steps:
            return
        if self.timeline.live:
            if by > 0:
                return  # nothing is later than now
            index = len(steps) - 1  # one back from now: the newest snapshot
        else:
            at = self.slider.value()
            if by > 0 and at >= len(steps) - 1:
                self.go_live()  # past the newest snapshot: now
                return
            index = max(0, min(len(steps) - 1, at + by))
        self.slider.setValue(index)
        self._on_slider(index)

    def go_live(self) -> None:
        self.play_action.setChecked(False)
        self.timeline.go_live()

    def _play(self, on: bool) -> None:
        if on:
            if self.timeline.live and self.timeline.steps:
                self.slider.setValue(0)
                self._on_slider(0)
            self._player.start()
        else:
            self._player.stop()

    def _tick(self) -> None:
        if self.timeline.live or self.slider.value() >= len(self.timeline.steps) - 1:
            self.go_live()
            return
        self.nudge(+1)

    def _on_slider(self, index: int) -> None:
        if self._syncing or not 0 <= index < len(self.timeline.steps):
            return
        step = self.timeline.steps[index]
        if step != self.timeline.pinned:
            self.timeline.show_step(step)

    def _sync(self) -> None:
        t = self.timeline
        self._syncing = True
        try:
            self.slider.setEnabled(bool(t.steps))
            self.slider.setRange(0, max(len(t.steps) - 1, 0))
            if t.live:
                self.slider.setValue(max(len(t.steps) - 1, 0))
            elif t.pinned in t.steps:
                self.slider.setValue(t.steps.index(t.pinned))
        finally:
            self._syncing = False
        for action in (self.back_action, self.play_action):
            action.setEnabled(bool(t.steps))
        self.forward_action.setEnabled(bool(t.steps) and not t.live)
        self.live_action.setEnabled(not t.live)
        if not t.steps:
            self.step_label.setText("no snapshots yet" if t.run_dir is not None else "not recording: no snapshots")
        elif t.live:
            self.step_label.setText(f"Live ({len(t.steps)} snapshots)")
        else:
            where = t.steps.index(t.pinned) + 1 if t.pinned in t.steps else 0
            self.step_label.setText(f"step {t.pinned:,} (snapshot {where} of {len(t.steps)})")


def install(window: QMainWindow) -> TimelineBar:
    """The timeline under the main toolbar of ``window``, over the run it records or follows."""
    session = window.session  # type: ignore[attr-defined]

    def run_dir() -> Path | None:
        follow = getattr(window.runs, "following", None)  # type: ignore[attr-defined]
        if follow is not None and follow.run_dir is not None:
            return Path(follow.run_dir)
        recorder = session.recorder
        return recorder.current_run if recorder is not None else None

    timeline = Timeline(session, run_dir)
    bar = TimelineBar(timeline, window)
    window.addToolBarBreak(Qt.ToolBarArea.TopToolBarArea)
    window.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    window.timeline = timeline  # type: ignore[attr-defined]
    return bar
