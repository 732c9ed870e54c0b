"""Ensemble panel (issue 16): several trained models averaged, beside each of them.

Members come from the Runs panel's selection (each run's newest checkpoint) or from
checkpoint files. Evaluate predicts every member's softmax on the validation images of
the data set shown, off the GUI thread (``probes/ensemble_job.py``), and shows a table
of each member's accuracy, balanced accuracy and loss beside the ensemble's (mean of
softmax) and the majority vote's, and a gallery of the images the members disagree on.
Clicking one says what each member predicts and loads it into the inspection panels
(its maps, the prediction). Export writes the table as CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QMenu,
    QProgressBar,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from convscope.probes.ensemble_job import EnsembleOutcome, EnsembleRequest, ensemble_job, member_maps_job
from convscope.ui.inspection import controller_for
from convscope.ui.one_line_label import OneLineLabel
from convscope.ui.panels.ensemble_maps import MemberMapsView
from convscope.ui.panels.evaluation_views import Gallery
from convscope.ui.panels.mapview import ask_save_path, heading
from convscope.ui.probe_runner import ProbeRunner
from convscope.ui.run_selection import selection_for

COLUMNS = ("model", "step", "accuracy", "balanced accuracy", "loss")
GALLERY_MAX = 64
CSV_FILTER = "CSV (*.csv)"


class EnsemblePanel(QWidget):
    title = "Ensemble"
    area = "right"
    tab_with = "Training"

    def __init__(self, session: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller = controller_for(session)
        self.selection = selection_for(session)
        self.sources: list[str] = []
        self.outcome: EnsembleOutcome | None = None
        self.member_maps: Any = None  # probes.ensemble_job.MemberMaps of the disagreement clicked
        self.runner = ProbeRunner("ensemble", self)
        self.runner.progressed.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.errored.connect(lambda _tag, message: self._say(f"Ensemble: not evaluated — {message}"))
        self.runner.busy_changed.connect(self._on_busy)

        self.heading = heading("Ensemble: select two or more runs in the Runs panel, then Members ▸ The runs selected")
        self.heading.setWordWrap(True)
        self.use_runs = QAction("The runs selected in the Runs panel", self)
        self.use_runs.setToolTip("The runs selected in the Runs panel become the members (their newest checkpoints)")
        self.use_runs.triggered.connect(lambda: self.use_selected_runs())
        self.add_file = QAction("Add checkpoint files…", self)
        self.add_file.setToolTip("Add checkpoint files (.npz) as members")
        self.add_file.triggered.connect(lambda: self.add_checkpoints())
        self.clear_button = QAction("Clear", self)
        self.clear_button.triggered.connect(lambda: self.clear())
        self.evaluate_button = QToolButton(text="Evaluate")
        self.evaluate_button.setToolTip("Every member and their mean on the validation images of the data set shown")
        self.evaluate_button.clicked.connect(self.evaluate)
        self.train_button = QAction("Train new members…", self)
        self.train_button.setToolTip("Train N members with the model and settings shown, seeds 0 … N−1, one after "
                                     "another, recorded as runs; then evaluate them")  # fmt: skip
        self.train_button.triggered.connect(lambda: self.ask_and_train())
        self.cancel_button = QToolButton(text="Cancel")
        self.cancel_button.setToolTip("Stop training the members (those finished are kept)")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_training)
        self.trainer = ProbeRunner("ensemble-train", self)
        self.trainer.progressed.connect(self._on_train_progress)
        self.trainer.finished.connect(self._on_trained)
        self.trainer.errored.connect(lambda _tag, message: self._say(f"Ensemble: training stopped — {message}"))
        self.trainer.busy_changed.connect(self._on_train_busy)
        self.to_evaluation = QToolButton(text="In Evaluation")
        self.to_evaluation.setToolTip("Show the ensemble in the Evaluation panel: confusion matrix, per-class "
                                      "precision/recall/F1, PR curve, galleries")  # fmt: skip
        self.to_evaluation.setEnabled(False)
        self.to_evaluation.clicked.connect(lambda: self.show_in_evaluation())
        self.export_button = QToolButton(text="Export…")
        self.export_button.setToolTip("Write the table as CSV")
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(lambda: self.export_csv())
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(160)
        self.progress.setFormat("%v / %m members")
        self.progress.hide()
        top = QHBoxLayout()
        menu = QMenu(self)
        for action in (self.use_runs, self.add_file, self.train_button, None, self.clear_button):
            menu.addSeparator() if action is None else menu.addAction(action)
        self.members_button = QToolButton(text="Members")
        self.members_button.setToolTip("Choose the members: runs selected in the Runs panel, checkpoint files, or "
                                       "new ones trained now")  # fmt: skip
        self.members_button.setMenu(menu)
        self.members_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        for w in (self.members_button, self.evaluate_button, self.to_evaluation, self.export_button):
            top.addWidget(w)
        top.addWidget(self.progress, stretch=1)
        top.addWidget(self.cancel_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.gallery = Gallery()
        self.gallery.example_clicked.connect(self.show_disagreement)
        self.detail = OneLineLabel()  # the whole of it in the tooltip
        self.maps = MemberMapsView()
        self.maps_runner = ProbeRunner("ensemble-maps", self)
        self.maps_runner.finished.connect(self._on_maps)
        self.maps_runner.errored.connect(lambda _tag, message: self.detail.setText(f"Maps not computed: {message}"))
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.gallery_label = OneLineLabel()
        self.gallery_label.setText("Disagreements: the images the members do not all classify alike")
        right_layout.addWidget(self.gallery_label)
        self.views = QTabWidget()  # each its whole width: side by side, neither was readable at 1280×720
        self.views.setDocumentMode(True)
        self.views.addTab(self.gallery, "Disagreements")
        self.views.addTab(self.maps, "Members on the image clicked")
        right_layout.addWidget(self.views, stretch=1)
        right_layout.addWidget(self.detail)
        body = QSplitter(Qt.Orientation.Vertical)  # the table above the gallery: the panel is a tab, narrow
        body.addWidget(self.table)
        body.addWidget(right)
        body.setSizes([2000, 3000])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addLayout(top)
        layout.addWidget(body, stretch=1)
        session.dataset_changed.connect(lambda _d: self._forget("a new data set"))

    # ------------------------------------------------------------------ members
    def set_members(self, sources: list[str]) -> None:
        self.runner.cancel()
        self.sources = list(dict.fromkeys(str(s) for s in sources))  # in order, once each
        self._forget("")
        self.table.setRowCount(len(self.sources))
        for i, source in enumerate(self.sources):
            item = QTableWidgetItem(Path(source).name)
            item.setToolTip(source)
            self.table.setItem(i, 0, item)
            for j in range(1, len(COLUMNS)):
                self.table.setItem(i, j, QTableWidgetItem(""))
        self.table.resizeColumnsToContents()
        n = len(self.sources)
        self._say(f"Ensemble of {n} members: Evaluate" if n >= 2 else
                  "Ensemble: two members at least (select runs in the Runs panel, or add checkpoints)")

    def use_selected_runs(self) -> None:
        runs = [self.selection.runs[k] for k in self.selection.selected if k in self.selection.runs]
        usable = [str(r.dir) for r in runs if not r.damaged]
        self.set_members(usable)
        if len(usable) < 2:
            self._say(f"Ensemble: {len(usable)} usable run{'s' if len(usable) != 1 else ''} selected; select two or "
                      "more in the Runs panel (Ctrl+click)")  # fmt: skip

    def add_checkpoints(self, paths: list[str] | None = None) -> None:
        if paths is None:
            paths, _ = QFileDialog.getOpenFileNames(self, "Add checkpoints to the ensemble", "",
                                                    "Checkpoints (*.npz)")  # fmt: skip
        if paths:
            self.set_members([*self.sources, *paths])

    def clear(self) -> None:
        self.set_members([])

    # ------------------------------------------------------------------ computing
    def evaluate(self) -> bool:
        """Start evaluating the members; False (and why, in the heading) when it cannot."""
        if len(self.sources) < 2:
            self._say("Ensemble: two members at least (select runs in the Runs panel, or add checkpoints)")
            return False
        ds = self.session.dataset
        if len(getattr(ds, "y_val", ())) == 0:
            self._say("Ensemble: the data set shown has no validation images to evaluate on")
            return False
        req = EnsembleRequest(tuple(self.sources), np.asarray(ds.x_val), np.asarray(ds.y_val, np.int64),
                              tuple(ds.image_shape), int(ds.num_classes), getattr(ds, "val_split", None),
                              self.session.generation)  # fmt: skip
        self.progress.setRange(0, len(self.sources))
        self.progress.setValue(0)
        self._say(f"Ensemble: evaluating {len(self.sources)} members on {len(req.labels):,} validation images…")
        self.runner.submit(req, ensemble_job(req))
        return True

    def _on_progress(self, _tag: Any, payload: tuple[int, int]) -> None:
        self.progress.setRange(0, payload[1])
        self.progress.setValue(payload[0])

    def _on_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.evaluate_button.setEnabled(not busy)

    def _on_finished(self, req: Any, outcome: EnsembleOutcome) -> None:
        if req.sources != tuple(self.sources):
            return  # the members changed since
        self.outcome = outcome
        r = outcome.result
        rows = [(f"{i + 1}. {m.name}", f"{m.step:,}", e.accuracy, e.balanced_accuracy, loss)  # maps: by number
                for i, (m, e, loss) in enumerate(zip(outcome.members, r.members, r.member_losses, strict=True))]
        rows.append(("Ensemble (mean of softmax)", "", r.evaluation.accuracy, r.evaluation.balanced_accuracy, r.loss))
        rows.append(("Majority vote", "", r.vote_accuracy, float("nan"), float("nan")))
        self.table.setRowCount(len(rows))
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                text = value if isinstance(value, str) else ("—" if np.isnan(value) else
                                                             f"{value:.2%}" if j in (2, 3) else f"{value:.4f}")
                item = QTableWidgetItem(text)
                if i >= len(outcome.members):
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.table.setItem(i, j, item)
        self.table.resizeColumnsToContents()
        best = max(e.accuracy for e in r.members)
        gain = r.evaluation.accuracy - best
        self._say(f"Ensemble of {r.size}: <b>{r.evaluation.accuracy:.2%}</b> ({gain:+.2%} on the best member's "
                  f"{best:.2%}); the members disagree on {len(r.disagreements):,} of {len(r.vote):,} images "
                  f"({outcome.seconds:.1f} s)")  # fmt: skip
        self._fill_gallery(outcome)
        self.export_button.setEnabled(True)
        self.to_evaluation.setEnabled(True)

    def _fill_gallery(self, outcome: EnsembleOutcome) -> None:
        r, images = outcome.result, outcome.request.images
        shown = r.disagreements[:GALLERY_MAX]
        self.gallery.empty_for(int(images.shape[1]))
        probs = r.evaluation.probs
        scores = probs[shown, r.evaluation.y_pred[shown]] if len(shown) else np.zeros(0)
        tips = [self._describe(int(i), outcome) for i in shown]
        self.gallery.show_examples(shown, images[shown], scores, tips)
        more = f" (the first {GALLERY_MAX} shown)" if len(r.disagreements) > GALLERY_MAX else ""
        self.gallery_label.setText(f"Disagreements: {len(r.disagreements):,} images{more}; under each, the "
                                   "ensemble's probability of its answer; click one")  # fmt: skip

    def _describe(self, index: int, outcome: EnsembleOutcome) -> str:
        r = outcome.result
        names = list(getattr(self.session.dataset, "class_names", ()))
        label = (lambda k: names[k]) if names else str  # noqa: E731
        probs = r.member_probs[:, index]
        members = ", ".join(f"{m.name}: {label(int(p.argmax()))} ({p.max():.2f})"
                            for m, p in zip(outcome.members, probs, strict=True))  # fmt: skip
        e = r.evaluation
        return (f"validation image {index}: true {label(int(e.y_true[index]))} · ensemble "
                f"{label(int(e.y_pred[index]))} ({e.probs[index].max():.2f}) · vote {label(int(r.vote[index]))} · "
                f"{members}")  # fmt: skip

    def show_disagreement(self, index: int) -> None:
        """Say what each member predicts for validation image ``index``, and inspect it."""
        if self.outcome is None:
            return
        self.detail.setText(self._describe(index, self.outcome))
        self.controller.choose_validation(index)
        image = self.outcome.request.images[index]
        self.maps_runner.submit(index, member_maps_job(tuple(self.sources), image, index))

    def _on_maps(self, index: Any, result: Any) -> None:
        if self.outcome is None or index != result.index:
            return
        self.member_maps = result
        names = list(getattr(self.session.dataset, "class_names", ()))
        answers = [f"{names[int(p.argmax())] if names else int(p.argmax())} ({p.max():.2f})" for p in result.probs]
        self.maps.show_members([str(i + 1) for i in range(len(answers))], result.maps, answers)
        self.views.setTabText(1, f"Members on image {index}")
        self.views.setCurrentWidget(self.maps)

    def show_in_evaluation(self) -> bool:
        """The Evaluation panel works on the ensemble as on one model."""
        from convscope.probes.evaluate_job import EvalResult

        window = self.session.parent()
        panel = getattr(window, "panels", {}).get("Evaluation")
        if self.outcome is None or panel is None:
            return False
        r = self.outcome.result
        panel.show_result(EvalResult(-1, r.evaluation, self.outcome.seconds, f"Ensemble of {r.size}"))
        dock = getattr(window, "docks", {}).get("Evaluation")
        if dock is not None:
            dock.show()
            dock.raise_()
        return True

    # ------------------------------------------------------------------ training members
    def ask_and_train(self) -> bool:
        """Ask how many members and epochs, then train them."""
        n, ok = QInputDialog.getInt(self, "Train ensemble members", "Members (seeds 0 … N−1):", 3, 2, 20)
        if not ok:
            return False
        epochs, ok = QInputDialog.getDouble(self, "Train ensemble members", "Epochs each:", 3.0, 0.1, 1000.0, 1)
        return ok and self.train_members(n, epochs)

    def train_members(self, n: int, epochs: float) -> bool:
        """Train ``n`` members of the model shown for ``epochs`` each (a worker thread),
        recorded under the runs folder; they become the members and are evaluated."""
        from convscope.runs import default_root
        from convscope.train.members import train_members

        recorder = getattr(self.session, "recorder", None)
        root = Path(recorder.root) if recorder is not None else Path(default_root())
        arch, config, dataset = self.session.arch, self.session.config, self.session.dataset

        def job(ctx: Any) -> list[str] | None:
            import threading

            stop = threading.Event()

            def progress(p: Any) -> None:
                ctx.report(p)
                if ctx.cancelled():
                    stop.set()

            dirs = train_members(arch, config, dataset, n, epochs, root, stop=stop, progress=progress)
            return [str(d) for d in dirs]

        self._say(f"Ensemble: training {n} members for {epochs:g} epochs each, recorded in {root}…")
        self.trainer.submit(("train", n, epochs), job)
        return True

    def cancel_training(self) -> None:
        self.trainer.cancel()
        self._say("Ensemble: training cancelled; the members finished before stay in the Runs panel")

    def _on_train_progress(self, _tag: Any, p: Any) -> None:
        self.progress.setFormat(f"member {p.member + 1}/{p.members}: step %v / %m")
        self.progress.setRange(0, p.total_steps)
        self.progress.setValue(p.step)

    def _on_train_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.train_button.setEnabled(not busy)
        if not busy:
            self.progress.setFormat("%v / %m members")

    def _on_trained(self, _tag: Any, dirs: list[str]) -> None:
        self.set_members(dirs)
        if len(dirs) >= 2:
            self.evaluate()

    # ------------------------------------------------------------------ output
    def export_csv(self, path: str | None = None) -> str:
        if self.outcome is None:
            return ""
        if path is None:
            path = ask_save_path(self, "Export the ensemble's table", "ensemble.csv", CSV_FILTER)
            if not path:
                return ""
        try:
            with Path(path).open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow(COLUMNS)
                for i in range(self.table.rowCount()):
                    w.writerow([self.table.item(i, j).text() for j in range(len(COLUMNS))])
        except OSError as e:
            self._say(f"Ensemble: could not write {path} ({e.strerror or e})")
            return ""
        return path

    def _forget(self, why: str) -> None:
        self.runner.cancel()
        self.outcome = None
        self.table.setRowCount(min(self.table.rowCount(), len(self.sources)))  # the members stay listed
        for i in range(self.table.rowCount()):
            for j in range(1, len(COLUMNS)):
                self.table.setItem(i, j, QTableWidgetItem(""))
        self.gallery.empty_for(int(getattr(self.session.dataset, "image_shape", (28,))[0]))
        self.detail.setText("")
        self.maps_runner.cancel()
        self.maps.clear_maps()
        self.views.setTabText(1, "Members on the image clicked")
        self.views.setCurrentWidget(self.gallery)
        self.export_button.setEnabled(False)
        self.to_evaluation.setEnabled(False)
        if why:
            self._say(f"Ensemble: evaluate again ({why})")

    def _say(self, text: str) -> None:
        self.heading.setText(text)
