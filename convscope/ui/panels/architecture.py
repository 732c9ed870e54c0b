"""Architecture panel: the layer table (shape, parameters, receptive field) and formulas.

Shows the candidate being edited, marked as such, and the running model otherwise;
every number comes from ``convscope.shapes.layer_table``, and the last column works
the tutorials' formulas through with this layer's numbers.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from convscope.config import ArchSpec
from convscope.shapes import LayerInfo, layer_table, same_padding
from convscope.ui.session import Session

KIND_LABELS = {
    "input": "input",
    "conv": "convolution",
    "bn": "batch norm",
    "act": "activation",
    "pool": "pooling",
    "flatten": "flatten",
    "dense": "dense",
    "dropout": "dropout",
    "logits": "classifier",
}
COLUMNS = (
    "Layer",
    "Type",
    "Output\n(H×W×C)",
    "Parameters",
    "Receptive\nfield",
    "Details",
    "Output size\n(worked)",
    "Parameters\n(worked)",
)
MIN_ROWS = 3  # rows of the table the formulas' legend gives way to, in a short dock
FORMULAS = (
    "<b>Output</b> O = ⌊(N − F + 2P)/S⌋ + 1 &nbsp;·&nbsp; <b>conv parameters</b> F·F·D·K + K "
    "&nbsp;·&nbsp; <b>dense</b> in·out + out &nbsp;·&nbsp; <b>receptive field</b> r′ = r + (F − 1)·j<br>"
    "<span style='color:#808080'>N input size, F kernel, P padding, S stride, D input channels, "
    "K filters, j product of the strides so far</span>"
)


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(v) for v in shape)


def worked_formula(spec: ArchSpec, rows: list[LayerInfo], index: int) -> tuple[str, str]:
    """The formulas behind row ``index`` with its numbers: (output size, parameters).

    E.g. ``("(28 − 3 + 2·1)/1 + 1 = 28", "3·3·1·32 + 32 = 320")`` for a first conv.
    """
    row = rows[index]
    prev = rows[index - 1] if index else None
    if prev is None or row.kind in ("act", "input", "dropout"):
        return "", ""
    if row.kind == "conv":
        conv = spec.convs[int(row.name.removeprefix("conv")) - 1]
        f, s, n, d, k = conv.kernel, conv.stride, prev.shape[0], prev.shape[2], row.shape[2]
        before, after = same_padding(f) if conv.padding == "same" else (0, 0)
        pad = f"2·{before}" if before == after else f"{before}+{after}"
        frac = f"({n} − {f} + {pad})/{s}"
        size = f"⌊{frac}⌋ + 1" if (n - f + before + after) % s else f"{frac} + 1"
        return f"{size} = {row.shape[0]}", f"{f}·{f}·{d}·{k} + {k} = {row.params:,}"
    if row.kind == "pool":
        p = spec.convs[int(row.name.removeprefix("pool")) - 1].pool_size
        return f"⌊{prev.shape[0]}/{p}⌋ = {row.shape[0]}", ""
    if row.kind == "bn":
        return "", f"2·{row.shape[2]} = {row.params:,}  (γ, β)"
    if row.kind == "flatten":
        return f"{row.detail} = {row.shape[0]:,}", ""
    if row.kind in ("dense", "logits"):
        i, o = prev.shape[0], row.shape[0]
        return "", f"{i:,}·{o} + {o} = {row.params:,}"
    return "", ""


class ArchitecturePanel(QWidget):
    """The layer table of the running model, or of the candidate while it is edited."""

    title = "Architecture"
    area = "bottom"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.heading = QLabel()
        self.heading.setObjectName("panelHeading")
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.formulas = QLabel(FORMULAS)
        self.formulas.setTextFormat(Qt.TextFormat.RichText)
        self.formulas.setObjectName("formulas")
        self.formulas.setWordWrap(True)
        self.formulas.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.heading)
        layout.addWidget(self.table, stretch=1)
        layout.addWidget(self.formulas)

        session.arch_changed.connect(lambda _spec: self.refresh())
        session.candidate_changed.connect(lambda _spec, _err: self.refresh())
        session.frozen_changed.connect(lambda _frozen: self.refresh())
        self.refresh()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt's name)
        """In a short dock (a 1280×720 window) the legend of formulas gives the table its
        room — it had left the header row alone on screen — and waits in the table's tooltip."""
        super().resizeEvent(event)
        self._fit_legend()

    def _fit_legend(self) -> None:
        layout, table = self.layout(), self.table
        margins = layout.contentsMargins()
        width = max(self.width() - margins.left() - margins.right(), 1)
        needed = (margins.top() + margins.bottom() + 2 * layout.spacing()
                  + self.heading.heightForWidth(width) + self.formulas.heightForWidth(width)
                  + table.horizontalHeader().sizeHint().height() + table.horizontalScrollBar().sizeHint().height()
                  + MIN_ROWS * table.verticalHeader().defaultSectionSize() + 2 * table.frameWidth())  # fmt: skip
        fits = self.height() >= needed
        if fits != self.formulas.isVisibleTo(self):
            self.formulas.setVisible(fits)
            table.setToolTip("" if fits else FORMULAS)

    def refresh(self) -> None:
        """Show the candidate if one is pending, otherwise the running model."""
        s = self.session
        spec = s.candidate if s.candidate is not None else s.arch
        rows = layer_table(spec)
        total = sum(r.params for r in rows)
        if s.candidate_error:
            heading = f"Running model · {total:,} parameters  —  the edited architecture is refused: {s.candidate_error}"
            kind = "error"
        elif s.candidate is not None:
            running = sum(r.params for r in layer_table(s.arch))
            heading = (
                f"Candidate (not applied yet) · {total:,} parameters (running model: {running:,})"
                " — press Apply to re-initialise with it"
            )
            kind = "pending"
        else:
            heading = f"Running model · {total:,} trainable parameters"
            frozen = self._frozen_rows(rows)
            if frozen:
                held = sum(r.params for r in rows if r.name in frozen)
                heading += f" · {held:,} frozen (❄ {', '.join(r.name for r in rows if r.name in frozen and r.kind != 'bn')})"
            kind = "ok"
        self.heading.setText(heading)
        self.heading.setProperty("kind", kind)
        self.heading.style().unpolish(self.heading)
        self.heading.style().polish(self.heading)
        self._fill(spec, rows)
        self._fit_legend()  # the heading may now take another number of lines

    def _frozen_rows(self, rows: list[LayerInfo]) -> set[str]:
        """Rows of the running model whose parameters are frozen (a conv's batch norm with it)."""
        frozen = set(self.session.config.frozen)
        return {r.name for r in rows if r.name in frozen or (r.kind == "bn" and "conv" + r.name[2:] in frozen)}

    def _fill(self, spec: ArchSpec, rows: list[LayerInfo]) -> None:
        frozen = self._frozen_rows(rows) if self.session.candidate is None else set()
        header = self.table.horizontalHeader()
        # Sized to the contents once, after the fill: at each cell the header measured its
        # whole column again (28 ms a fill of eleven rows; 0.4 ms this way).
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        self.table.setRowCount(len(rows))
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r, row in enumerate(rows):
            size_formula, params_formula = worked_formula(spec, rows, r)
            cells = (
                (f"{row.name} ❄" if row.name in frozen else row.name, None),
                (KIND_LABELS.get(row.kind, row.kind) + (" · frozen" if row.name in frozen else ""), None),
                (_shape_text(row.shape), right),
                (f"{row.params:,}" if row.params else "–", right),
                (f"{row.receptive_field}×{row.receptive_field}" if row.receptive_field else "–", right),
                (row.detail, None),
                (size_formula, None),
                (params_formula, None),
            )
            for c, (text, align) in enumerate(cells):
                item = QTableWidgetItem(text)
                if align is not None:
                    item.setTextAlignment(align)
                self.table.setItem(r, c, item)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
