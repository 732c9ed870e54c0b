"""Where the main window's docks go: proportions from 1024×640 up, panels that scroll
rather than force a minimum size on the window, and tidying the tab bars. Qt only; the
window keeps its docks in ``window.docks``."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, Qt
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QStyle, QTabBar, QWidget

AREAS = {
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
}
SHORT_HEIGHT = 880  # below this window height the prediction bars leave the image column


class PanelScrollArea(QScrollArea):
    """A panel in a frameless scroll area, the panel as large as the dock but never
    below its minimum size: a dock smaller than that scrolls instead of forcing the
    panel's minimum on the whole window (a 1280×720 screen).

    Not ``setWidgetResizable``: that sizes a panel with word-wrapped labels to its
    *preferred* height for the width (``heightForWidth``), so nearly every dock would
    scroll long before its panel is cramped."""

    def __init__(self, panel: QWidget) -> None:
        super().__init__()
        self.setObjectName(f"scroll:{getattr(panel, 'title', type(panel).__name__)}")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setWidgetResizable(False)
        self.setWidget(panel)
        panel.installEventFilter(self)

    def sizeHint(self) -> QSize:
        return self.widget().sizeHint()

    def fit_panel(self) -> None:
        panel = self.widget()
        need = panel.minimumSizeHint().expandedTo(panel.minimumSize())
        width, height = self.width(), self.height()
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        for _ in range(2):  # a scroll bar in one direction takes room from the other
            tight_w, tight_h = need.width() > width, need.height() > height
            width = self.width() - (bar if tight_h else 0)
            height = self.height() - (bar if tight_w else 0)
        panel.resize(max(width, need.width()), max(height, need.height()))

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self.fit_panel()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.fit_panel()  # its minimum may have changed (a 5×5 kernel, new layers)
        return False


def scrollable(panel: QWidget) -> PanelScrollArea:
    return PanelScrollArea(panel)


def arrange(window: QMainWindow) -> None:
    """Readable proportions from 1024×640 to 1600×1000 and beyond: controls left, curves
    large, the image column right, the layer table below the curves. Docks smaller than
    their panel scroll (:func:`scrollable`); none forces its size on the window."""
    width, height = window.width(), window.height()
    image, prediction = window.docks.get("Image"), window.docks.get("Prediction")
    table = window.docks.get("Architecture")
    if height < SHORT_HEIGHT and _beside(window, prediction, image) and table is not None:
        # Under the image panel there is no room for the bars: they join the layer
        # table's tabs, and the image panel takes the whole column.
        window.tabifyDockWidget(table, prediction)
        table.raise_()
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
    training = window.docks.get("Training")
    # As wide as the controls and the image panel need not to scroll, where there is room.
    wide = width >= 1200
    side = max(_needed_width(left[0]), min(440, width // 4)) if left and wide else min(345, width // 3)
    column = max(_needed_width(image), min(440, width // 4)) if image and wide else min(320, width // 3)
    if left and image in right and training in right:
        # Named together and summing to the width, the three columns get exactly these
        # widths (with two names from different areas Qt shares them out by weight).
        window.resizeDocks(
            [left[0], training, image], [side, width - side - column, column], Qt.Orientation.Horizontal
        )
    elif left and (right or bottom):
        # With no central widget, both sides must be named or Qt splits evenly.
        other = (right or bottom)[0]
        window.resizeDocks([left[0], other], [side, width - side], Qt.Orientation.Horizontal)
    elif image in right and training in right:
        window.resizeDocks([training, image], [width - column, column], Qt.Orientation.Horizontal)
    if len(left) > 1:
        heights = [panel_of(d).sizeHint().height() + 40 for d in left]
        heights[-1] = max(200, height - sum(heights[:-1]))  # the last takes the rest
        window.resizeDocks(left, heights, Qt.Orientation.Vertical)
    if right and bottom:
        rows = max(220, int(height * 0.34))
        window.resizeDocks([right[0], bottom[0]], [height - rows, rows], Qt.Orientation.Vertical)
    if image in right and training in right:
        if prediction in right:
            column_height = image.height() + prediction.height()  # the docks' area, shown
            top = min(panel_of(image).minimumSizeHint().height() + 60, int(0.72 * column_height))
            window.resizeDocks([image, prediction], [top, column_height - top], Qt.Orientation.Vertical)
        if table in right:
            center = training.height() + table.height()
            rows = max(200, int(center * 0.38))
            window.resizeDocks([training, table], [center - rows, rows], Qt.Orientation.Vertical)
    keep_tab_labels_whole(window)


def _beside(window: QMainWindow, dock: QDockWidget | None, other: QDockWidget | None) -> bool:
    """Whether ``dock`` is shown docked in a group of its own, not tabbed."""
    return (
        dock is not None
        and other is not None
        and not dock.isHidden()
        and not dock.isFloating()
        and not window.tabifiedDockWidgets(dock)
    )


def panel_of(dock: QDockWidget) -> QWidget:
    area = dock.widget()
    return area.widget() if isinstance(area, QScrollArea) else area


def _needed_width(dock: QDockWidget) -> int:
    """The width at which ``dock``'s panel shows without a horizontal scroll bar."""
    return panel_of(dock).minimumSizeHint().width() + 12  # the dock's frame and the separator


def _dock_tab_bars(window: QMainWindow) -> list[QTabBar]:
    """The tab bars of the window's dock groups: its own children (a recursive search
    walked all ~2,000 widgets, 0.5 ms, at each of a window's ~35 dock visibility changes)."""
    return window.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly)


def keep_tab_labels_whole(window: QMainWindow) -> None:
    """Dock tab labels whole ("Training", not "Trai…"); where a group's tabs do not fit
    its width, the bar scrolls with arrow buttons instead."""
    for bar in _dock_tab_bars(window):
        if bar.elideMode() != Qt.TextElideMode.ElideNone:
            bar.setElideMode(Qt.TextElideMode.ElideNone)
            bar.setUsesScrollButtons(True)


def hide_stale_tab_bars(window: QMainWindow) -> None:
    """Hide the dock tab bars Qt left behind. The tab bars of tab groups that were
    split or re-grouped while the window was built (two copies of "Training | Feature
    maps", one of "Architecture | Kernel playground") stay visible at their old places,
    and once a dock is raised they show through it, over its contents. A live tab bar
    sits beside its docks, never on one, so a bar lying on a shown dock is stale."""
    keep_tab_labels_whole(window)  # bars Qt created since (a dock re-tabbed by the user)
    docks = [d for d in window.docks.values() if d.isVisible() and not d.isFloating()]
    for bar in _dock_tab_bars(window):
        if not bar.isVisible():
            continue
        box = bar.geometry()
        for dock in docks:
            overlap = box.intersected(dock.geometry())
            if overlap.height() > 4 and overlap.width() > 4:
                bar.hide()
                break
