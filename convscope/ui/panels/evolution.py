"""Feature evolution panel: Zeiler & Fergus's grid of a layer's channels over a run's
snapshots (channels down, snapshots across), in the window.

Each cell is the channel's strongest validation patch at that step, beside its synthetic
preferred input and, for the first conv block, the filter (``probes/evolution.py``, the
numbers ``convscope evolution`` writes). The snapshots are those of the run the
timeline shows (the run being recorded or followed); the patches are searched in the
data set's validation images. Computing reads every snapshot and takes a while, so it
runs on a worker thread when asked (Compute), with a progress line and Cancel; a new
model drops what was being computed. Hover a cell for its step, channel and value;
click a column to show that step on the timeline. Drag to pan, the wheel zooms. The
worker's job is ``evolution_job.py``.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from convscope.probes import evolution_export as exp
from convscope.probes.evolution import DEFAULT_CHANNELS, SEARCH_IMAGES
from convscope.probes.fields import spatial_layers
from convscope.runs.reader import checkpoint_steps
from convscope.shapes import layer_table
from convscope.ui.one_line_label import OneLineLabel
from convscope.ui.panels.evolution_job import Grid, Request, evolution_job
from convscope.ui.panels.mapview import ExportButton, heading, style_axis
from convscope.ui.probe_runner import ProbeRunner
from convscope.ui.session import Session
from convscope.ui.timeline import timeline_for

TRAINING_SHARE = 0.5  # while training, computing takes at most half the time
MIN_SCALE = 0.45  # screen pixels per grid pixel below which the view pans instead of shrinking
EXPORT_FILTER = "PNG image (*.png);;SVG drawing (*.svg);;The numbers, NumPy (*.npz)"
HINT = ("Hover a cell: its step, channel and value · click: that step on the timeline · drag: pan · "
        "wheel: zoom · double-click: fit")
NO_RUN = ("No run, so no snapshots: the grid shows a recorded run's snapshots. Train with recording on "
          "(File ▸ Runs Folder…, or convscope --runs DIR), or open one with File ▸ Follow Run… or Resume Run….")
NO_STEPS = ("The run has no snapshots yet: train a few steps (snapshots are kept at steps 0, 1, 2, 5, 10, 20, "
            "50, … and at every epoch's end), then Compute.")


class EvolutionPanel(QWidget):
    title = "Feature evolution"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.grid: Grid | None = None
        self.requested: Request | None = None
        self.runner = ProbeRunner("evolution", self)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(lambda _t, m: self._say(f"Not computed: {m}"))
        self.runner.busy_changed.connect(self._on_busy)

        self.heading = heading("Feature evolution: a layer's channels (down) over the run's snapshots (across).")
        self.layer = QComboBox()
        self.layer.setToolTip("The layer whose channels are shown")
        self.layer.setMinimumContentsLength(6)
        self.channels = QSpinBox()
        self.channels.setRange(1, DEFAULT_CHANNELS)
        self.channels.setValue(DEFAULT_CHANNELS)
        self.channels.setSuffix(" channels")
        self.channels.setToolTip("How many channels: the first N of the layer")
        self.synthetic = QCheckBox("Synthetic")
        self.synthetic.setChecked(True)
        self.synthetic.setToolTip("Beside each patch, the channel's synthetic preferred input "
                                  "(activation maximization; much slower than the patches alone)")
        self.compute_button = QPushButton("Compute")
        self.compute_button.setToolTip("Compute the grid over the snapshots of the run the timeline shows")
        self.compute_button.clicked.connect(self.compute)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.hide()  # beside the progress line, while computing
        self.cancel_button.clicked.connect(self.cancel)
        self.export_button = ExportButton(self.export, "evolution.png", filters=EXPORT_FILTER)
        self.export_button.setToolTip("Save the grid as PNG or SVG (with its labels), or its numbers as .npz")
        self.export_button.setEnabled(False)
        self.layer.currentIndexChanged.connect(lambda _i: self._fit_channels())
        self.layer.currentIndexChanged.connect(lambda _i: self._note_stale())
        self.channels.valueChanged.connect(lambda _v: self._note_stale())
        self.synthetic.toggled.connect(lambda _on: self._note_stale())

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.ci.setContentsMargins(2, 2, 8, 2)
        self.plot = self.graphics.ci.addPlot(row=0, col=0)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.showAxis("top")
        self.plot.hideAxis("bottom")
        self.plot.setLabel("top", "step")
        self.plot.setLabel("left", "channel")
        for side in ("top", "left"):
            style_axis(self.plot.getAxis(side), 10)
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.vb = self.plot.getViewBox()
        self.vb.invertY(True)
        self.vb.setAspectLocked(True)
        self.vb.sigRangeChanged.connect(lambda *_: self._set_ticks())
        self.vb.sigRangeChangedManually.connect(lambda *_: setattr(self, "_auto_fit", False))
        self.vb.sigResized.connect(lambda *_: self._auto_fit and self.fit_view())
        self._auto_fit = True
        self.image = pg.ImageItem(axisOrder="row-major")
        self.plot.addItem(self.image)
        self.placeholder = QLabel("Choose a layer and press Compute: for every snapshot of the run (across) and "
                                  "channel (down), the validation patch that excites the channel most, its "
                                  "synthetic preferred input and, for the first conv block, the filter.")
        self.placeholder.setObjectName("hint")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setMargin(24)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.placeholder)
        self.stack.addWidget(self.graphics)
        self.graphics.scene().sigMouseMoved.connect(self._on_mouse)
        self.graphics.scene().sigMouseClicked.connect(self._on_click)

        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.progress.setMinimumWidth(180)
        self.progress.hide()
        self.hover = OneLineLabel()  # a long hint ends in "…" rather than widening the panel
        self.hover.setText(HINT)
        self.hover.setObjectName("hint")

        top = QHBoxLayout()
        top.addWidget(self.heading, stretch=1)
        top.addWidget(self.export_button, alignment=Qt.AlignmentFlag.AlignTop)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Layer:"))
        for widget in (self.layer, self.channels, self.synthetic, self.compute_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.hover, stretch=1)
        bottom.addWidget(self.progress)
        bottom.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addLayout(controls)
        layout.addWidget(self.stack, stretch=1)
        layout.addLayout(bottom)
        session.arch_changed.connect(lambda _a: self._fill_layers())
        session.model_changed.connect(self._on_model_changed)
        self._fill_layers()

    # ------------------------------------------------------------- controls
    def _fill_layers(self) -> None:
        current = self.layer.currentText()
        names = spatial_layers(self.session.arch)
        self.layer.blockSignals(True)
        self.layer.clear()
        self.layer.addItems(names)
        self.layer.setCurrentIndex(names.index(current) if current in names else 0)
        self.layer.blockSignals(False)
        self._fit_channels()

    def _fit_channels(self) -> None:
        rows = {r.name: r for r in layer_table(self.session.arch)}
        row = rows.get(self.layer.currentText())
        if row is not None:
            self.channels.setMaximum(int(row.shape[2]))
            self.channels.setToolTip(f"How many channels: the first N of the layer's {row.shape[2]}")
            self.channels.setMinimumWidth(self.channels.sizeHint().width())

    def _note_stale(self) -> None:
        g = self.grid
        if g is not None and not self.runner.busy:
            same = (self.layer.currentText(), self.channels.value(), self.synthetic.isChecked()) == (
                g.request.layer, len(g.request.channels), g.request.synthetic)
            self._say(self._summary(g) + ("" if same else " — press Compute for the new choice."))

    # ------------------------------------------------------------- computing
    def compute(self) -> bool:
        """Start computing the grid for the current choice; False (and a message) when it cannot."""
        timeline = timeline_for(self.session)
        if timeline is not None:
            timeline.refresh()  # the steps written since the bar last looked
        if timeline is None or timeline.run_dir is None:
            return self._refuse(NO_RUN)
        paths = checkpoint_steps(timeline.run_dir)
        if not paths:
            return self._refuse(NO_STEPS)
        arch = self.session.arch
        data = self.session.dataset
        images = np.asarray(getattr(data, "x_val", np.zeros((0,))))[:SEARCH_IMAGES]
        if images.ndim != 4 or tuple(images.shape[1:]) != tuple(arch.input_shape) or not len(images):
            return self._refuse(f"The data set has no validation images of the model's input "
                                f"{tuple(arch.input_shape)} to search for patches (it has {images.shape[1:]}).")
        layer = self.layer.currentText()
        if not layer:
            return self._refuse("The model has no layer with spatial maps to show.")
        req = Request(self.session.generation, Path(timeline.run_dir), layer,
                      tuple(range(self.channels.value())), self.synthetic.isChecked())
        self.requested = req
        self.runner.set_share(TRAINING_SHARE if self.session.is_training else 1.0)
        self.runner.submit(req, evolution_job(req, paths, arch, np.array(images, np.uint8)))
        self.progress.setRange(0, len(paths))
        self.progress.setValue(0)
        self.progress.setFormat("reading…")
        self.progress.show()
        self._say(f"Computing {layer} over {len(paths)} snapshots…")
        self.heading.setToolTip(f"The snapshots of {req.run_dir}")
        return True

    def cancel(self) -> None:
        if self.runner.busy:
            self.runner.cancel()
            self.requested = None
            self._say("Cancelled: nothing new computed." + (" The grid shown is the earlier one."
                                                            if self.grid is not None else ""))

    def _refuse(self, message: str) -> bool:
        self._say(message)
        return False

    def _on_busy(self, busy: bool) -> None:
        for widget in (self.cancel_button, self.progress):
            widget.setEnabled(busy)
            widget.setVisible(busy)

    def _on_progress(self, _req: Any, payload: Any) -> None:
        done, total, text = payload
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setFormat(text)

    def _on_finished(self, req: Any, result: Any) -> None:
        if req != self.requested or req.generation != self.session.generation:
            return  # asked for before the model changed, or replaced since
        self.requested = None
        if isinstance(result, str):
            self._say(result)
            return
        self.show_grid(result)

    def _on_model_changed(self, _change: Any) -> None:
        was_busy = self.runner.busy
        self.runner.cancel()
        self.requested = None
        if was_busy or self.grid is not None:
            self._clear()
            self._say("The model changed" + (" while computing: that grid was dropped." if was_busy else ".")
                      + " Compute to see the new model's run.")

    def _clear(self) -> None:
        self.grid = None
        self.image.clear()
        self.export_button.setEnabled(False)
        self.stack.setCurrentWidget(self.placeholder)

    # ------------------------------------------------------------- drawing
    def _summary(self, g: Grid) -> str:
        ev = g.ev
        return (f"{ev.layer} · {len(ev.channels)} channels × {len(ev.steps)} snapshots, steps "
                f"{int(ev.steps[0]):,}–{int(ev.steps[-1]):,} · {ev.seconds:.1f} s" + (f" · {g.notes}" if g.notes else ""))

    def show_grid(self, g: Grid) -> None:
        self.grid = g
        self.stack.setCurrentWidget(self.graphics)
        self.image.setImage(g.picture, levels=(0, 255))
        self._say(self._summary(g))
        self.heading.setToolTip(f"The snapshots of {g.request.run_dir}")
        cells = " | ".join(["patch"] + ["synthetic input"] * (g.ev.synthetic is not None)
                           + ["filter"] * (g.ev.filters is not None))
        self.plot.setLabel("top", f"step  ·  each cell: {cells}")
        self.export_button.setEnabled(True)
        self._auto_fit = True
        self.fit_view()
        self._set_ticks()

    def fit_view(self, whole: bool = False) -> None:
        """The whole grid when it is readable so (or ``whole``), else its top left at
        :data:`MIN_SCALE` (drag to see the rest)."""
        if self.grid is None:
            return
        h, w = self.grid.picture.shape[:2]
        rect = self.vb.boundingRect()
        vw, vh = max(rect.width(), 1.0), max(rect.height(), 1.0)
        pad = 2 * exp.GAP
        scale = min(vw / (w + 2 * pad), vh / (h + 2 * pad))
        if not whole:
            scale = max(scale, MIN_SCALE)
        x1, y1 = vw / scale - pad, vh / scale - pad  # both at one scale: the aspect stays locked
        # Limits wide enough for this range, so that they never move it.
        self.vb.setLimits(xMin=-pad, xMax=max(w + pad, x1), yMin=-pad, yMax=max(h + pad, y1))
        self.vb.setRange(xRange=(-pad, x1), yRange=(-pad, y1), padding=0)

    def _set_ticks(self) -> None:
        g = self.grid
        if g is None:
            self.plot.getAxis("top").setTicks([[]])
            self.plot.getAxis("left").setTicks([[]])
            return
        col, row = g.cell_w + exp.GAP, exp.CELL + exp.GAP
        px = self.vb.viewPixelSize()[0] or 1.0  # grid pixels per screen pixel
        need = 8 * len(f"{int(g.ev.steps[-1]):,}") + 16  # screen pixels a step's label takes, with room
        every_s = max(1, int(np.ceil(need * px / col)))
        every_c = max(1, int(np.ceil(18 * px / row)))
        self.plot.getAxis("top").setTicks([[(s * col + g.cell_w / 2, f"{int(st):,}")
                                            for s, st in enumerate(g.ev.steps) if s % every_s == 0]])
        self.plot.getAxis("left").setTicks([[(c * row + exp.CELL / 2, str(int(ch)))
                                             for c, ch in enumerate(g.ev.channels) if c % every_c == 0]])

    def cell_at(self, scene_pos: QPointF) -> tuple[int, int] | None:
        """(snapshot index, channel index) of the cell under ``scene_pos``, if any."""
        g = self.grid
        if g is None or not self.vb.sceneBoundingRect().contains(scene_pos):
            return None
        p = self.vb.mapSceneToView(scene_pos)
        s, c = int(p.x() // (g.cell_w + exp.GAP)), int(p.y() // (exp.CELL + exp.GAP))
        if p.x() < 0 or p.y() < 0 or s >= len(g.ev.steps) or c >= len(g.ev.channels):
            return None
        return s, c

    def _on_mouse(self, pos: QPointF) -> None:
        cell = self.cell_at(pos)
        if cell is None or self.grid is None:
            return
        s, c = cell
        ev = self.grid.ev
        self.hover.setText(f"step {int(ev.steps[s]):,} · channel {int(ev.channels[c])}: strongest patch "
                           f"{ev.patch_values[s, c]:.4g} (validation image {int(ev.patch_indices[s, c])})")

    def _on_click(self, event: Any) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        if event.double():
            self.fit_view(whole=True)
            return
        cell = self.cell_at(event.scenePos())
        if cell is not None:
            self.show_on_timeline(cell[0])

    def show_on_timeline(self, index: int) -> bool:
        """Show snapshot ``index`` of the grid on the timeline (if it is the timeline's run)."""
        timeline = timeline_for(self.session)
        g = self.grid
        if g is None or timeline is None:
            return False
        step = int(g.ev.steps[index])
        if timeline.run_dir is None or Path(timeline.run_dir) != g.request.run_dir or step not in timeline.steps:
            self.hover.setText(f"Step {step:,} is not on the timeline now (it shows another run).")
            return False
        timeline.show_step(step)
        return True

    def _say(self, text: str) -> None:
        self.heading.setText(text)

    # ------------------------------------------------------------- export
    def export(self, path: str) -> None:
        """Write the grid as PNG or SVG (labels included) or its numbers as .npz, by suffix."""
        g = self.grid
        if g is None:
            raise OSError("nothing computed yet: press Compute first")
        suffix = Path(path).suffix.lower()
        if suffix not in (".png", ".svg", ".npz"):
            raise OSError(f"{path}: choose a name ending in .png, .svg or .npz")
        ev = g.ev
        title = (f"{g.request.run_dir.name}: {ev.layer}, channels {int(ev.channels[0])}-{int(ev.channels[-1])}, "
                 f"patches from {getattr(self.session.dataset, 'name', 'the')} validation images")
        with tempfile.TemporaryDirectory(prefix="convscope-evolution-") as tmp:
            exp.write(Path(tmp), ev, title)
            try:
                shutil.copyfile(Path(tmp) / f"evolution{suffix}", path)
            except OSError as e:
                raise OSError(f"{path}: cannot write ({e.strerror or e})") from e
