"""Evaluation panel: how the latest snapshot does on the whole validation split.

"Overall": the confusion matrix (true class in rows; counts or row percentages, colour =
share of the row), per-class precision, recall, F1 and support, accuracy and balanced
accuracy. "One class vs rest": a class, a threshold on p(class), precision and recall
there, the precision–recall curve with the threshold marked, and the TP / FP / FN / TN
galleries, most confident first. Clicking a thumbnail, or a confusion-matrix cell (its
most confident example), shows that validation image in the inspection panels.

The forward pass runs on the panel's :class:`~convscope.ui.probe_feed.ProbeFeed` runner, never the GUI
thread: "Evaluate now", or automatically every N steps while the panel is on screen and
once more when training pauses, so that the galleries' p values describe the model the
other panels show (an automatic request waits for a running one rather than cancelling
it, so fast training cannot starve a slow evaluation). Metrics conventions: ``probes.evaluate``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, QTimer
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QSplitter,
    QStyle,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from convscope import events as ev
from convscope.probes.evaluate import ClassRanking, OneVsRest
from convscope.probes.evaluate_job import EvalResult, evaluation_job
from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.evaluation_views import (
    ClassTable,
    ConfusionView,
    Gallery,
    PRPlot,
    pct,
    show_validation_example,
)
from convscope.ui.panels.mapview import heading
from convscope.ui.probe_feed import ProbeFeed
from convscope.ui.session import PAUSED, Session

GALLERY_MAX = 60  # thumbnails per gallery
SLIDER_STEPS = 1000  # the threshold slider moves in steps of 0.001
TRAINING_SHARE = 0.5  # while training, evaluation computes at most half the time
GALLERIES = (("TP", "True positives"), ("FP", "False positives"), ("FN", "False negatives"),
             ("TN", "True negatives"))


class EvaluationPanel(QWidget):
    title = "Evaluation"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        self._take_dataset(session.dataset, int(session.arch.num_classes))
        self.result: EvalResult | None = None
        self.ranking: ClassRanking | None = None
        self.ovr: OneVsRest | None = None
        self.requested_step: int | None = None  # the step of the last request
        self.requested_stored = False  # ... a stored step of the run (the timeline's)
        self.class_chosen = False  # the user picked the class: keep it across results
        self.feed = ProbeFeed(self, session, "evaluate", training_share=TRAINING_SHARE)
        self.runner = self.feed.runner
        self.feed.due.connect(self.refresh)
        self.feed.model_started.connect(self._on_model_started)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(lambda _tag, message: self.status.setText(f"Evaluation failed: {message}"))
        self.runner.busy_changed.connect(self._on_busy)

        # --- top row: what, when, how far
        self.refresh_button = QPushButton("Evaluate now")
        self.refresh_button.setToolTip("Run the latest snapshot on every validation image")
        self.refresh_button.clicked.connect(self.refresh)
        self.auto_check = QCheckBox("Auto every")
        self.auto_check.setChecked(True)
        self.auto_check.setToolTip("Evaluate again after this many training steps (while this panel is shown)")
        self.auto_steps = QSpinBox()
        self.auto_steps.setRange(1, 1_000_000)
        self.auto_steps.setValue(200)
        self.auto_steps.setSingleStep(50)
        self.auto_steps.setSuffix(" steps")
        self.progress = QProgressBar()
        self.progress.setFixedWidth(160)
        self.progress.setFormat("%v / %m images")
        self.progress.hide()
        self.summary = heading("Evaluation: waiting for the model…")
        top = QHBoxLayout()
        for w in (self.refresh_button, self.auto_check, self.auto_steps, self.progress):
            top.addWidget(w)
        top.addWidget(self.summary, stretch=1)
        self.status = QLabel("")
        self.status.setObjectName("hint")
        self.status.setWordWrap(True)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._overall_page(), "Overall")
        self.tabs.addTab(self._one_vs_rest_page(), "One class vs rest")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.tabs, stretch=1)
        layout.addWidget(self.status)

        self._threshold_timer = QTimer(self)  # a slider drag redraws at most ~30 times a second
        self._threshold_timer.setSingleShot(True)
        self._threshold_timer.setInterval(30)
        self._threshold_timer.timeout.connect(self._update_threshold)
        self.controller.snapshot_changed.connect(self._on_snapshot)
        session.state_changed.connect(self._on_state)
        session.dataset_changed.connect(self._on_dataset_changed)

    def resizeEvent(self, event: Any) -> None:
        super().resizeEvent(event)
        self._share_width()

    def _share_width(self) -> None:
        """The galleries get the width of a whole row (Gallery.ROW thumbnails), the PR curve
        the rest, until the user drags the splitter."""
        if getattr(self, "_split_touched", False):
            return
        total = sum(self.ovr_split.sizes()) or self.ovr_split.width()
        title = next(iter(self.gallery_titles.values())).width()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        need = title + max(g.row_width() for g in self.galleries.values()) + bar + 16  # + spacing, margins
        self.ovr_split.setSizes([max(total - need, self.pr_widget.minimumWidth()), need])

    def _take_dataset(self, data: Any, k: int) -> None:
        self.images = np.asarray(getattr(data, "x_val", np.zeros((0, 1, 1, 1), np.uint8)))
        self.labels = np.asarray(getattr(data, "y_val", np.zeros(0, np.int32)))
        names = [str(n) for n in getattr(data, "class_names", ())]
        self.class_names = names if len(names) == k else [str(i) for i in range(k)]

    def _on_dataset_changed(self, data: Any) -> None:
        """Another data set: forget every result (they describe other images and classes)."""
        self.runner.cancel()
        self._take_dataset(data, int(getattr(data, "num_classes", len(getattr(data, "class_names", ())))))
        self.result = self.ranking = self.ovr = None
        self.requested_step = None
        self.class_chosen = False
        self.confusion.clear_matrix(self.class_names)
        self.table.setRowCount(0)
        self.table.setRowCount(len(self.class_names))
        with QSignalBlocker(self.class_combo):
            self.class_combo.clear()
            self.class_combo.addItems(self.class_names)
        side = max(self.images.shape[1:3]) if self.images.ndim == 4 else 28
        for gallery in self.galleries.values():
            gallery.empty_for(side)
        self.pr_widget.curve.setData([], [])
        self.pr_widget.mark(float("nan"), float("nan"), "")
        self.ovr_label.setText("")
        self.summary.setText(f"Evaluation: new data set ({getattr(data, 'name', '')}), waiting for its model…")

    # ------------------------------------------------------------------ pages
    def _overall_page(self) -> QWidget:
        page = QWidget()
        self.counts_button = QRadioButton("Counts")
        self.fractions_button = QRadioButton("Row %")
        self.counts_button.setChecked(True)
        self.counts_button.setToolTip("Examples per cell")
        self.fractions_button.setToolTip("Share of each true class (row) predicted as each class")
        self._matrix_mode = QButtonGroup(page)
        self._matrix_mode.addButton(self.counts_button)
        self._matrix_mode.addButton(self.fractions_button)
        self.counts_button.toggled.connect(lambda _on: self._draw_matrix())
        self.confusion = ConfusionView()
        self.confusion.set_classes(self.class_names)
        self.confusion.setMinimumSize(260, 260)
        self.confusion.setToolTip("Click a cell to inspect its most confident example")
        self.confusion.cell_clicked.connect(self._on_cell)
        mode = QHBoxLayout()
        mode.addWidget(QLabel("Confusion matrix"), stretch=1)
        mode.addWidget(self.counts_button)
        mode.addWidget(self.fractions_button)
        left = QVBoxLayout()
        left.addLayout(mode)
        left.addWidget(self.confusion, stretch=1)

        self.table = ClassTable(len(self.class_names))
        self.table.cellClicked.connect(lambda row, _col: self.choose_class(row, user=True))
        right = QVBoxLayout()
        right.addWidget(QLabel("Per class (predicted = argmax)"))
        right.addWidget(self.table, stretch=1)
        row = QHBoxLayout(page)
        row.setContentsMargins(2, 2, 2, 2)
        row.addLayout(left, stretch=1)
        row.addLayout(right, stretch=1)
        return page

    def _one_vs_rest_page(self) -> QWidget:
        page = QWidget()
        self.class_combo = QComboBox()
        # Wide enough for the longest name of every data set ("circle" showed as "ci").
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.class_combo.addItems(self.class_names)
        self.class_combo.setToolTip("The class studied against all the others (default: the lowest F1)")
        self.class_combo.currentIndexChanged.connect(lambda i: self.choose_class(i, user=True))
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.slider.setValue(SLIDER_STEPS // 2)
        self.slider.setToolTip("Predict the class when p(class) ≥ this threshold")
        self.slider.valueChanged.connect(lambda _v: self._threshold_timer.start())
        self.threshold_label = QLabel()
        self.threshold_label.setMinimumWidth(70)
        self.ovr_label = QLabel("")
        self.ovr_label.setTextFormat(Qt.TextFormat.RichText)
        self.ovr_label.setWordWrap(True)
        controls = QHBoxLayout()
        controls.addWidget(QLabel("Class:"))
        controls.addWidget(self.class_combo)
        controls.addWidget(QLabel("  threshold p(class) ≥"))
        controls.addWidget(self.slider, stretch=1)
        controls.addWidget(self.threshold_label)

        self.pr_widget = PRPlot()
        # One gallery per row, its title beside it: each shows a whole row of thumbnails
        # (Gallery.ROW at 1600×1000); two side by side showed two or three each.
        rows = QGridLayout()
        rows.setSpacing(4)
        rows.setContentsMargins(0, 0, 0, 0)
        self.galleries: dict[str, Gallery] = {}
        self.gallery_titles: dict[str, QLabel] = {}
        for i, (kind, name) in enumerate(GALLERIES):
            title = QLabel(name)
            title.setWordWrap(True)
            bold = title.font()
            bold.setBold(True)
            title.setFixedWidth(QFontMetrics(bold).horizontalAdvance("negatives") + 6)  # the longest word
            title.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
            gallery = Gallery(max(self.images.shape[1:3]))
            gallery.setToolTip(f"{name}, most confident first; click one to inspect it")
            gallery.example_clicked.connect(self.show_example)
            self.galleries[kind], self.gallery_titles[kind] = gallery, title
            rows.addWidget(title, i, 0)
            rows.addWidget(gallery, i, 1)
            rows.setRowStretch(i, 1)
        galleries = QWidget()
        galleries.setLayout(rows)
        self.gallery_area = QScrollArea()  # docked small: scroll, rather than squeeze the rows
        self.gallery_area.setWidget(galleries)
        self.gallery_area.setWidgetResizable(True)
        self.gallery_area.setFrameShape(QFrame.Shape.NoFrame)
        self.gallery_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        curve = QWidget()  # the PR curve with the threshold's numbers under it
        column = QVBoxLayout(curve)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(self.pr_widget, stretch=1)
        column.addWidget(self.ovr_label)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(curve)
        split.addWidget(self.gallery_area)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        self.ovr_split = split
        layout = QVBoxLayout(page)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(controls)
        layout.addWidget(split, stretch=1)
        split.splitterMoved.connect(lambda *_: setattr(self, "_split_touched", True))
        self._show_threshold_value()
        return page

    # ------------------------------------------------------------------ requests
    @property
    def threshold(self) -> float:
        return self.slider.value() / SLIDER_STEPS

    def set_threshold(self, value: float) -> None:
        self.slider.setValue(int(round(min(max(value, 0.0), 1.0) * SLIDER_STEPS)))
        self._update_threshold()

    def refresh(self) -> bool:
        """Evaluate the latest snapshot now (replacing a running evaluation)."""
        snap = self.controller.snapshot
        if snap is None or not len(self.images):
            self.status.setText("Nothing to evaluate yet: waiting for the model.")
            return False
        if (tuple(snap.arch.input_shape) != tuple(self.images.shape[1:])
                or snap.arch.num_classes != len(self.class_names)):
            self.status.setText("Waiting for the model of the new data set.")
            return False
        self.requested_step, self.requested_stored = snap.step, self.feed.stored
        self.progress.setRange(0, len(self.images))
        self.progress.setValue(0)
        self.feed.submit(snap.step, evaluation_job(snap, self.images, self.labels))
        return True

    def _auto_due(self, step: int) -> bool:
        if not self.auto_check.isChecked():
            return False
        if self.requested_step is None or step < self.requested_step:  # new model, reset, checkpoint
            return True
        if self.feed.stored or self.requested_stored:  # the timeline's step, or back from it to live
            return step != self.requested_step
        if self.session.state == PAUSED and step != self.requested_step:
            return True  # paused: catch up with the model the other panels show (one evaluation)
        return step - self.requested_step >= self.auto_steps.value()

    @property
    def auto_waiting(self) -> bool:
        """An automatic refresh is due and waits (off screen, or busy)."""
        return self.feed.wanted

    def _on_snapshot(self, snap: ev.Snapshot) -> None:
        if self._auto_due(snap.step) or self.feed.wanted:
            self.feed.ask()  # the feed runs it when the panel is on screen and idle

    def _on_state(self, state: str) -> None:
        # The last snapshot of a run may arrive just before the pause is announced.
        if state == PAUSED and self.controller.snapshot is not None:
            self._on_snapshot(self.controller.snapshot)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self._share_width()

    def _on_model_started(self) -> None:
        self.requested_step = None  # (the feed cancelled the old model's evaluation)
        if self.result is not None:
            self.summary.setText(self.summary.text() + " · <i>(a previous model)</i>")

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)

    def _on_progress(self, _tag: Any, payload: tuple[int, int]) -> None:
        done, total = payload
        self.progress.setRange(0, total)
        self.progress.setValue(done)

    # ------------------------------------------------------------------ results
    def _on_finished(self, _tag: Any, result: EvalResult) -> None:
        self.result = result
        e = result.evaluation
        self.summary.setText(
            f"{result.label or f'Step {result.step:,}'}: accuracy <b>{pct(e.accuracy, 2)}</b> · balanced accuracy "
            f"<b>{pct(e.balanced_accuracy, 2)}</b> on {len(e.y_true):,} validation images "
            f"({result.seconds:.2f} s)"
        )
        self._draw_matrix()
        self.table.fill(e, self.class_names)
        cls = self.class_combo.currentIndex() if self.class_chosen else e.worst_class()
        self.choose_class(cls, user=False, force=True)

    def show_result(self, result: EvalResult) -> None:
        """Show another model's evaluation on these validation images (an ensemble's):
        Auto turns off so that it stays; Evaluate now returns to the model shown."""
        self.feed.runner.cancel()
        self.auto_check.setChecked(False)
        self._on_finished(None, result)
        self.status.setText(f"Showing {result.label}; Evaluate now (or Auto) returns to the model shown.")

    def _draw_matrix(self) -> None:
        if self.result is not None:
            self.confusion.show_matrix(self.result.evaluation.confusion, self.fractions_button.isChecked())

    def choose_class(self, cls: int, user: bool = False, force: bool = False) -> None:
        """Study class ``cls`` against the rest (user=True keeps it across new results)."""
        if not 0 <= cls < len(self.class_names):
            return
        if user:
            self.class_chosen = True
        with QSignalBlocker(self.class_combo):
            self.class_combo.setCurrentIndex(cls)
        if self.result is None or (not force and self.ranking is not None and self.ranking.cls == cls):
            return
        e = self.result.evaluation
        self.ranking = ClassRanking(e.probs, e.y_true, cls)
        curve = self.ranking.curve
        # From (recall 0, precision 1) so the curve starts at the top left, as usual.
        x = np.r_[0.0, curve.recall] if len(curve.recall) else np.zeros(0)
        y = np.r_[1.0, curve.precision] if len(curve.precision) else np.zeros(0)
        ok = np.isfinite(x) & np.isfinite(y)
        self.pr_widget.curve.setData(x[ok], y[ok])
        self.pr_widget.getPlotItem().setTitle(f"PR curve of {self.class_names[cls]}", size="11pt")
        self._update_threshold()

    def _show_threshold_value(self) -> None:
        self.threshold_label.setText(f"{self.threshold:.3f}")

    def _update_threshold(self) -> None:
        self._show_threshold_value()
        if self.ranking is None or self.result is None:
            return
        t = self.threshold
        ovr = self.ovr = self.ranking.at(t)
        name = self.class_names[ovr.cls]
        self.ovr_label.setText(
            f"Predict <b>{name}</b> when p({name}) ≥ {t:.3f}: precision <b>{pct(ovr.precision)}</b> · "
            f"recall <b>{pct(ovr.recall)}</b> · TP {ovr.tp:,} · FP {ovr.fp:,} · FN {ovr.fn:,} · TN {ovr.tn:,}"
            f" · average precision {pct(self.ranking.curve.average_precision)}"
        )
        self.pr_widget.mark(ovr.recall, ovr.precision, f"p ≥ {t:.2f}")
        e = self.result.evaluation
        scores = self.ranking.scores
        for kind, label in GALLERIES:
            idx = ovr.galleries[kind]
            shown = idx[:GALLERY_MAX]
            more = f", first {len(shown)}" if len(idx) > len(shown) else ""
            self.gallery_titles[kind].setText(f"<b>{label}</b> ({len(idx):,}{more})")
            tips = [f"validation example {i} · true {self.class_names[e.y_true[i]]} · predicted "
                    f"{self.class_names[e.y_pred[i]]} · p({name}) = {scores[i]:.3f}" for i in shown]
            self.galleries[kind].show_examples(shown, self.images[shown], scores[shown], tips)

    # ------------------------------------------------------------------ inspection
    def show_example(self, index: int) -> None:
        """Show validation example ``index`` in the inspection panels (Feature maps, Prediction…)."""
        show_validation_example(self.controller, int(index))
        true = self.class_names[int(self.labels[index])]
        self.status.setText(f"Validation example {index} (true class {true}) is now in the inspection panels.")

    def _on_cell(self, true_class: int, pred_class: int) -> None:
        if self.result is None:
            return
        index = self.result.evaluation.most_confident(true_class, pred_class)
        if index is None:
            self.status.setText(f"No validation example of class {self.class_names[true_class]} "
                                f"was predicted as {self.class_names[pred_class]}.")
            return
        self.show_example(index)
