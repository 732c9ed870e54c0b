"""Whether a widget can be seen now: what every live panel asks before it spends the
GUI thread (or a probe's CPU) on drawing.

Qt keeps a tabbed dock that is not the current tab "visible" (``isVisible()``), parked
outside the window, and a minimised window's widgets visible too; the visible region
and the window's state are what tell.
"""

from __future__ import annotations

from PySide6.QtWidgets import QWidget


def on_screen(widget: QWidget) -> bool:
    """Shown, not a tab in the background, not in a collapsed dock, window not minimised."""
    return bool(
        widget.isVisible() and not widget.visibleRegion().isEmpty() and not widget.window().isMinimized()
    )
