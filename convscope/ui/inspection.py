"""The image being inspected, and what the latest snapshot of the network makes of it.

One :class:`InspectionController` per session (``controller_for(session)``) holds the
chosen image (as loaded, and fitted to the model's input), the move controls'
transform, and the latest :class:`~convscope.events.Snapshot`. When either changes it
asks a worker thread for ``Inspector.run`` on the moved image (at most ~8 Hz) and, less
often (every 2 s, only for a new snapshot), for statistics over a fixed validation batch:
dead/saturated units per layer and pre-activation histograms. Results come back as
signals on the GUI thread; panels draw them. The statistics are the costliest of these
(a 256-image forward pass on the two cores training uses): while no panel that shows
them (``watch_stats``) is on screen they are computed only every 10 s, for the dead-unit
history, and at once when such a panel is shown.

Why a worker and not the GUI thread: ``Inspector.run`` on one image is ~1.5 ms, but the
first call for an architecture compiles (~0.7 s) and the 256-image batch statistics take
70–180 ms on a 2-core CPU, both of which would freeze the window. The two workers
(image, batch: an image never waits behind a batch) are ProbeRunners
(ui/probe_runner.py), "latest wins": a newer request replaces the waiting one, and the
running one's result is dropped.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QTimer, Signal, Slot
from PySide6.QtWidgets import QWidget

from convscope import events as ev
from convscope.config import ArchSpec
from convscope.probes.batch_stats import BatchStats
from convscope.ui.inspection_worker import Inspectors, Job, Result, inspection_job
from convscope.ui.panels.training import CurveBuffer
from convscope.ui.probe_runner import ProbeRunner
from convscope.ui.visibility import on_screen

log = logging.getLogger(__name__)

INSPECT_S = 0.125  # at most 8 inspections a second: the maps follow a slider drag smoothly
STATS_INTERVAL_S = 2.0  # batch statistics at most every 2 s (~0.1 s of CPU each: training comes first)
STATS_AWAY_S = 10.0  # ... and every 10 s while no panel showing them is on screen (the history's points)
WATCH_POLL_S = 0.25  # statistics held back for an unseen panel: how often to look whether it is shown
STATS_BATCH = 256  # validation images behind the histograms and the dead/saturated fractions
STRIP_SIZE = 16  # validation examples offered in the image panel
IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.bmp *.gif *.tif *.tiff *.webp);;All files (*)"


@dataclass(frozen=True)
class Transform:
    """The move controls: shift (pixels right / down), rotation (degrees, counter-
    clockwise) and scale, all about the image centre (see ``transform_image``)."""

    dx: int = 0
    dy: int = 0
    angle: float = 0.0
    scale: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self == Transform()


@dataclass(frozen=True)
class ChosenImage:
    """The image the user picked: as loaded, and fitted to the model's input shape."""

    original: np.ndarray  # uint8 (H, W, 3 | 1)
    fitted: np.ndarray  # uint8 (h, w, c) of the model, before the move controls
    label: str  # "validation example 3" or the file name
    true_class: int | None = None  # known for validation examples


@dataclass
class LayerHistory:
    """Dead and saturated fractions of one layer against the training step."""

    dead: CurveBuffer = field(default_factory=CurveBuffer)
    saturated: CurveBuffer = field(default_factory=CurveBuffer)


def usable(snapshot: Any) -> bool:
    """A snapshot the Inspector can run: parameters down to the classifier and a
    positive input standard deviation (a stand-in engine may send empty ones)."""
    if not isinstance(snapshot, ev.Snapshot) or "logits" not in snapshot.params:
        return False
    norm = np.asarray(snapshot.norm)
    c = snapshot.arch.input_shape[2]
    return norm.shape == (2, c) and bool(np.all(norm[1] > 0))


class InspectionController(QObject):
    """The chosen image, the move controls and the latest snapshot → inspections.

    Signals: ``image_changed`` (a new image or transform; ``model_image`` is ready at
    once), ``inspected(Inspection)`` (the latest snapshot's view of ``inspected_image``),
    ``stats_updated(BatchStats)``, ``snapshot_changed(Snapshot)`` (usable snapshots
    only; ``stored`` says whether it is a stored step the timeline shows), ``model_reset()`` (the session's model changed: everything above is gone
    until the new model's first snapshot), ``failed(str)`` (the worker hit an error)
    and ``recovered()`` (the next inspection after a failure succeeded).

    Every job carries the session's model generation; a result or an error of an older
    generation is dropped when it arrives.
    """

    image_changed = Signal()
    examples_changed = Signal()  # a new data set: new validation examples to offer
    inspected = Signal(object)
    stats_updated = Signal(object)
    snapshot_changed = Signal(object)
    model_reset = Signal()  # a new model: no inspection, statistics or snapshot until its first
    failed = Signal(str)
    recovered = Signal()  # an inspection succeeded after ``failed``: the condition is gone

    def __init__(self, session: Any, parent: QObject | None = None) -> None:
        super().__init__(parent if parent is not None else session)
        self.session = session
        self.dataset = session.dataset
        self.arch: ArchSpec = session.arch
        self.snapshot: ev.Snapshot | None = None
        self.stored = False  # ``snapshot`` is a stored step of the run (the timeline), not live
        self.image: ChosenImage | None = None
        self.transform = Transform()
        self.model_image: np.ndarray | None = None  # uint8 model input after the transform
        self.inspection: Any = None  # latest Inspection
        self.inspected_image: np.ndarray | None = None  # the uint8 input it was computed for
        self.inspected_step = -1
        self.stats: BatchStats | None = None
        self.history: dict[str, LayerHistory] = {}
        x_val = np.asarray(getattr(self.dataset, "x_val", np.zeros((0, *self.arch.input_shape), np.uint8)))
        self.examples = x_val[:STRIP_SIZE]
        self.example_labels = np.asarray(getattr(self.dataset, "y_val", np.zeros(0, int)))[:STRIP_SIZE]
        self._batch = np.ascontiguousarray(x_val[:STATS_BATCH])
        self._generation = int(getattr(session, "generation", 0))  # of the model shown
        self._image_dirty = False
        self._stats_dirty = False
        self._last_stats = -1e9
        self._last_image = -1e9
        self._workers: dict[str, ProbeRunner] = {}  # "image", "batch": one thread each
        self._inspectors: dict[str, Inspectors] = {}  # each thread's own
        self._error_shown = ""
        self._stats_watchers: list[QWidget] = []  # panels that show the statistics (watch_stats)

        session.bridge.snapshot_taken.connect(self.set_snapshot)
        session.model_changed.connect(self._on_model_changed)
        # Throttled on both edges: a change is sent at once when the last request is old
        # enough (so a new snapshot costs no waiting), else when this timer fires.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.tick)
        if len(self.examples):
            self.choose_example(0)

    # ----------------------------------------------------------------- images
    def choose_example(self, index: int) -> None:
        """Inspect validation example ``index`` (already in the model's format)."""
        self.choose_validation(index)

    def choose_validation(self, index: int) -> None:
        """Inspect example ``index`` of the whole validation split (the strip shows the
        first ones); raises IndexError outside the split."""
        x_val = self.dataset.x_val
        if not 0 <= index < len(x_val):
            raise IndexError(f"validation example {index} does not exist (the split has {len(x_val)})")
        img = np.asarray(x_val[index], np.uint8)
        labels = np.asarray(getattr(self.dataset, "y_val", ()))
        true = int(labels[index]) if index < len(labels) else None
        self._set_image(ChosenImage(img, self._fit(img, invert=False), f"validation example {index}", true))

    def open_image(self, path: str | Path) -> None:
        """Load a user's file; raises ``ImageError`` (and keeps the current image)."""
        from convscope.data.images import load_image

        original = load_image(path)
        self._set_image(ChosenImage(original, self._fit(original), Path(path).name))

    def set_image_array(self, img: np.ndarray, label: str = "image") -> None:
        """Inspect an array (uint8 (H, W) or (H, W, C)) as if it had been loaded."""
        original = np.asarray(img, np.uint8)
        if original.ndim == 2:
            original = original[..., None]
        self._set_image(ChosenImage(original, self._fit(original), label))

    def _fit(self, img: np.ndarray, invert: bool | None = None) -> np.ndarray:
        from convscope.data.images import fit_image

        shape = tuple(self.arch.input_shape)
        if img.shape == shape and invert is False:
            return img
        return fit_image(img, shape, invert=invert)

    def _set_image(self, image: ChosenImage) -> None:
        self.image = image
        self._update_model_image()

    # ----------------------------------------------------------------- move controls
    def set_transform(self, transform: Transform) -> None:
        if transform != self.transform:
            self.transform = transform
            self._update_model_image()

    def move(self, **changes: Any) -> None:
        """Change some of dx, dy, angle, scale (the others stay)."""
        t = self.transform
        self.set_transform(Transform(**{**t.__dict__, **changes}))

    def reset_transform(self) -> None:
        self.set_transform(Transform())

    def _update_model_image(self) -> None:
        from convscope.data.images import transform_image

        if self.image is None:
            return
        t = self.transform
        fitted = self.image.fitted
        self.model_image = fitted if t.is_identity else transform_image(fitted, t.dx, t.dy, t.angle, t.scale)
        self._image_dirty = True
        self.image_changed.emit()
        self.tick()

    # ----------------------------------------------------------------- snapshots
    @Slot(object)
    def set_snapshot(self, snapshot: ev.Snapshot, stored: bool = False) -> None:
        """The network the panels show: live (training's latest), or ``stored``, a step of
        the run the timeline shows (panels draw it without taking it for training's)."""
        if not usable(snapshot):
            return
        self.snapshot, self.stored = snapshot, stored
        self._image_dirty = True
        self._stats_dirty = True
        self.snapshot_changed.emit(snapshot)
        self.tick()

    @Slot(object)
    def _on_model_changed(self, change: Any) -> None:
        """A new model (and perhaps a new data set): everything computed for the old one
        is forgotten, and results still on their way are dropped (they carry the old
        generation). Until the new model's first snapshot nothing is inspected: the old
        model cannot take the new images."""
        self._generation = change.generation
        self._timer.stop()
        self.history.clear()
        self.stats = None
        self.snapshot, self.stored = None, False
        self.inspection = None
        self.inspected_image = None
        self.inspected_step = -1
        if self._error_shown:  # the model that failed is gone, and its trouble with it
            self._error_shown = ""
            self.recovered.emit()
        old_shape = tuple(self.arch.input_shape)
        self.arch = change.arch
        if change.new_data:
            self.dataset = change.dataset
            x_val = np.asarray(change.dataset.x_val)
            self.examples = x_val[:STRIP_SIZE]
            self.example_labels = np.asarray(change.dataset.y_val)[:STRIP_SIZE]
            self._batch = np.ascontiguousarray(x_val[:STATS_BATCH])
            self._stats_dirty = False
        self.model_reset.emit()
        if change.new_data:
            self.examples_changed.emit()
            if len(self.examples):
                self.choose_example(0)
        elif tuple(change.arch.input_shape) != old_shape and self.image is not None:
            img = self.image
            self._set_image(ChosenImage(img.original, self._fit(img.original), img.label, img.true_class))

    # ----------------------------------------------------------------- who looks
    def watch_stats(self, widget: QWidget) -> None:
        """``widget`` shows the batch statistics: while no such widget is on screen they
        are computed every ``STATS_AWAY_S`` instead of every ``STATS_INTERVAL_S``."""
        self._stats_watchers.append(widget)

    def _stats_seen(self) -> bool:
        """A panel showing the statistics is on screen (or none was registered: a script's
        or a test's controller, which gets them at the full rate)."""
        self._stats_watchers = [w for w in self._stats_watchers if shiboken6.isValid(w)]
        return not self._stats_watchers or any(on_screen(w) for w in self._stats_watchers)

    # ----------------------------------------------------------------- the worker
    @Slot()
    def tick(self) -> None:
        """Send what changed to the worker, if its last request of that kind is old
        enough; otherwise come back when it is (at most ~8 inspections a second, one
        batch every 2 s, or 10 s while no panel showing it is on screen)."""
        snap = self.snapshot
        if snap is None:
            return
        now = time.monotonic()
        waits = []
        if self._image_dirty and self.model_image is not None:
            if now - self._last_image >= INSPECT_S:
                self._image_dirty = False
                self._last_image = now
                self._submit(Job(self._generation, snap, image=self.model_image))
            else:
                waits.append(self._last_image + INSPECT_S - now)
        if self._stats_dirty and len(self._batch):
            seen = self._stats_seen()
            interval = STATS_INTERVAL_S if seen else STATS_AWAY_S
            if now - self._last_stats >= interval:
                self._stats_dirty = False
                self._last_stats = now
                self._submit(Job(self._generation, snap, batch=self._batch))
            else:  # an unseen panel's are looked at again soon: shown, it catches up at once
                left = self._last_stats + interval - now
                waits.append(left if seen else min(left, WATCH_POLL_S))
        if waits:
            # The soonest wait wins: an image must not wait behind the statistics' 2 s.
            ms = max(1, int(1000 * min(waits)) + 1)
            if not self._timer.isActive() or self._timer.remainingTime() > ms:
                self._timer.start(ms)

    def _submit(self, job: Job) -> None:
        kind = "image" if job.image is not None else "batch"
        if kind not in self._workers:
            runner = self._workers[kind] = ProbeRunner(f"inspect-{kind}", self)
            self._inspectors[kind] = Inspectors()
            runner.finished.connect(self._on_result if kind == "image" else self._on_stats)
            runner.errored.connect(self._on_error)
        self._workers[kind].submit(job.generation, inspection_job(job, self._inspectors[kind]))

    def idle(self) -> bool:
        """Nothing waiting or running (for tests and screenshots): statistics held back
        because no panel on screen shows them do not count."""
        return (
            not self._image_dirty
            and not (
                self._stats_dirty and self.snapshot is not None and len(self._batch) and self._stats_seen()
            )
            and all(worker.idle() for worker in self._workers.values())
        )

    def shutdown(self, timeout_s: float = 0.5) -> bool:
        """Stop the workers, waiting up to ``timeout_s`` in all; one still busy (say,
        compiling) is a daemon thread and ends on its own, its result dropped."""
        self._timer.stop()
        workers = list(self._workers.values())
        self._workers.clear()
        deadline = time.monotonic() + timeout_s
        return all([worker.shutdown(max(0.0, deadline - time.monotonic())) for worker in workers])

    def _on_result(self, _generation: int, result: Result) -> None:
        if result.generation != self._generation:
            return  # computed for a model that has since been replaced
        if self._error_shown:
            self._error_shown = ""
            self.recovered.emit()
        self.inspection = result.inspection
        self.inspected_image = result.image
        self.inspected_step = result.step
        self.inspected.emit(result.inspection)

    def _on_stats(self, _generation: int, payload: tuple[int, BatchStats]) -> None:
        generation, stats = payload
        if generation != self._generation:
            return
        self.stats = stats
        for act, layer in stats.layers.items():
            hist = self.history.setdefault(act, LayerHistory())
            if self.stored or (hist.dead.size and hist.dead.x[-1] >= stats.step):
                continue  # the timeline's step (not training's), or a paused model's again
            hist.dead.append(stats.step, 100.0 * layer.dead)
            hist.saturated.append(stats.step, 100.0 * layer.saturated)
        self.stats_updated.emit(stats)

    def _on_error(self, generation: int, message: str) -> None:
        if generation != self._generation:
            return  # an old model's trouble: the panels no longer show it
        if message != self._error_shown:  # once per distinct error, not 8 times a second
            self._error_shown = message
            self.failed.emit(message)


def controller_for(session: Any) -> InspectionController:
    """The session's one InspectionController (created on first use, a child of it)."""
    found = session.findChild(InspectionController)
    if found is None:
        found = InspectionController(session)
    return found
