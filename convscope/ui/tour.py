"""The first-run tour (Help ▸ Tour) and the guide panel it shows, which Help ▸ Try this
reuses for its notes.

The guide is a small panel inside the main window (a child widget, not a dialog): it
never takes the keyboard or the mouse from the rest of the window, and a frame drawn
around its target shows what it talks about. It follows the target when the window is
resized or the docks move, raises the dock it points into, and closes with Esc, Close,
or Done at the last step.

The tour shows itself unprompted only once, and only in the app with the user's
settings (:func:`show_on_first_run`); windows built by tests and scripts, and demo runs
(``CONVSCOPE_AUTOTRAIN_SECONDS``), have no settings and never see it unasked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QEvent, QObject, QPoint, QRect, QSettings, Qt, QTimer
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPaintEvent, QPen, QShortcut
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QTabBar,
    QVBoxLayout,
    QWidget,
)

SHOWN_KEY = "tour/shown"  # QSettings: the tour was offered once (a later launch stays quiet)
PANEL_WIDTH = 440  # wide enough that a note fits under a tab at 1280×720
GAP = 10  # between the target's frame and the panel
ACCENT = "#1565c0"
INK = "#1f1f1f"  # the balloon's text on its cream (#fffdf2), in both themes

# A target: the widget to point at and, optionally, a rectangle inside it (a tab, a menu title).
Target = tuple[QWidget, QRect | None]


@dataclass(frozen=True)
class GuideStep:
    title: str
    text: str  # one or two sentences (rich text allowed)
    target: Callable[[QMainWindow], Target | None]  # None: no frame, the panel top right
    dock: str = ""  # the dock to show and raise first
    side: str = "below"  # where the panel goes first: below, above, right or left of the target
    # What the panel must not cover where it can help it (what the step asks to watch).
    keep_clear: Callable[[QMainWindow], list[QRect]] | None = None


class Highlight(QWidget):
    """A frame drawn around the target; clicks go through it."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("tourHighlight")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.hide()

    def paintEvent(self, _event: QPaintEvent) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(ACCENT), 3))
        p.drawRoundedRect(self.rect().adjusted(2, 2, -2, -2), 6, 6)


class GuidePanel(QFrame):
    """The balloon: step count, title, text, Back / Next / Close."""

    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("tourPanel")
        self.setStyleSheet(
            f"QFrame#tourPanel {{ background: #fffdf2; border: 2px solid {ACCENT}; border-radius: 8px; }}"
            # Its own ink, whatever the theme: the dark theme's light text on this cream was unreadable.
            f"QFrame#tourPanel QLabel {{ background: transparent; border: none; color: {INK}; }}"
            f"QFrame#tourPanel QLabel#tourCount {{ color: {ACCENT}; }}"
        )
        self.count = QLabel()
        self.count.setObjectName("tourCount")
        self.title = QLabel()
        self.title.setObjectName("panelHeading")
        self.title.setWordWrap(True)
        self.text = QLabel()
        self.text.setWordWrap(True)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        self.back = QPushButton("Back")
        self.next = QPushButton("Next")
        self.close_button = QPushButton("Close")
        self.close_button.setToolTip("Close the guide (Esc)")
        buttons = QHBoxLayout()
        buttons.addWidget(self.count, stretch=1)
        for b in (self.back, self.next, self.close_button):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keyboard stays with the window
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 10)
        layout.addWidget(self.title)
        layout.addWidget(self.text)
        layout.addLayout(buttons)
        self.setFixedWidth(PANEL_WIDTH)
        self.hide()


class Guide(QObject):
    """Shows a list of :class:`GuideStep` one at a time in a :class:`GuidePanel`."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = GuidePanel(window)
        self.highlight = Highlight(window)
        self.steps: list[GuideStep] = []
        self.index = -1
        self._watched: QWidget | None = None
        self.panel.back.clicked.connect(lambda: self.go(self.index - 1))
        self.panel.next.clicked.connect(self._next)
        self.panel.close_button.clicked.connect(self.close)
        self.escape = QShortcut(QKeySequence(Qt.Key.Key_Escape), self.panel)
        self.escape.setContext(Qt.ShortcutContext.WindowShortcut)
        self.escape.activated.connect(self.close)
        window.installEventFilter(self)

    @property
    def active(self) -> bool:
        return self.panel.isVisible()

    def start(self, steps: list[GuideStep]) -> None:
        self.steps = list(steps)
        self.go(0)

    def _next(self) -> None:
        if self.index >= len(self.steps) - 1:
            self.close()
        else:
            self.go(self.index + 1)

    def go(self, index: int) -> None:
        if not 0 <= index < len(self.steps):
            return
        self.index = index
        step = self.steps[index]
        dock = getattr(self.window, "docks", {}).get(step.dock)
        if isinstance(dock, QDockWidget):
            dock.show()
            dock.raise_()
        p, many = self.panel, len(self.steps) > 1
        p.count.setText(f"{index + 1} of {len(self.steps)}" if many else "")
        p.title.setText(step.title)
        p.text.setText(step.text)
        p.back.setVisible(many)
        p.next.setVisible(many)
        p.back.setEnabled(index > 0)
        p.next.setText("Done" if index == len(self.steps) - 1 else "Next")
        p.show()
        self.place()
        QTimer.singleShot(0, self, self.place)  # once Qt has laid out a raised dock

    def close(self) -> None:
        self.panel.hide()
        self.highlight.hide()
        self._watch(None)
        self.index = -1

    # ------------------------------------------------------------- placement
    def target_rect(self) -> QRect | None:
        """The current target in the window's coordinates (None: none shown)."""
        if not 0 <= self.index < len(self.steps):
            return None
        found = self.steps[self.index].target(self.window)
        if found is None:
            self._watch(None)
            return None
        widget, rect = found
        self._watch(widget)
        if not widget.isVisible() or widget.window() is not self.window:
            return None  # hidden, or in a floating dock of its own
        rect = rect if rect is not None else widget.rect()
        return QRect(widget.mapTo(self.window, rect.topLeft()), rect.size())

    def place(self) -> None:
        """The frame around the target and the panel beside it, inside the window."""
        if not self.active:
            return
        area = self.window.rect()
        width = max(200, min(PANEL_WIDTH, area.width() - 8))
        self.panel.setFixedWidth(width)
        # The wrapped text's height at this width (adjustSize alone cuts the last lines).
        height = self.panel.heightForWidth(width)
        self.panel.resize(width, max(height, self.panel.minimumSizeHint().height()))
        size = self.panel.size()
        target = self.target_rect()
        if target is None:
            self.highlight.hide()
            self.panel.move(area.right() - size.width() - 20, 70)
            self.panel.raise_()
            return
        frame = target.adjusted(-4, -4, 4, 4).intersected(area)
        self.highlight.setGeometry(frame)
        self.highlight.show()
        self.highlight.raise_()
        step = self.steps[self.index]
        clear = step.keep_clear(self.window) if step.keep_clear is not None else []
        self.panel.move(_beside(frame, size, area, step.side, [frame, *clear]))
        self.panel.raise_()

    def _watch(self, widget: QWidget | None) -> None:
        if widget is self._watched:
            return
        if self._watched is not None:
            self._watched.removeEventFilter(self)
        self._watched = widget
        if widget is not None:
            widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if self.active and event.type() in (
            QEvent.Type.Resize, QEvent.Type.Move, QEvent.Type.Show, QEvent.Type.Hide, QEvent.Type.LayoutRequest
        ):
            QTimer.singleShot(0, self, self.place)
        return False


def _beside(
    frame: QRect, size: object, area: QRect, side: str = "below", clear: list[QRect] | None = None
) -> QPoint:
    """Where the panel goes: beside the frame, ``side`` first, then below, above, right,
    left (at a few heights or offsets along each), the first place inside ``area`` that
    covers none of ``clear``; else the first inside ``area``; else inside the frame's
    bottom-right corner."""
    w, h = size.width(), size.height()  # type: ignore[attr-defined]

    def fit_x(x: int) -> int:
        return min(max(x, area.left() + 4), area.right() - w - 4)

    def fit_y(y: int) -> int:
        return min(max(y, area.top() + 4), area.bottom() - h - 4)

    xs = [fit_x(frame.left()), fit_x(frame.right() - w)]
    ys = [fit_y(frame.top()), fit_y(frame.bottom() - h), fit_y(frame.top() - h)]
    places = {
        "below": [QPoint(x, frame.bottom() + GAP) for x in xs],
        "above": [QPoint(x, frame.top() - GAP - h) for x in xs],
        "right": [QPoint(frame.right() + GAP + d, y) for d in (0, w // 4, w // 2) for y in ys],
        "left": [QPoint(frame.left() - GAP - w - d, y) for d in (0, w // 4, w // 2) for y in ys],
    }
    order = [*places.get(side, []), *(p for points in places.values() for p in points)]
    inside = [p for p in order if area.contains(QRect(p.x(), p.y(), w, h))]
    for point in inside:
        if not any(QRect(point.x(), point.y(), w, h).intersects(r) for r in clear or []):
            return point
    if inside:
        return inside[0]
    return QPoint(max(area.left(), frame.right() - w - 12), max(area.top(), frame.bottom() - h - 12))


# ------------------------------------------------------------------- the tour's targets
def train_button(window: QMainWindow) -> Target | None:
    bar, action = getattr(window, "toolbar", None), getattr(window, "train_action", None)
    button = bar.widgetForAction(action) if bar is not None and action is not None else None
    return (button, None) if button is not None else None


def dock_tab(title: str) -> Callable[[QMainWindow], Target | None]:
    """The dock's tab in its tab group, else the dock itself."""

    def find(window: QMainWindow) -> Target | None:
        for bar in window.findChildren(QTabBar):
            if bar.parent() is window and bar.isVisible():
                for i in range(bar.count()):
                    if bar.tabText(i) == title:
                        return bar, bar.tabRect(i)
        dock = getattr(window, "docks", {}).get(title)
        return (dock, None) if dock is not None else None

    return find


def file_menu(window: QMainWindow) -> Target | None:
    menu = getattr(window, "file_menu", None)
    if menu is None:
        return None
    bar = window.menuBar()
    return bar, bar.actionGeometry(menu.menuAction())


def learning_rate_slider(window: QMainWindow) -> Target | None:
    controls = getattr(window, "panels", {}).get("Hyperparameters")
    control = getattr(controls, "learning_rate", None)
    return (control, None) if control is not None else None


TOUR = [
    GuideStep(
        "Train",
        "Starts training the network on the data set (Space pauses and continues). "
        "The curves in the Training panel show the loss falling as it learns.",
        train_button,
    ),
    GuideStep(
        "Feature maps",
        "What each convolution layer computes for the image on the right: one small map "
        "per filter. Watch them sharpen as the network learns.",
        dock_tab("Feature maps"),
        dock="Feature maps",
    ),
    GuideStep(
        "Open Image",
        "File ▸ Open Image… (Ctrl+O) shows the network a picture of your own; or drop one "
        "on the window. The Image panel lets you shift and rotate it.",
        file_menu,
    ),
    GuideStep(
        "A slider",
        "Every hyperparameter changes while it trains. Drag the learning rate to the right "
        "and watch the loss; Help ▸ Try this has experiments to start from.",
        learning_rate_slider,
        dock="Hyperparameters",
    ),
]


def guide_for(window: QMainWindow) -> Guide:
    """The window's one guide (made on first use)."""
    guide = window.findChild(Guide)
    return guide if isinstance(guide, Guide) else Guide(window)


def start_tour(window: QMainWindow) -> Guide:
    guide = guide_for(window)
    guide.start(TOUR)
    return guide


def show_on_first_run(window: QMainWindow, settings: QSettings | None) -> bool:
    """Start the tour if these settings never saw it (and remember that they have).
    No settings (tests, scripts, demo runs): nothing. Returns whether it started."""
    if settings is None or _truthy(settings.value(SHOWN_KEY, False)):
        return False
    settings.setValue(SHOWN_KEY, True)
    settings.sync()
    QTimer.singleShot(0, window, lambda: start_tour(window))  # after the first layout
    return True


def _truthy(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("true", "1"))
