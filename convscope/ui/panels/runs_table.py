"""The Runs table's Qt model: one row per run directory, cells computed once per read
(so a thousand rows scroll and sort without re-reading anything), numeric columns
sorted as numbers with missing values last, and a filter proxy that asks the shared
:class:`~convscope.ui.run_selection.RunSelection` which runs pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPixmap

from convscope.runs import RunSummary, annotate, read_summary
from convscope.ui import theme
from convscope.ui.run_selection import RunSelection, run_key
from convscope.viz.parallel_coords import category, format_number

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
HOVER_COLOR = QColor("#fff2b3")
HOVER_COLOR_DARK = QColor("#5c4d12")  # the same yellow, dark enough under light text
DAMAGED_COLOR = QColor("#b2182b")
Index = QModelIndex | QPersistentModelIndex


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, s = divmod(int(round(seconds)), 60)
    return f"{minutes} min {s:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def _timestamp(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text[:19])  # both stamps in the writer's local time
    except ValueError:
        return None


def wall_seconds(run: RunSummary) -> float | None:
    """From ``created`` to the last update of ``run.json``."""
    a, b = _timestamp(run.created), _timestamp(run.updated)
    return None if a is None or b is None else max(0.0, (b - a).total_seconds())


def augment_summary(run: RunSummary) -> str:
    config = run.config.get("config", {}) if isinstance(run.config, dict) else {}
    if not config or "augment" not in config:
        return ""
    if not config.get("augment"):
        return "off"
    parts = [f"{k.removeprefix('augment_')} {format_number(v)}" for k, v in config.items()
             if k.startswith("augment_") and isinstance(v, (int, float)) and v]
    return ", ".join(parts) or "on"


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    numeric: bool = False
    editable: bool = False


COLUMNS = (
    Column("name", "Name", editable=True),
    Column("data", "Data"),
    Column("start", "Start"),
    Column("arch", "Architecture"),
    Column("params", "Params", True),
    Column("optimizer", "Optimizer"),
    Column("learning_rate", "LR", True),
    Column("batch_size", "Batch", True),
    Column("dropout", "Dropout", True),
    Column("weight_decay", "Wt decay", True),
    Column("augment", "Augment"),
    Column("steps", "Steps", True),
    Column("best_val_acc", "Best val acc", True),
    Column("final_val_acc", "Final val acc", True),
    Column("best_val_loss", "Best val loss", True),
    Column("final_val_loss", "Final val loss", True),
    Column("train_time", "Train time", True),
    Column("wall", "Wall time", True),
    Column("status", "Status"),
    Column("created", "Created"),
    Column("tags", "Tags", editable=True),
    Column("notes", "Notes", editable=True),
)
COLUMN = {c.key: i for i, c in enumerate(COLUMNS)}


def cells(run: RunSummary) -> tuple[list[str], list[Any]]:
    """A run's (display texts, sort keys) in :data:`COLUMNS` order; numbers sort as numbers."""
    if run.damaged:
        texts = {"name": run.name, "status": f"damaged: {run.damaged}", "created": run.created[:19].replace("T", " ")}
        display = [texts.get(c.key, "") for c in COLUMNS]
        return display, [None if c.numeric else display[i].lower() for i, c in enumerate(COLUMNS)]
    h, m = run.hparams, run.metrics
    values: dict[str, tuple[str, Any]] = {}
    for key in ("learning_rate", "dropout", "weight_decay"):
        v = _num(h.get(key))
        values[key] = (format_number(v) if v is not None else "", v)
    batch = _num(h.get("batch_size"))
    values["batch_size"] = (f"{int(batch)}" if batch is not None else "", batch)
    values["params"] = (f"{run.params:,}" if run.params else "", float(run.params) if run.params else None)
    steps = _num(m.get("steps"))
    values["steps"] = (f"{int(steps):,}" if steps is not None else "", steps)
    for key in ("best_val_acc", "final_val_acc"):
        v = _num(m.get(key))
        values[key] = (f"{100 * v:.1f} %" if v is not None else "", v)
    for key in ("best_val_loss", "final_val_loss"):
        v = _num(m.get(key))
        values[key] = (f"{v:.4f}" if v is not None else "", v)
    train, wall = _num(m.get("train_time")), wall_seconds(run)
    values["train_time"] = (_duration(train), train)
    values["wall"] = (_duration(wall), wall)
    texts = {"name": run.name, "data": run.data, "start": run.start, "arch": run.arch,
             "optimizer": category("optimizer", h.get("optimizer")), "augment": augment_summary(run),
             "status": run.status, "created": run.created[:19].replace("T", " "), "tags": " ".join(run.tags),
             "notes": run.notes.replace("\n", " ")[:200]}
    display, sort = [], []
    for c in COLUMNS:
        if c.numeric:
            text, key = values[c.key]
        else:
            text = texts.get(c.key, "")
            key = text.lower()
        display.append(text)
        sort.append(key)
    return display, sort


class Row:
    __slots__ = ("display", "key", "run", "sort")

    def __init__(self, run: RunSummary) -> None:
        self.run, self.key = run, run_key(run)
        self.display, self.sort = cells(run)


class RunsTableModel(QAbstractTableModel):
    """The runs as rows; edits of name, tags and notes go to ``annotations.json``."""

    edit_failed = Signal(str)  # a one-line reason
    run_edited = Signal(object)  # the RunSummary read back after an edit

    def __init__(self, selection: RunSelection, parent: Any = None) -> None:
        super().__init__(parent)
        self.selection = selection
        self.rows: list[Row] = []
        self.row_of: dict[str, int] = {}
        self._icons: dict[str, QIcon] = {}
        selection.selection_changed.connect(self._repaint_names)
        selection.hovered_changed.connect(self._on_hover)
        self._hovered = ""

    # ------------------------------------------------------------ contents
    def set_runs(self, runs: list[RunSummary]) -> None:
        """Show ``runs``: rows of runs that went are removed, new ones appended, the rest
        updated in place (so the view keeps its scroll position, sorting and selection)."""
        new = {run_key(r): r for r in runs}
        for row in sorted((self.row_of[k] for k in self.row_of if k not in new), reverse=True):
            self.beginRemoveRows(QModelIndex(), row, row)
            del self.rows[row]
            self.endRemoveRows()
        self.row_of = {r.key: i for i, r in enumerate(self.rows)}
        for key, run in new.items():
            i = self.row_of.get(key)
            if i is not None and self.rows[i].run is not run:
                self.rows[i] = Row(run)
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1))
        added = [Row(r) for k, r in new.items() if k not in self.row_of]
        if added:
            self.beginInsertRows(QModelIndex(), len(self.rows), len(self.rows) + len(added) - 1)
            self.rows.extend(added)
            self.endInsertRows()
        self.row_of = {r.key: i for i, r in enumerate(self.rows)}

    def run_at(self, row: int) -> RunSummary:
        return self.rows[row].run

    # ------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section].title
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = self.rows[index.row()], index.column()
        column = COLUMNS[col]
        if role == Qt.ItemDataRole.DisplayRole:
            return row.display[col]
        if role == Qt.ItemDataRole.EditRole:
            run = row.run
            return {"name": run.name, "tags": " ".join(run.tags), "notes": run.notes}.get(column.key, row.display[col])
        if role == SORT_ROLE:
            return row.sort[col]
        if role == KEY_ROLE:
            return row.key
        if role == Qt.ItemDataRole.TextAlignmentRole and column.numeric:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            color = self.selection.color(row.key)
            return self._swatch(color) if color else None
        if role == Qt.ItemDataRole.BackgroundRole and row.key == self._hovered:
            return QBrush(HOVER_COLOR if theme.current() == theme.LIGHT else HOVER_COLOR_DARK)
        if role == Qt.ItemDataRole.ForegroundRole and row.run.damaged:
            return QBrush(theme.plot_color(DAMAGED_COLOR))
        if role == Qt.ItemDataRole.ToolTipRole:
            run = row.run
            if column.key == "status" and run.damaged:
                return f"{run.dir}\ndamaged: {run.damaged}"
            if column.key in ("name", "notes"):
                return f"{run.dir}" + (f"\n\n{run.notes}" if run.notes else "")
            return row.display[col] or None
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if index.isValid() and COLUMNS[index.column()].editable and not self.rows[index.row()].run.damaged:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        if role != Qt.ItemDataRole.EditRole or not index.isValid():
            return False
        key = COLUMNS[index.column()].key
        return self.annotate(self.rows[index.row()].key, key, value)

    def annotate(self, key: str, what: str, value: Any) -> bool:
        """Set a run's ``name``, ``tags`` (a string of words or a list) or ``notes`` on disk."""
        row = self.rows[self.row_of[key]]
        if what == "tags" and isinstance(value, str):
            value = value.replace(",", " ").split()
        try:
            annotate(row.run.dir, **{what: value})
        except (OSError, ValueError) as e:
            self.edit_failed.emit(f"Cannot change the {what} of {row.run.name}: {getattr(e, 'strerror', None) or e}")
            return False
        self.run_edited.emit(read_summary(row.run.dir))  # the owner shows it (the filter first)
        return True

    # ------------------------------------------------------------ looks
    def _swatch(self, color: str) -> QIcon:
        key = f"{color} {theme.current()}"  # the run's colour as the plots draw it
        icon = self._icons.get(key)
        if icon is None:
            pixmap = QPixmap(14, 14)
            pixmap.fill(Qt.GlobalColor.transparent)
            painter = QPainter(pixmap)
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(theme.plot_color(color))
            painter.drawEllipse(1, 1, 12, 12)
            painter.end()
            icon = self._icons[key] = QIcon(pixmap)
        return icon

    def _repaint_names(self) -> None:
        if self.rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.rows) - 1, 0),
                                  [Qt.ItemDataRole.DecorationRole])

    def _on_hover(self, key: str) -> None:
        old, self._hovered = self._hovered, key
        for k in (old, key):
            if k in self.row_of:
                i = self.row_of[k]
                self.dataChanged.emit(self.index(i, 0), self.index(i, len(COLUMNS) - 1),
                                      [Qt.ItemDataRole.BackgroundRole])


class RunsProxy(QSortFilterProxyModel):
    """Rows that pass the shared filter (text and brushes), sorted with numbers as numbers
    and empty cells last whichever way the column is sorted."""

    def __init__(self, selection: RunSelection, parent: Any = None) -> None:
        super().__init__(parent)
        self.selection = selection
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)

    def source(self) -> RunsTableModel:
        model = self.sourceModel()
        assert isinstance(model, RunsTableModel)
        return model

    def refilter(self) -> None:
        if hasattr(self, "beginFilterChange"):  # Qt ≥ 6.9: invalidateFilter is deprecated
            self.beginFilterChange()
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:
            self.invalidateFilter()

    def filterAcceptsRow(self, source_row: int, source_parent: Index) -> bool:
        return self.selection.passes(self.source().rows[source_row].key)

    def lessThan(self, left: Index, right: Index) -> bool:
        rows, col = self.source().rows, left.column()
        a, b = rows[left.row()].sort[col], rows[right.row()].sort[col]
        if a is None or b is None:  # empty cells last, ascending or descending
            descending = self.sortOrder() == Qt.SortOrder.DescendingOrder
            return (a is None) == descending and (a is None) != (b is None)
        return a < b
