"""Runs panel: every run under the runs root as a sortable, filterable table.

Selecting rows selects the runs everywhere (their curves overlay the Training panel,
their lines stand out in the HParams view); the name, tags and notes are edited in
place or from the Edit menu (stored in the run's ``annotations.json``); Delete asks
first and refuses a run that is being written; Export CSV writes the rows shown.
A timer looks at the root every few seconds (one ``stat`` per run directory) and
re-reads only the runs whose directory changed, so new runs appear on their own.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelection, QItemSelectionModel, QModelIndex, Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from convscope.runs import RunSummary, default_root, delete_run, list_runs, read_summary
from convscope.runs.reader import HPARAMS, METRICS
from convscope.ui.panels.runs_table import (
    COLUMN,
    COLUMNS,
    KEY_ROLE,
    RunsProxy,
    RunsTableModel,
    augment_summary,
    wall_seconds,
)
from convscope.ui.run_selection import RunSelection, run_key, selection_for

POLL_MS = 3000
MAX_WIDTH = {"arch": 220, "name": 240, "notes": 240, "augment": 150, "data": 170, "tags": 160}
CSV_FILTER = "CSV files (*.csv);;All files (*)"
CSV_COLUMNS = ("id", "name", "status", "damaged", "created", "host", "data", "arch", "params", *HPARAMS,
               "augmentation", *METRICS, "wall_time", "tags", "notes", "dir")


def _stamp(path: str) -> int:
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return -1


class RunsPanel(QWidget):
    """The runs of one runs root; its selection is the session's :class:`RunSelection`."""

    title = "Runs"
    area = "bottom"
    tab_with = "Architecture"

    def __init__(self, session: Any, parent: QWidget | None = None, root: str | os.PathLike | None = None) -> None:
        super().__init__(parent)
        self.session = session
        recorder = getattr(session, "recorder", None)  # the window records its runs there
        if root is None:
            root = recorder.root if recorder is not None else default_root()
        self.root = Path(root)
        self.selection: RunSelection = selection_for(session)
        self.last_message = ""
        self._stamps: dict[str, int] = {}
        self._syncing = False

        self.model = RunsTableModel(self.selection, self)
        self.proxy = RunsProxy(self.selection, self)
        self.proxy.setSourceModel(self.model)
        self.view = QTableView()
        self.view.setObjectName("runsTable")
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(COLUMN["created"], Qt.SortOrder.DescendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setMouseTracking(True)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        self.view.setMinimumHeight(5 * (self.fontMetrics().height() + 6))  # a short dock scrolls, the table stays readable
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setResizeContentsPrecision(50)  # widths from the first rows, not all 1,000
        header.setStretchLastSection(True)
        self.view.entered.connect(self._on_entered)
        self.view.viewport().installEventFilter(self)
        self.view.selectionModel().selectionChanged.connect(self._on_view_selection)

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter: name, tag, data, architecture, status…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.selection.set_text)
        # Refresh and Export as buttons; the edits in a menu (and the table's context
        # menu), so that the row fits a narrow dock (1280×720) with room for the filter.
        self.actions: dict[str, QAction] = {}
        for name, tip, slot in (
            ("Refresh", "Read the runs folder again", self.refresh),
            ("Rename…", "Give the selected run a new name (or double-click its name)", self.rename_selected),
            ("Tags…", "Set the selected runs' tags (words separated by spaces)", self.tag_selected),
            ("Note…", "Write a note on the selected run", self.note_selected),
            ("Delete…", "Delete the selected runs from disk (asks first)", self.delete_selected),
            ("Export CSV…", "Write the selected rows (or all rows shown) as CSV", self.export_csv),
        ):
            action = QAction(name, self)
            action.setToolTip(tip)
            action.triggered.connect(lambda _checked=False, f=slot: f())
            self.actions[name] = action
        edit_menu = QMenu(self)
        for name in ("Rename…", "Tags…", "Note…", None, "Delete…"):
            edit_menu.addSeparator() if name is None else edit_menu.addAction(self.actions[name])
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        for name in ("Rename…", "Tags…", "Note…", "Delete…", "Export CSV…"):
            self.view.addAction(self.actions[name])
        top = QHBoxLayout()
        top.addWidget(self.filter_edit, stretch=1)
        for name in ("Refresh", "Edit", "Export CSV…"):
            button = QToolButton()
            if name == "Edit":
                button.setText("Edit")
                button.setMenu(edit_menu)
                button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
            else:
                button.setDefaultAction(self.actions[name])
            top.addWidget(button)
        self.filter_edit.setMinimumWidth(120)
        self.status = QLabel()
        self.status.setObjectName("runsStatus")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.clear_brushes = QPushButton("Clear brushes")
        self.clear_brushes.clicked.connect(self.selection.clear_brushes)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, stretch=1)
        bottom.addWidget(self.clear_brushes)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self.view, stretch=1)
        layout.addLayout(bottom)

        self.model.edit_failed.connect(self.tell)
        self.model.run_edited.connect(self._on_edited)
        self.selection.filter_changed.connect(self._on_filter)
        self.selection.selection_changed.connect(self._show_selection)
        self.timer = QTimer(self)
        self.timer.setInterval(POLL_MS)
        self.timer.timeout.connect(self.poll)
        self.refresh()
        self.timer.start()

    # ------------------------------------------------------------------ reading
    def set_root(self, root: str | os.PathLike) -> None:
        """Show the runs of another runs root (the window's preference or ``--runs``)."""
        self.root = Path(root)
        self.refresh()

    def refresh(self) -> None:
        """Read every run of the root again."""
        runs = list_runs(self.root)
        self._stamps = {str(r.dir): _stamp(str(r.dir)) for r in runs}
        self._show_runs(runs)

    def poll(self) -> None:
        """Re-read the runs whose directory changed, appeared or went (and the ones
        still running, whose writer may have died); cheap when nothing did."""
        try:
            entries = [e.path for e in os.scandir(self.root) if e.is_dir() and not e.name.startswith(".")]
        except OSError:
            entries = []
        stamps = {path: _stamp(path) for path in entries}
        current = {str(r.dir): r for r in (row.run for row in self.model.rows)}
        live = {p for p, r in current.items() if r.status in ("running", "paused")}
        changed = [p for p, s in stamps.items() if self._stamps.get(p) != s or p in live]
        if not changed and set(stamps) == set(current):
            return
        self._stamps = stamps
        fresh = {p: read_summary(p) for p in changed}
        runs = [fresh.get(p) or current.get(p) or read_summary(p) for p in entries]
        if any(p not in current or fresh[p] != current[p] for p in fresh) or set(stamps) != set(current):
            runs.sort(key=lambda r: (r.created or "", r.id), reverse=True)
            self._show_runs(runs)

    def _show_runs(self, runs: list[RunSummary]) -> None:
        first = not self.model.rows
        self._syncing = True
        try:
            self.selection.set_runs(runs)  # first: the table's filter asks it
            self.model.set_runs(runs)
        finally:
            self._syncing = False
        if first and runs:
            self._fit_columns()
        self._show_selection()
        self._update_status()

    def _fit_columns(self) -> None:
        """Column widths from the header and the first rows' texts (Qt's own
        resizeColumnsToContents asks every cell's size hint: slow for 1,000 rows)."""
        fm = self.view.fontMetrics()
        header_fm = self.view.horizontalHeader().fontMetrics()
        sample = self.model.rows[:50]
        for col, column in enumerate(COLUMNS):
            texts = [row.display[col] for row in sample]
            width = max([fm.horizontalAdvance(t) for t in texts] + [header_fm.horizontalAdvance(column.title) + 18])
            width += 14 + (20 if col == 0 else 0)  # margins; the colour swatch
            self.view.setColumnWidth(col, min(width, MAX_WIDTH.get(column.key, 260)))

    def _on_edited(self, run: RunSummary) -> None:
        self._stamps[str(run.dir)] = _stamp(str(run.dir))
        self._show_runs([run if run_key(r) == run_key(run) else r for r in self.selection.runs.values()])

    # ------------------------------------------------------------------ selection
    def keys_shown(self) -> list[str]:
        return [self.proxy.index(i, 0).data(KEY_ROLE) for i in range(self.proxy.rowCount())]

    def _selected_in_view(self) -> list[str]:
        rows = sorted(i.row() for i in self.view.selectionModel().selectedRows())
        return [self.proxy.index(r, 0).data(KEY_ROLE) for r in rows]

    def _on_view_selection(self, *_: Any) -> None:
        if self._syncing:
            return
        hidden = [k for k in self.selection.selected if not self.selection.passes(k)]
        self.selection.select([*hidden, *self._selected_in_view()])
        self._update_status()

    def _show_selection(self) -> None:
        """The view's selection from the shared one (another view changed it)."""
        wanted = set(self.selection.selected)
        if set(self._selected_in_view()) == wanted & set(self.keys_shown()):
            return
        block = QItemSelection()
        last = self.model.columnCount() - 1
        for key in wanted:
            row = self.model.row_of.get(key)
            if row is None:
                continue
            index = self.proxy.mapFromSource(self.model.index(row, 0))
            if index.isValid():
                block.select(index, index.siblingAtColumn(last))
        self._syncing = True
        try:
            self.view.selectionModel().select(block, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        finally:
            self._syncing = False
        self._update_status()

    def _on_filter(self) -> None:
        self._syncing = True
        try:
            self.proxy.refilter()
        finally:
            self._syncing = False
        self._show_selection()
        self._update_status()

    def _on_entered(self, index: QModelIndex) -> None:
        self.selection.set_hovered(index.data(KEY_ROLE) or "")

    def eventFilter(self, watched: Any, event: Any) -> bool:
        from PySide6.QtCore import QEvent

        if watched is self.view.viewport() and event.type() == QEvent.Type.Leave:
            self.selection.set_hovered("")
        return super().eventFilter(watched, event)

    def _update_status(self) -> None:
        total, shown = len(self.model.rows), self.proxy.rowCount()
        damaged = sum(1 for r in self.model.rows if r.run.damaged)
        parts = [f"{total:,} runs in {self.root}" if total else
                 f"No runs in {self.root} yet: every training is recorded there and appears here."]
        if shown != total:
            parts.append(f"{shown:,} shown")
        if self.selection.selected:
            parts.append(f"{len(self.selection.selected)} selected")
        if damaged:
            parts.append(f"{damaged} damaged")
        if self.selection.brushes:
            parts.append("brushed: " + "; ".join(f"{k} {b.describe(k)}" for k, b in self.selection.brushes.items()))
        text = " · ".join(parts)
        if self.last_message:
            text = f"{self.last_message}  —  {text}"
        self.status.setText(text)
        self.clear_brushes.setVisible(bool(self.selection.brushes))

    def tell(self, message: str) -> None:
        """A one-line message in the panel's status line (and the window's status bar)."""
        self.last_message = message
        self._update_status()
        window = self.window()
        if hasattr(window, "statusBar"):
            window.statusBar().showMessage(message, 8000)

    # ------------------------------------------------------------------ editing
    def _selected_runs(self) -> list[RunSummary]:
        return [self.selection.runs[k] for k in self._selected_in_view() if k in self.selection.runs]

    def _one_selected(self, what: str) -> RunSummary | None:
        runs = [r for r in self._selected_runs() if not r.damaged]
        if len(runs) != 1:
            self.tell(f"Select one run (not damaged) to {what}.")
            return None
        return runs[0]

    def rename_selected(self, name: str | None = None) -> None:
        run = self._one_selected("rename")
        if run is None:
            return
        if name is None:
            name, ok = QInputDialog.getText(self, "Rename run", "Name:", text=run.name)
            if not ok:
                return
        if self.model.annotate(run_key(run), "name", name):
            self.tell(f"Renamed to {name.strip()}.")

    def tag_selected(self, tags: str | None = None) -> None:
        runs = [r for r in self._selected_runs() if not r.damaged]
        if not runs:
            self.tell("Select the runs to tag.")
            return
        if tags is None:
            tags, ok = QInputDialog.getText(self, "Tags", f"Tags of {len(runs)} run(s), separated by spaces:",
                                            text=" ".join(runs[0].tags))
            if not ok:
                return
        for run in runs:
            self.model.annotate(run_key(run), "tags", tags)

    def note_selected(self, note: str | None = None) -> None:
        run = self._one_selected("write a note on")
        if run is None:
            return
        if note is None:
            note, ok = QInputDialog.getMultiLineText(self, "Note", f"Note on {run.name}:", run.notes)
            if not ok:
                return
        self.model.annotate(run_key(run), "notes", note)

    def delete_selected(self) -> None:
        """Ask, then delete the selected runs' directories; a run that is being written
        (running or paused, here or on the host it names) is refused with the reason."""
        runs = self._selected_runs()
        if not runs:
            self.tell("Select the runs to delete.")
            return
        busy = [r for r in runs if r.status in ("running", "paused") and not r.damaged]
        if busy:
            r = busy[0]
            where = f" on {r.host}" if r.host else ""
            self.tell(f"Not deleted: “{r.name}” is being written ({r.status}{where}); stop its training first.")
            return
        names = ", ".join(f"“{r.name}”" for r in runs[:5]) + (f" and {len(runs) - 5} more" if len(runs) > 5 else "")
        box = QMessageBox(QMessageBox.Icon.Warning, "Delete runs", f"Delete the run {names} from disk?"
                          if len(runs) == 1 else f"Delete {len(runs)} runs from disk: {names}?", parent=self)
        box.setInformativeText(f"Its folder {runs[0].dir} is removed, with its metrics and checkpoints."
                               if len(runs) == 1 else "Their folders are removed, with metrics and checkpoints.")
        delete = box.addButton("Delete", QMessageBox.ButtonRole.DestructiveRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setObjectName("confirmDelete")
        box.exec()
        if box.clickedButton() is not delete:
            return
        failed = []
        for run in runs:
            try:
                delete_run(run.dir, self.root)
            except (OSError, ValueError) as e:
                failed.append(f"{run.name}: {getattr(e, 'strerror', None) or e}")
        self.refresh()
        self.tell(("Not all deleted: " + "; ".join(failed)) if failed else f"Deleted {names}.")

    # ------------------------------------------------------------------ export
    def export_csv(self, path: str | None = None) -> str:
        """Write the selected rows (all rows shown when none is selected), in the
        table's order, as CSV; returns the path written or ""."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self, "Export runs as CSV", "runs.csv", CSV_FILTER)
            if not path:
                return ""
        shown = self.keys_shown()
        selected = set(self._selected_in_view())
        keys = [k for k in shown if k in selected] or shown
        try:
            with open(path, "w", newline="", encoding="utf-8") as f:
                writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS, extrasaction="ignore")
                writer.writeheader()
                for key in keys:
                    run = self.selection.runs[key]
                    row = run.as_row()
                    row["augmentation"] = augment_summary(run)
                    wall = wall_seconds(run)
                    row["wall_time"] = "" if wall is None else f"{wall:.0f}"
                    writer.writerow(row)
        except OSError as e:
            self.tell(f"Cannot write {path}: {e.strerror or e}")
            return ""
        self.tell(f"Exported {len(keys)} run(s) to {path}.")
        return path
