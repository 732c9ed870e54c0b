"""Where the main window's docks go: proportions for 1600×1000, and tidying the tab
bars Qt leaves behind. Qt only; the window keeps its docks in ``window.docks``."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMainWindow, QTabBar

AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
}

def arrange(window: QMainWindow) -> None:
    """Readable proportions for 1600×1000: controls left, curves large, table below."""
    by_area = {
        name: [d for d in window.docks.values() if window.dockWidgetArea(d) == area and not d.isFloating()]
        for name, area in AREAS.items()
    }
    # One dock per tab group: sizes apply to the group, whichever tab is raised.
    for name, docks in by_area.items():
        by_area[name] = [
            d for i, d in enumerate(docks) if not set(window.tabifiedDockWidgets(d)) & set(docks[:i])
        ]
    left, right, bottom = by_area["left"], by_area["right"], by_area["bottom"]
    if left and (right or bottom):
        # With no central widget, both sides must be named or Qt splits evenly.
        other = (right or bottom)[0]
        width = max(360, min(440, window.width() // 3))
        window.resizeDocks([left[0], other], [width, window.width() - width], Qt.Orientation.Horizontal)
    if len(left) > 1:
        heights = [d.widget().sizeHint().height() + 40 for d in left]
        heights[-1] = max(200, window.height() - sum(heights[:-1]))  # the last takes the rest
        window.resizeDocks(left, heights, Qt.Orientation.Vertical)
    if right and bottom:
        table = max(260, int(window.height() * 0.42))
        window.resizeDocks([right[0], bottom[0]], [window.height() - table, table], Qt.Orientation.Vertical)
    # The image column beside the big tabbed area, the layer table under that area.
    image, prediction = window.docks.get("Image"), window.docks.get("Prediction")
    training, table = window.docks.get("Training"), window.docks.get("Architecture")
    if image in right and training in right:
        column = max(380, min(440, window.width() // 4))
        window.resizeDocks([training, image], [window.width(), column], Qt.Orientation.Horizontal)
        if prediction in right:
            top = min(image.widget().sizeHint().height() + 30, int(0.62 * window.height()))
            window.resizeDocks([image, prediction], [top, window.height() - top], Qt.Orientation.Vertical)
        if table in right:
            rows = max(240, int(window.height() * 0.34))
            window.resizeDocks([training, table], [window.height() - rows, rows], Qt.Orientation.Vertical)


def hide_stale_tab_bars(window: QMainWindow) -> None:
    """Hide the dock tab bars Qt left behind. The tab bars of tab groups that were
    split or re-grouped while the window was built (two copies of "Training | Feature
    maps", one of "Architecture | Kernel playground") stay visible at their old places,
    and once a dock is raised they show through it, over its contents. A live tab bar
    sits beside its docks, never on one, so a bar lying on a shown dock is stale."""
    docks = [d for d in window.docks.values() if d.isVisible() and not d.isFloating()]
    for bar in window.findChildren(QTabBar):
        if bar.parent() is not window or not bar.isVisible():
            continue
        box = bar.geometry()
        for dock in docks:
            overlap = box.intersected(dock.geometry())
            if overlap.height() > 4 and overlap.width() > 4:
                bar.hide()
                break
