"""Deep visualization panel: what each channel of a layer wants to see.

For every channel of the chosen spatial layer, side by side: the synthetic input that
excites it most (activation maximization, all channels in one batched call) and the
top-k validation patches (its receptive field around the strongest response). Beside it
the chosen channel's detail (its feature map for the inspected image too) over saliency
for the inspected image (saliency_view.py); a click on a channel opens the large view,
its pictures ≥ 256 px in a window of their own (deepvis_large.py).

Nothing heavy runs on the GUI thread: the probes run on ProbeRunners (latest request
wins; a progress bar counts the steps), the panel's through its ProbeFeed
(ui/probe_feed.py). While training, the panel recomputes at most every ``REFRESH_S`` s,
only when a newer snapshot arrived, only when it is on screen and its last computation
is done (a new snapshot never cancels one), and never while frozen. A new model (reset, checkpoint, architecture, data set) does cancel the
running computation: its pictures would describe a model that no longer exists, and
could have fewer channels than the layer of the same name now has. A full top-k pass over ``TOPK_IMAGES`` validation images (a few tens of
milliseconds of forward passes) per refresh is cheaper than tracking it every step.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from convscope import events as ev
from convscope.probes.deepvis import ActMaxResult, ActMaxSettings
from convscope.probes.deepvis_job import (
    DeepVisRequest,
    DeepVisResult,
    deepvis_job,
    default_layer,
    map_layers,
)
from convscope.probes.topk import DEFAULT_K, TopK
from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.deepvis_controls import RegularizerControls
from convscope.ui.panels.deepvis_large import ChannelLargeView, progress_bar
from convscope.ui.panels.deepvis_views import ChannelDetail, ChannelGrid
from convscope.ui.panels.mapview import (
    ExportButton,
    ThrottledRedraw,
    export_scene,
    heading,
    layer_picker,
)
from convscope.ui.panels.saliency_view import SaliencyView
from convscope.ui.probe_feed import ProbeFeed
from convscope.ui.session import Session

REFRESH_S = 4.0  # while training: at most one recomputation per 4 s (training keeps the CPU)
TICK_MS = 250
REDRAW_MS = 200
TOPK_IMAGES = 1000  # validation images searched for the top-k patches
TRAINING_SHARE = 0.5  # while training, the probes compute at most half the time
ACTMAX_PROGRESS = "maximizing: %v / %m steps"  # activation maximization (the bar's tooltip says so)


class DeepVisPanel(ThrottledRedraw, QWidget):
    title = "Deep visualization"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self.feed = ProbeFeed(self, session, "deepvis", training_share=TRAINING_SHARE, min_interval_s=REFRESH_S)
        self.feed.keep_job = lambda: self.frozen  # frozen pictures keep their snapshot: their job stays
        self.runner = self.feed.runner
        self.snapshot: ev.Snapshot | None = None  # the snapshot computed on (kept while frozen)
        self.layer = ""
        self.channel = 0
        self.settings = ActMaxSettings()
        self.k = DEFAULT_K
        self.topk: TopK | None = None
        self.actmax: ActMaxResult | None = None
        self.result_step = -1
        self.requests = 0  # computations submitted
        self._snapshot_generation = 0  # the generation of ``snapshot``
        self.error = ""
        self.stopped = False  # the user stopped the last computation
        self._layers: dict[str, tuple[int, ...]] = {}
        self._requested: DeepVisRequest | None = None
        self._dirty = False
        x_val = np.asarray(getattr(self.controller.dataset, "x_val", np.zeros((0, 1, 1, 1), np.uint8)))
        self.images = np.ascontiguousarray(x_val[:TOPK_IMAGES])

        self.heading = heading("Deep visualization: waiting for the model…")
        self.picker = layer_picker("The layer whose channels are visualised", 14, self._on_pick)
        self.freeze_button = QToolButton()
        self.freeze_button.setText("Freeze")
        self.freeze_button.setCheckable(True)
        self.freeze_button.setToolTip("Keep these pictures (and this snapshot of the model) while training goes on")
        self.freeze_button.toggled.connect(self.set_frozen)
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Recompute")
        self.refresh_button.setToolTip("Run activation maximization and top-k again on the latest snapshot")
        self.refresh_button.clicked.connect(self.recompute)
        self.stop_button = QToolButton()
        self.stop_button.setText("Stop")
        self.stop_button.setToolTip("Stop the computation now; Recompute (or, while training, the next "
                                    "snapshot) starts it again")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        self.export_button = ExportButton(self.export, "deep-visualization.png")
        self.controls = RegularizerControls()
        self.controls.changed.connect(self._on_settings)
        self.progress = progress_bar(ACTMAX_PROGRESS)
        self.progress.setToolTip("Computing the pictures: top-k patches, then activation maximization "
                                 "(\"maximizing\": its gradient-ascent steps)")
        self.status = QLabel("")  # errors, and what is being computed
        self.status.setWordWrap(True)
        self.status.hide()

        self.grid = ChannelGrid()
        self.grid.clicked.connect(self.open_large)
        self.detail = ChannelDetail()
        self.detail.clicked.connect(lambda: self.open_large(self.channel))
        names = tuple(getattr(self.controller.dataset, "class_names", ()))
        self.saliency = SaliencyView(names)
        self.large = ChannelLargeView(self)  # its own window, shown on a click

        top = QHBoxLayout()
        top.addWidget(QLabel("Layer:"))
        top.addWidget(self.picker)
        top.addWidget(self.heading, stretch=1)
        for button in (self.freeze_button, self.refresh_button, self.stop_button, self.export_button):
            top.addWidget(button)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.detail)
        right.addWidget(self.saliency)
        self.body = QSplitter(Qt.Orientation.Horizontal)
        self.body.addWidget(self.grid)
        self.body.addWidget(right)
        self.body.setStretchFactor(0, 3)
        self.body.setStretchFactor(1, 2)
        self.body.setSizes([3000, 2000])  # scaled to the width it gets: the grid has the most channels
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        settings_row = QHBoxLayout()
        settings_row.addWidget(self.controls, stretch=1)
        settings_row.addWidget(self.progress, stretch=1)
        layout.addWidget(self.status)
        layout.addLayout(settings_row)
        layout.addWidget(self.body, stretch=1)

        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(self._on_error)
        self.runner.busy_changed.connect(self._on_busy)
        self.saliency.runner.busy_changed.connect(self._on_busy)
        self.feed.model_started.connect(self._on_model_started)
        self.controller.snapshot_changed.connect(self._on_snapshot)
        self.controller.image_changed.connect(self._on_image)
        self.controller.inspected.connect(self._on_inspected)
        self.controller.examples_changed.connect(self._on_dataset)
        self._tick_timer = QTimer(self)
        self._tick_timer.setInterval(TICK_MS)
        self._tick_timer.timeout.connect(self.tick)
        self._tick_timer.start()
        # At exit the app waits a bounded time for every probe thread, then leaves (ui/app.py).
        self.start_redraw_timer(REDRAW_MS)
        if self.controller.model_image is not None:
            self.saliency.set_image(self.controller.model_image)
        if self.controller.snapshot is not None:
            self._on_snapshot(self.controller.snapshot)

    # ----------------------------------------------------------------- inputs
    def _on_dataset(self) -> None:
        """A new data set: top-k ranks its validation images, saliency names its classes."""
        if not self.frozen:
            self._cancel_jobs("a new data set")
        x_val = np.asarray(self.controller.dataset.x_val)
        self.images = np.ascontiguousarray(x_val[:TOPK_IMAGES])
        self.saliency.set_class_names(tuple(getattr(self.controller.dataset, "class_names", ())))

    @property
    def frozen(self) -> bool:
        return self.freeze_button.isChecked()

    def _on_snapshot(self, snapshot: ev.Snapshot) -> None:
        new_arch = self.snapshot is None or snapshot.arch != self.snapshot.arch
        if self.frozen and not new_arch:
            return  # a new architecture has nothing to do with the frozen pictures: it is taken
        self.snapshot, self._snapshot_generation = snapshot, self.generation
        self.saliency.set_snapshot(snapshot, self.generation)
        if new_arch:
            self._set_layers(map_layers(snapshot.arch))
        self.tick()

    # Model starts (reset, checkpoint, architecture) seen; the least time between computations.
    generation = property(lambda self: self.feed.generation)
    refresh_s = property(lambda self: self.feed.min_interval_s,
                         lambda self, s: setattr(self.feed, "min_interval_s", s))

    def _on_model_started(self) -> None:
        if not self.frozen:
            self._cancel_jobs("a new model")

    def _cancel_jobs(self, why: str) -> None:
        """Cancel what runs for the old model; the next tick computes for the new one."""
        if not self.runner.idle():
            self.runner.cancel()
            self.progress.setRange(0, 1)
            self.progress.setValue(0)
            self.progress.setFormat(f"cancelled: {why}")
        self.saliency.runner.cancel()
        self.feed.finished_at = -1e9  # the new model's pictures at once, not after the throttle

    def _set_layers(self, layers: dict[str, tuple[int, ...]]) -> None:
        self._cancel_jobs("a new architecture")
        self._layers = layers
        self.topk = self.actmax = None
        self._requested = None
        with QSignalBlocker(self.picker):
            self.picker.clear()
            for name, shape in layers.items():
                self.picker.addItem(f"{name} · {'×'.join(map(str, shape))}", name)
            keep = self.layer if self.layer in layers else default_layer(list(layers))
            if keep:
                self.picker.setCurrentIndex(list(layers).index(keep))
        channels = layers[keep][-1] if keep else 0
        self.channel = min(self.channel, channels - 1) if keep == self.layer else 0
        self.layer = keep
        self.channel = max(self.channel, 0)
        self._dirty = True
        self.detail.mark_dirty()
        if not layers:
            self.heading.setText("This model has no convolution layers: nothing to visualize")

    def _on_pick(self, index: int) -> None:
        name = self.picker.itemData(index)
        if name and name != self.layer:
            self.layer, self.channel = name, 0
            self._dirty = True
            self.refresh()
            self.redraw()

    def select_layer(self, name: str) -> None:
        self.picker.setCurrentIndex(list(self._layers).index(name))

    def _on_settings(self, settings: ActMaxSettings, k: int) -> None:
        self.settings, self.k = settings, k
        self.refresh()

    def _on_image(self) -> None:
        self.saliency.set_image(self.controller.model_image)
        if self.on_screen():
            self.saliency.request()  # the user moved or chose the image: at once

    def _on_inspected(self, _inspection: object) -> None:
        self.detail.mark_dirty()
        self.request_redraw()

    def set_frozen(self, frozen: bool) -> None:
        """Freeze: keep the pictures and their snapshot; thaw: follow the latest one."""
        if frozen != self.freeze_button.isChecked():
            self.freeze_button.setChecked(frozen)  # comes back here through toggled
            return
        if not frozen and self.controller.snapshot is not None:
            self._on_snapshot(self.controller.snapshot)
        self._update_heading()

    # ----------------------------------------------------------------- computing
    def _request(self) -> DeepVisRequest | None:
        if self.snapshot is None or not self.layer:
            return None
        if self._snapshot_generation != self.generation and not self.frozen:
            return None  # the old model's snapshot: wait for the new model's first
        return DeepVisRequest(self._snapshot_generation, self.snapshot.step, self.layer, self.settings, self.k)

    def tick(self) -> None:
        """Recompute when the results are older than the snapshot, the panel is on
        screen, the last computation is done and ``refresh_s`` old; the same for saliency."""
        if not self.feed.on_screen():
            return
        if self.feed.ready() and self._request() != self._requested:
            self.refresh()
        if self.saliency.runner.idle() and self.saliency.stale:
            self.saliency.request()

    def refresh(self, force: bool = False) -> bool:
        """Compute for the current snapshot, layer and settings (latest request wins)."""
        self.controls.flush()
        req = self._request()
        if req is None or (req == self._requested and not force):
            return False
        if tuple(self.images.shape[1:]) != tuple(self.snapshot.arch.input_shape):  # type: ignore[union-attr]
            self._show_error(f"the validation images are {self.images.shape[1:]}, the model expects "
                             f"{tuple(self.snapshot.arch.input_shape)}")  # type: ignore[union-attr]
            return False
        self._requested = req
        self.requests += 1
        if self.stopped:
            self.stopped = False
            self._set_status("", "")
        self.feed.submit(req, deepvis_job(self.snapshot, req, self.images))  # type: ignore[arg-type]
        self.progress.setRange(0, req.settings.steps)  # a busy (0, 0) bar would hide its text
        self.progress.setValue(0)
        self.progress.setFormat(f"top-{req.k} patches…")
        return True

    def recompute(self) -> None:
        """Compute again for the latest snapshot (also what was stopped, saliency included)."""
        self.refresh(force=True)
        self.saliency.request(force=self.saliency.stopped)

    def stop(self) -> None:
        """Cancel the computations now; what was drawn stays. Recompute, or a new snapshot
        or setting, starts again."""
        saliency_stopped = self.saliency.stop()
        if self.runner.idle():
            if saliency_stopped:
                self._set_status("Stopped saliency. Recompute starts it again.", "")
            return
        self.runner.cancel()
        self.stopped = True
        self.feed.hold()  # while training, the next refresh waits its turn
        stage = self.progress.format()
        if stage.endswith("patches…"):
            where = "while finding the top-k patches"
        else:
            where = f"after {self.progress.value()} of {self.progress.maximum()} steps of activation maximization"
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("stopped")
        self._set_status(f"Stopped {where}. Recompute starts it again.", "")
        self.status.setToolTip("")

    def _on_progress(self, tag: DeepVisRequest, payload: tuple) -> None:
        if tag != self._requested:
            return  # of a request given up (a new model or layer): not this panel's pictures
        if payload[0] == "topk":
            self.topk = payload[1]
            self._dirty = True
            self.detail.mark_dirty()
            self.request_redraw()
            self.progress.setRange(0, tag.settings.steps)
            self.progress.setValue(0)
            self.progress.setFormat(ACTMAX_PROGRESS)
        else:
            self.progress.setValue(payload[1])

    def _on_finished(self, tag: DeepVisRequest, result: DeepVisResult) -> None:
        if tag != self._requested:
            return
        self.topk, self.actmax, self.result_step = result.topk, result.actmax, tag.step
        self.error = ""
        self._dirty = True
        self.detail.mark_dirty()
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat(f"done in {result.actmax.seconds:.1f} s")
        self._set_status("", "")
        self._update_heading()
        self.request_redraw()

    def _on_error(self, _tag: object, message: str) -> None:
        self._show_error(message)  # (the feed counts the interval from now)

    def _show_error(self, message: str) -> None:
        self.error = message
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("failed")
        # One line (JAX appends paragraphs of advice); the whole message in the tooltip.
        first = message.strip().splitlines()[0] if message.strip() else "unknown error"
        self._set_status(f"Deep visualization failed: {first}", "error")
        self.status.setToolTip(message)

    def _on_busy(self, _busy: bool) -> None:
        self.refresh_button.setEnabled(True)
        self.stop_button.setEnabled(self.runner.busy or self.saliency.runner.busy)
        if self.runner.idle() and self.progress.format().endswith("patches…"):  # stopped before any count
            self.progress.setFormat("idle")

    def _set_status(self, text: str, kind: str) -> None:
        self.status.setText(text)
        self.status.setVisible(bool(text))
        self.status.setProperty("kind", kind)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)

    def _update_heading(self) -> None:
        if not self.layer:
            return
        shape = self._layers.get(self.layer, ())
        what = f"{self.layer}: {shape[-1]} channels" if shape else self.layer
        when = f" · step {self.result_step:,}" if self.result_step >= 0 else ""
        frozen = " · frozen" if self.frozen else ""
        self.heading.setText(f"{what}{when}{frozen}")

    # ----------------------------------------------------------------- drawing
    def redraw(self) -> None:
        if self._dirty:
            self._draw_grid()
        if self.detail._dirty:
            self.large.refresh()
        self.detail.redraw(self)

    def _draw_grid(self) -> None:
        if self.snapshot is None or self.layer not in self._layers:
            return
        self._dirty = False
        self.grid.draw(self)
        self._update_heading()

    @property
    def channel_count(self) -> int:
        return self._layers[self.layer][-1] if self.layer in self._layers else 0

    def layer_topk(self) -> TopK | None:
        """The top-k patches if they are of the layer shown, one row per channel it has."""
        t = self.topk
        return t if t is not None and t.layer == self.layer and len(t.values) == self.channel_count else None

    def layer_actmax(self) -> ActMaxResult | None:
        """The synthetic images if they are of the layer shown, one per channel it has."""
        a = self.actmax
        return a if a is not None and a.layer == self.layer and len(a.images) == self.channel_count else None

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._dirty = True  # the grid's columns follow the panel's shape

    def select_channel(self, channel: int) -> None:
        self.channel = channel
        self.detail.mark_dirty()
        self.large.refresh()
        self.detail.redraw(self)

    def open_large(self, channel: int) -> None:
        """Choose ``channel`` and show it large (synthetic input, top-k, saliency)."""
        self.select_channel(channel)
        self.large.open_view()

    # ----------------------------------------------------------------- files
    def export(self, path: str) -> None:
        export_scene(self.grid.graphics, path)
