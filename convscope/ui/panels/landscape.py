"""Loss landscape panel: the loss on a plane through the current weights (Li et al.
2018), on two random filter-normalised directions or the first two principal
components of the training trajectory, with the trajectory drawn on either; beside it the
loss along the line from the first snapshot to now and along one random direction.

Everything is computed on the panel's ProbeFeed's runner thread (latest request wins,
cancellable; the job is ``probes/landscape_job.py``); the two 1D lines come first (drawn at once), then the grid, coarse to
fine, drawn as it fills. While the model
trains, the runner may use at most the share of CPU time the user allows. "Follow
training" recomputes whenever a newer snapshot arrives (only after the one in progress
has its coarse lattice, so the view keeps up); a paused model's re-sent snapshot at the
same step starts nothing.

Coarse first, refined while idle: every grid fills every 4th point, then every 2nd,
then all, and goes on to the full grid unless something newer waits. Newer weights
(following training) stop it after its coarse lattice, so while training outruns the
grid the coarse view stays current, and once training pauses or slows down the grid of
the latest weights refines to the end. A changed control replaces the grid
``SETTLE_MS`` after the last change, and the new one refines fully once the controls rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPointF, QSignalBlocker, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

from convscope import events as ev
from convscope.probes.landscape_job import (
    GridProgress,
    LandscapeRequest,
    LandscapeResult,
    LinesReady,
    TrajectoryBuffer,
    describe_grid,
    describe_request,
    eval_batch,
    landscape_job,
    line_json,
    split_size,
)
from convscope.ui.inspection import controller_for
from convscope.ui.panels.landscape_controls import DEFAULT_SHARE, LandscapeControls
from convscope.ui.panels.landscape_views import LandscapePlots
from convscope.ui.panels.mapview import (
    ThrottledRedraw,
    ask_save_path,
    export_scene,
    heading,
)
from convscope.ui.probe_feed import ProbeFeed
from convscope.ui.session import Session

REDRAW_MS = 100
SETTLE_MS = 300  # a control that changes settles this long before a new grid starts
FOLLOW_GAP_S = 0.5  # follow training: at least this long between the end of one grid and the next
MAX_LIVE = 200  # later snapshots placed on the plane, at most
COMPACT_PX = 440  # a panel less tall than this hides its settings (the Settings button shows them)
NPZ_FILTER = "NumPy archive (*.npz)"


class LandscapePanel(ThrottledRedraw, QWidget):
    title = "Loss landscape"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = controller_for(session)
        # min_interval_s: following training, the least time from the end of one grid to the next
        self.feed = ProbeFeed(self, session, "landscape", training_share=DEFAULT_SHARE / 100,
                              min_interval_s=FOLLOW_GAP_S)
        self.runner = self.feed.runner
        self.snapshot: ev.Snapshot | None = None
        self.origin: ev.Snapshot | None = None  # the first snapshot of this model
        self.trajectory = TrajectoryBuffer()
        self.request: LandscapeRequest | None = None  # running or last submitted
        self.grid: Any = None  # the last finished LandscapeGrid
        self.lines: dict[str, Any] = {}
        self.plane: Any = None  # the last grid's plane, for live points
        self.live: list[tuple[int, np.ndarray]] = []
        self.stored: ev.Snapshot | None = None  # the timeline's stored step: a marker, never the path
        self.partial: GridProgress | None = None  # the grid being computed
        self.error = ""
        self.auto_compute = True  # a first landscape when the panel is first on screen
        self._auto_started = False
        self._settings_touched = False  # the user chose; no more hiding when docked small
        self._dirty = False
        self._build()

        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(self._on_error)
        self.runner.busy_changed.connect(self._on_busy)
        self.controller.snapshot_changed.connect(self._on_snapshot)
        self.feed.model_started.connect(self._reset)
        self._settle = QTimer(self, singleShot=True, interval=SETTLE_MS, timeout=self.compute)
        self._follow_timer = QTimer(self, singleShot=True, timeout=self._follow_tick)
        self.start_redraw_timer(REDRAW_MS)
        if self.controller.snapshot is not None:
            self._on_snapshot(self.controller.snapshot)
        self._update_heading()

    # ----------------------------------------------------------------- widgets
    def _build(self) -> None:
        self.heading = heading("Loss landscape: waiting for the model…")
        self.controls = LandscapeControls(self.export)
        self.plots = LandscapePlots()
        # The plots' parts, by their names (tests and the export use them).
        self.graphics, self.map = self.plots.graphics, self.plots.map
        self.line_interp, self.line_dir = self.plots.line_interp, self.plots.line_dir
        self.readout = QLabel(" ")
        self.readout.setWordWrap(True)
        self.message = QLabel("")
        self.message.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(self.heading, stretch=1)
        top.addWidget(self.controls.settings_button)
        top.addWidget(self.controls.export_button)
        top.addWidget(self.controls.save_button)
        layout.addLayout(top)
        layout.addWidget(self.controls)
        layout.addWidget(self.plots, stretch=1)
        layout.addWidget(self.message)
        layout.addWidget(self.readout)

        c = self.controls
        c.settings_changed.connect(self._settings_changed)
        c.compute_button.clicked.connect(lambda: self.compute())
        c.cancel_button.clicked.connect(self.cancel)
        c.follow.toggled.connect(self._on_follow)
        c.share.valueChanged.connect(lambda _v: self._apply_share())
        c.log_scale.toggled.connect(lambda _c: self._mark_dirty())
        c.three_d.toggled.connect(self._on_three_d)
        c.save_button.clicked.connect(lambda: self.save_npz())
        c.settings_button.clicked.connect(lambda: setattr(self, "_settings_touched", True))
        self.graphics.scene().sigMouseMoved.connect(self._on_hover)
        self._apply_share()

    # ----------------------------------------------------------------- controls
    def _settings_changed(self) -> None:
        if self.snapshot is not None:
            self._settle.start()

    def _apply_share(self) -> None:
        """The user's share while training; all of it while the model waits."""
        self.feed.training_share = self.controls.share.value() / 100
        self.feed.apply_share()

    def _on_follow(self, on: bool) -> None:
        if on:
            self._follow_tick()
        elif self.request is not None:
            self.request.coarse_only.clear()

    def _on_three_d(self, on: bool) -> None:
        failed = self.plots.set_three_d(on)
        if failed:
            with QSignalBlocker(self.controls.three_d):
                self.controls.three_d.setChecked(False)
            self.controls.three_d.setEnabled(False)
            self.controls.three_d.setToolTip(failed)
        self._mark_dirty()

    # ----------------------------------------------------------------- requests
    def compute(self, follow: bool = False) -> bool:
        """Start a grid around the latest snapshot with the current settings (it replaces
        one in progress); False, with a message, when there is nothing to compute on."""
        self._settle.stop()
        snap = self.snapshot
        if snap is None:
            self._show_message("No model yet: the landscape needs the first snapshot.", error=False)
            return False
        kind = self.controls.kind_value
        points = self.trajectory.points()
        if kind == "pca" and len(points) < 3:
            self._show_message(
                f"PCA directions need at least 3 snapshots of the training trajectory ({len(points)} so far): "
                "train a little, or use random directions.",
                error=True,
            )
            return False
        size = int(self.controls.batch.currentData())
        split = self.controls.split.currentData()
        try:
            x, y = eval_batch(self.session.dataset, split, size)
            # The 1D lines show each split that has images (a set may have no validation split).
            lines = {s: eval_batch(self.session.dataset, s, size) for s in ("train", "val")
                     if split_size(self.session.dataset, s)}  # fmt: skip
        except (ValueError, AttributeError) as exc:
            self._show_message(f"Loss landscape: {exc}", error=True)
            return False
        c = self.controls
        request = LandscapeRequest(
            snap, self.origin, kind, c.seed, int(c.resolution.value()), float(c.span.value()), split,
            x, y, lines, tuple(points),
        )  # fmt: skip
        self.request = request
        self.partial = None
        self._show_message("")
        self.controls.progress.setRange(0, request.resolution**2)
        self.controls.progress.setValue(0)
        self.controls.progress.setFormat("starting…")
        self.runner.submit(("landscape", snap.step, follow), landscape_job(request))
        self._update_heading()
        return True

    def cancel(self) -> None:
        """Stop the grid in progress (what it computed stays); stops following too."""
        self._settle.stop()
        self._follow_timer.stop()
        with QSignalBlocker(self.controls.follow):
            self.controls.follow.setChecked(False)
        if self.runner.busy:
            self.runner.cancel()
            done = self.partial.progress.done if self.partial is not None else 0
            total = self.request.resolution**2 if self.request is not None else 0
            self._show_message(f"Cancelled after {done} of {total} grid points.", error=False)

    def _follow_tick(self) -> None:
        """Follow training: start the next grid if the weights moved since the last one."""
        snap = self.snapshot
        if not self.controls.follow.isChecked() or snap is None or not self.on_screen():
            return  # (a tab in the background computes nothing; redraw() catches up when shown)
        if self.request is not None and self.request.snapshot.step == snap.step:
            return  # a paused model re-sent the same weights
        if self.runner.busy:
            if self.request is not None:
                self.request.coarse_only.set()  # finish the coarse lattice, then move on
            return
        wait = self.feed.wait_left()  # since the last grid ended
        if wait > 0:
            self._follow_timer.start(int(wait * 1000) + 1)
            return
        self.compute(follow=True)

    # ----------------------------------------------------------------- events
    def _on_snapshot(self, snap: ev.Snapshot) -> None:
        had, self.stored = self.stored, snap if self.feed.stored else None
        if had is not None or self.stored is not None:
            self._mark_dirty()  # the marker comes, moves or goes
        if self.stored is not None:  # the past: neither a point of the path nor a grid's centre
            self._update_heading()
            return
        if self.snapshot is not None and snap.arch != self.snapshot.arch:
            self._reset()
        if self.origin is None:
            self.origin = snap
        self.snapshot = snap
        self.trajectory.add(snap.step, snap.params)
        if (
            self.plane is not None
            and snap.step > self.plane.step
            and (not self.live or snap.step > self.live[-1][0])
        ):
            try:
                self.live.append((snap.step, self.plane.project(snap.params)))
            except ValueError:
                self.plane = None
            del self.live[:-MAX_LIVE]
            self._mark_dirty()
        self.controls.compute_button.setEnabled(True)
        self._follow_tick()
        self._update_heading()

    def _reset(self) -> None:
        """A new model (reset, new architecture, checkpoint): forget the old one's views."""
        self.runner.cancel()
        self._settle.stop()
        self.snapshot = self.origin = self.request = self.grid = self.plane = self.partial = self.stored = None
        self.trajectory.clear()
        self.lines = {}
        self.live = []
        self._auto_started = False
        self.plots.clear()
        self.controls.save_button.setEnabled(False)
        self._show_message("")
        self._update_heading()

    def _on_progress(self, _tag: Any, payload: Any) -> None:
        if isinstance(payload, LinesReady) and payload.request is self.request:
            self.lines = payload.lines  # drawn now, while the grid is still to come
            self._mark_dirty()
            return
        if not isinstance(payload, GridProgress) or payload.request is not self.request:
            return
        self.partial = payload
        p = payload.progress
        self.controls.progress.setRange(0, p.total)
        self.controls.progress.setValue(p.done)
        level = {4: "coarse", 2: "finer", 1: "full"}.get(p.level, f"every {p.level}")
        self.controls.progress.setFormat(
            f"step {payload.request.snapshot.step:,}: {p.done}/{p.total} ({level})"
        )
        self._update_heading()
        self._mark_dirty()

    def _on_finished(self, _tag: Any, result: LandscapeResult) -> None:
        self.grid = result.grid
        self.lines = result.lines
        self.plane = result.plane
        self.live = []
        self.partial = None
        self.error = ""
        g = result.grid
        self.controls.progress.setRange(0, g.n_points)
        self.controls.progress.setValue(g.n_done)
        state = "" if g.complete else " (coarse)"
        self.controls.progress.setFormat(f"{g.n_done}/{g.n_points}{state} in {g.seconds:.1f} s")
        self.controls.save_button.setEnabled(True)
        self._update_heading()
        self._mark_dirty()
        if self.controls.follow.isChecked():
            self._follow_tick()

    def _on_error(self, _tag: Any, message: str) -> None:
        self.partial = None
        self.controls.progress.setFormat("failed")
        self._show_message(f"The loss landscape could not be computed: {message}", error=True)

    def _on_busy(self, busy: bool) -> None:
        self.controls.cancel_button.setEnabled(busy)
        if not busy and self.partial is not None and self.request is not None:
            self.controls.progress.setFormat(
                f"stopped at {self.partial.progress.done}/{self.partial.progress.total}"
            )

    def _show_message(self, text: str, error: bool = False) -> None:
        self.error = text if error else ""
        self.message.setText(text)
        self.message.setProperty("kind", "error" if error else "")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
        self.message.setVisible(bool(text))

    def _on_hover(self, pos: QPointF) -> None:
        source = self._map_source()
        if source is not None:
            text = self.map.describe_at(pos, source[2], source[3])
            if text:
                self.readout.setText(text)

    # ----------------------------------------------------------------- drawing
    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        if not self._settings_touched:  # docked small: the plots before the settings
            show = self.height() >= COMPACT_PX
            if show != self.controls.settings_button.isChecked():
                self.controls.settings_button.setChecked(show)

    def _mark_dirty(self) -> None:
        self._dirty = True
        self.request_redraw()

    def showing_partial(self) -> bool:
        """The grid being computed is drawn (rather than the last one) once its coarse
        lattice is whole, or at once when there is no last one."""
        return self.partial is not None and (self.partial.coarse_done or self.grid is None)

    def _map_source(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Any] | None:
        """(alphas, betas, loss, accuracy, trajectory) of the grid being computed, or the last one."""
        if self.showing_partial():
            part = self.partial
            assert part is not None
            return part.alphas, part.betas, part.progress.loss, part.progress.accuracy, part.trajectory
        g = self.grid
        if g is None:
            return None
        return g.alphas, g.betas, g.loss, g.accuracy, g.trajectory

    def redraw(self) -> None:
        if (
            self.auto_compute
            and self.snapshot is not None
            and not self._auto_started
            and self.grid is None
            and not self.runner.busy
        ):
            self._auto_started = True  # a first landscape when the panel is first looked at
            self.compute()
        elif self.controls.follow.isChecked() and not self.runner.busy and not self._follow_timer.isActive():
            self._follow_tick()
        if not self._dirty:
            return
        self._dirty = False
        live = np.array([xy for _s, xy in self.live]) if self.live and not self.showing_partial() else None
        self.plots.draw(self._map_source(), live, self.lines, self.controls.log_scale.isChecked(), self.stored_point())

    def stored_point(self) -> tuple[int, np.ndarray] | None:
        """The timeline's stored step at its (α, β) on the plane of the grid drawn."""
        if self.stored is None or self.plane is None or self.showing_partial():
            return None
        try:
            return self.stored.step, self.plane.project(self.stored.params)
        except ValueError:  # not the plane's parameters
            return None

    def _update_heading(self) -> None:
        snap, g = self.snapshot, self.grid
        if self.showing_partial():
            self.heading.setText(describe_request(self.partial.request))  # type: ignore[union-attr]
            return
        if snap is None:
            self.heading.setText("Loss landscape: waiting for the model…")
            return
        text = f"Loss landscape around step {snap.step:,}" if g is None else describe_grid(g)
        if self.stored is not None:
            n = self.stored.step
            text += f" · ◆ step {n:,} (timeline)" if self.stored_point() is not None else f" · timeline: step {n:,}"
        self.heading.setText(text)

    # ----------------------------------------------------------------- export
    def export(self, path: str) -> None:
        export_scene(self.graphics, path)

    def save_npz(self, path: str | None = None) -> str:
        """Save the last grid (and the interpolation line) with the numerics' writer."""
        if self.grid is None:
            return ""
        if path is None:
            path = ask_save_path(self, "Save the loss landscape", "loss-landscape.npz", NPZ_FILTER)
            if not path:
                return ""
        from convscope.probes.landscape_io import save_landscape_npz

        # The file holds one line; any other goes into its free-form "extra" (JSON).
        lines = dict(self.lines)
        line = lines.pop("interpolation", None) or lines.pop("direction", None)
        extra = {
            "source": "ConvScope loss landscape panel",
            "lines": {k: line_json(v) for k, v in lines.items()},
        }
        try:
            return str(save_landscape_npz(path, self.grid, line, extra=extra))
        except (OSError, ValueError) as exc:
            QMessageBox.warning(self, "Could not save the landscape", str(exc))
            return ""
