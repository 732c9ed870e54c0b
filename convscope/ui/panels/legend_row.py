"""A plot's legend as a row of text above it: it can never cover the data, whatever
the data does (pyqtgraph's LegendItem floats over the view box, where curves go).

The row is a ``pg.LabelItem`` in the plot's ``GraphicsLayout`` cell above the plot, so
exported pictures (PNG, SVG) carry it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import pyqtgraph as pg

from convscope.ui import theme

# What each kind of entry draws before its name.
GLYPHS = {
    "line": "━━",
    "dashed": "╍╍",
    "dot": "●",
    "line+dot": "━●━",
    "bar": "▇",
}


def legend_html(entries: Sequence[tuple[str, str, str]]) -> str:
    """``[(color, glyph kind, name), …]`` → one line of coloured glyphs and names."""
    parts = []
    for color, kind, name in entries:
        glyph = GLYPHS.get(kind, kind)
        parts.append(f'<span style="color:{color}; font-weight:bold">{glyph}</span>&nbsp;{escape(name)}')
    return "&nbsp;&nbsp;&nbsp;&nbsp;".join(parts)


def legend_row(
    layout: pg.GraphicsLayout, row: int, col: int = 0, colspan: int = 1, size: str = "10pt"
) -> pg.LabelItem:
    """An empty legend row at ``(row, col)`` of ``layout``; fill it with :func:`set_legend`."""
    label = pg.LabelItem("", size=size, color="#222", justify="center")
    layout.addItem(label, row=row, col=col, colspan=colspan)
    label.setMaximumHeight(28)  # one line; the plots below take the rest
    return label


def set_legend(label: pg.LabelItem, entries: Sequence[tuple[str, str, str]]) -> None:
    text = legend_html(entries)
    if text != getattr(label, "_legend_source", None):  # label.text: as the theme draws it
        label._legend_source = text  # type: ignore[attr-defined]
        label.setText(text)
        theme.adopt(label)
