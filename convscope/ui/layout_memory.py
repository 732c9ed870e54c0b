"""The main window's size and dock layout over time: the first size (fitted to the
screen), View ▸ Reset Layout, and the layout remembered between launches (QSettings).

Only the app (``ui/app.py``) asks to remember: a window built by a test or a script
never reads nor writes the user's settings unless it is handed a ``QSettings``.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QEvent, QObject, QRect, QSettings, QSize, QTimer
from PySide6.QtGui import QAction, QScreen
from PySide6.QtWidgets import QDockWidget, QMainWindow

from convscope.ui import dock_layout

ORGANIZATION = "ConvScope"
APPLICATION = "ConvScope"
# Saved with the dock state: bump it when panels are added, renamed or regrouped, so
# that a layout saved by an older version is not applied to docks it never knew.
LAYOUT_VERSION = 6  # 3: Runs, HParams; 4: the timeline toolbar; 5: Invariance, Feature evolution; 6: Ensemble
DEFAULT_SIZE = QSize(1600, 1000)  # what the panels' proportions were drawn for
GEOMETRY_KEY = "window/geometry"
STATE_KEY = "window/state"


def app_settings() -> QSettings:
    """The user's settings (``$XDG_CONFIG_HOME/ConvScope/ConvScope.ini``, by default ``~/.config/ConvScope/ConvScope.ini``, on Linux)."""
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, ORGANIZATION, APPLICATION)


def first_size(available: QRect) -> QRect:
    """The window's first geometry on a screen whose free area is ``available``: the
    1600×1000 the layout was drawn for, or all of a smaller screen."""
    size = DEFAULT_SIZE.boundedTo(available.size())
    return QRect(available.topLeft(), size)


class WindowLayout(QObject):
    """The default dock arrangement (taken when the window is built), Reset Layout in
    the View menu, and, once :meth:`remember` is called, saving the geometry and dock
    state when the window closes and restoring them."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.default_state: QByteArray = window.saveState(LAYOUT_VERSION)
        self.settings: QSettings | None = None
        self.restored = False
        self._fit_pending = False
        self.reset_action = QAction("&Reset Layout", window)
        self.reset_action.setToolTip("Every panel back in its place, at the proportions of this window size")
        self.reset_action.triggered.connect(self.reset)
        menu = window.view_menu  # type: ignore[attr-defined]
        first = menu.actions()[0] if menu.actions() else None
        menu.insertAction(first, self.reset_action)
        menu.insertSeparator(first)

    def arrange_first(self) -> None:
        """Once shown: the window inside the screen's free area (a window manager's
        frame included), then the remembered dock layout or the default one."""
        if self._fit_on_screen():
            QTimer.singleShot(50, self.window, self.arrange_first)  # once the new size is in
            return
        if not self.restored:
            dock_layout.arrange(self.window)

    def place_on(self, screen: QScreen | None) -> None:
        """The first size and place on ``screen`` (before the window is shown); once
        shown, the window shrinks to fit if a window manager's frame pushed it over."""
        if screen is None:
            self.window.resize(DEFAULT_SIZE)
            return
        self.window.setGeometry(first_size(screen.availableGeometry()))
        self._fit_pending = True

    def _fit_on_screen(self) -> bool:
        screen = self.window.screen()
        if screen is None or not self._fit_pending:
            return False
        self._fit_pending = False  # once: a window manager may not let it shrink further
        free, frame = screen.availableGeometry(), self.window.frameGeometry()
        if free.contains(frame):
            return False
        extra = frame.size() - self.window.geometry().size()
        size = self.window.size().boundedTo(free.size() - extra)
        self.window.resize(size)
        self.window.move(free.topLeft())
        return True

    def reset(self) -> None:
        """Every dock back where the window put it, shown and docked, then the default
        proportions for the current size (after Qt has laid the docks out again)."""
        self.window.restoreState(self.default_state, LAYOUT_VERSION)
        for dock in self.window.findChildren(QDockWidget):
            if dock.isFloating():
                dock.setFloating(False)
        QTimer.singleShot(0, self.window, lambda: dock_layout.arrange(self.window))

    def remember(self, settings: QSettings) -> bool:
        """Restore the layout saved in ``settings`` (if any, and if it was saved by
        this layout version) and save it there when the window closes. Call before
        the window is shown. Returns whether a layout was restored."""
        self.settings = settings
        self.window.installEventFilter(self)
        geometry, state = settings.value(GEOMETRY_KEY), settings.value(STATE_KEY)
        restored = False
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            restored = self.window.restoreGeometry(geometry)
        if restored and isinstance(state, QByteArray) and not state.isEmpty():
            self.restored = self.window.restoreState(state, LAYOUT_VERSION)
        return restored

    def save(self) -> None:
        if self.settings is None:
            return
        self.settings.setValue(GEOMETRY_KEY, self.window.saveGeometry())
        self.settings.setValue(STATE_KEY, self.window.saveState(LAYOUT_VERSION))
        self.settings.sync()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.window and event.type() == QEvent.Type.Close:
            self.save()
        return False
