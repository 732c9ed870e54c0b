"""Keyboard shortcuts for every menu and toolbar action, and Help ▸ Keyboard Shortcuts.

The keys live in one table here (:data:`KEYS`, by the window's attribute names, and
:data:`DOCK_KEYS` for the View menu's panels, in the order the window adds them), so
main_window.py stays about the window. The dialog is built by walking the window's
menus and toolbar when it opens, so it lists what the window really has.

An action that is made at run time from the user's data (a recent file, say) cannot
have a fixed key: mark it with :func:`exempt` and the check (and the dialog) leave it
out of the "every action has a key" rule.
"""

from __future__ import annotations

from collections.abc import Iterator

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDialog,
    QHeaderView,
    QLineEdit,
    QMainWindow,
    QMenu,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

EXEMPT_PROPERTY = "convscopeNoShortcut"  # a dynamic entry: no fixed key (see exempt())
SK = QKeySequence.StandardKey

# attribute of the window (dotted: of one of its parts) → its keys (the first is shown
# in menus). Conventional keys where the platform has them (StandardKey).
KEYS: dict[str, tuple[str | QKeySequence.StandardKey, ...]] = {
    "train_action": ("F5",),
    "pause_action": ("F6",),
    "step_action": ("F10",),
    "reset_action": ("Ctrl+Shift+R",),
    "open_image_action": (SK.Open,),
    "open_data_folder_action": ("Ctrl+D",),
    "open_data_file_action": ("Ctrl+Shift+D",),
    "save_action": (SK.Save,),
    "open_action": ("Ctrl+Shift+O",),
    "transfer.action": ("Ctrl+Shift+T",),
    "quit_action": (SK.Quit,),
    "runs.resume_action": ("Ctrl+Shift+U",),
    "runs.follow_action": ("Ctrl+Shift+F",),
    "runs.stop_follow_action": ("Ctrl+Shift+X",),
    "runs.runs_folder_action": ("Ctrl+Shift+M",),
    "window_layout.reset_action": ("Ctrl+Shift+L",),
}
# The View menu's panel toggles, in the order the window adds the panels.
DOCK_KEYS = [f"Alt+{i % 10}" for i in range(1, 11)] + [f"Ctrl+Alt+{i}" for i in range(1, 10)]


def exempt(action: QAction) -> QAction:
    """Mark ``action`` as a dynamic entry with no fixed key (e.g. a recent file)."""
    action.setProperty(EXEMPT_PROPERTY, True)
    return action


def is_exempt(action: QAction) -> bool:
    return bool(action.property(EXEMPT_PROPERTY))


# What a standard key is where the platform names none (Qt's offscreen platform, some
# desktops without a theme).
STANDARD_FALLBACK = {SK.Open: "Ctrl+O", SK.Save: "Ctrl+S", SK.Quit: "Ctrl+Q"}


def set_keys(action: QAction, *keys: str | QKeySequence.StandardKey) -> None:
    """``action``'s keys: strings, or a standard key (its platform's main binding)."""
    sequences: list[QKeySequence] = []
    for key in keys:
        sequence = QKeySequence(key)
        if sequence.isEmpty() and isinstance(key, SK):
            sequence = QKeySequence(STANDARD_FALLBACK[key])
        sequences.append(sequence)
    action.setShortcuts(sequences)


def _lookup(window: QMainWindow, dotted: str) -> QAction | None:
    obj: object = window
    for part in dotted.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj if isinstance(obj, QAction) else None


def install(window: QMainWindow) -> None:
    """Give the window's actions their keys (call once the menus are built)."""
    for name, keys in KEYS.items():
        action = _lookup(window, name)
        if action is not None:
            set_keys(action, *keys)
    docks = getattr(window, "docks", {})
    for dock, key in zip(docks.values(), DOCK_KEYS, strict=False):
        toggle = dock.toggleViewAction()
        set_keys(toggle, key)
        toggle.setToolTip(f"Show or hide the {dock.windowTitle()} panel")


# ----------------------------------------------------------------------- the walk
def menu_actions(menu: QMenu, path: str) -> Iterator[tuple[str, QAction]]:
    """(menu path, action) of every entry of ``menu`` and its submenus, separators left out."""
    for action in menu.actions():
        if action.isSeparator():
            continue
        sub = action.menu()
        if isinstance(sub, QMenu):
            yield from menu_actions(sub, f"{path} ▸ {_plain(action.text())}")
        else:
            yield path, action


def window_actions(window: QMainWindow) -> list[tuple[str, QAction]]:
    """Every action reachable from the menu bar and the toolbars (once each, where it is
    first found), then the window's own (e.g. Space for Train / Pause)."""
    seen: set[int] = set()
    found: list[tuple[str, QAction]] = []

    def add(where: str, action: QAction) -> None:
        if id(action) not in seen and not action.isSeparator() and action.text():
            seen.add(id(action))
            found.append((where, action))

    for top in window.menuBar().actions():
        sub = top.menu()
        if isinstance(sub, QMenu):
            for where, action in menu_actions(sub, _plain(top.text())):
                add(where, action)
    from PySide6.QtWidgets import QToolBar

    for bar in window.findChildren(QToolBar):
        for action in bar.actions():
            if action.isVisible() and not action.isSeparator() and action.text():
                add("Toolbar", action)
    for action in window.actions():
        add("Window", action)
    return found


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def key_text(action: QAction) -> str:
    """Its keys as the platform writes them ("Ctrl+S, Ctrl+/")."""
    return ", ".join(s.toString(QKeySequence.SequenceFormat.NativeText) for s in action.shortcuts())


def rows(window: QMainWindow) -> list[tuple[str, str, str]]:
    """(where, action, keys) for the dialog, exempt entries left out."""
    return [(where, _plain(a.text()), key_text(a)) for where, a in window_actions(window) if not is_exempt(a)]


# ----------------------------------------------------------------------- the dialog
class ShortcutsDialog(QDialog):
    """Help ▸ Keyboard Shortcuts: a filterable table of every action and its keys."""

    def __init__(self, window: QMainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.window_ = window
        self.setWindowTitle("Keyboard Shortcuts — ConvScope")
        self.setModal(False)
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter: an action, a menu or a key…")
        self.filter.setClearButtonEnabled(True)
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Menu", "Action", "Keys"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        layout = QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        self.filter.textChanged.connect(self._apply_filter)
        self.resize(620, 560)
        self.refresh()

    def refresh(self) -> None:
        """Walk the window again (menus may have changed since)."""
        entries = rows(self.window_)
        self.table.setRowCount(len(entries))
        for r, entry in enumerate(entries):
            for c, text in enumerate(entry):
                self.table.setItem(r, c, QTableWidgetItem(text))
        self._apply_filter(self.filter.text())

    def _apply_filter(self, text: str) -> None:
        needle = text.strip().lower()
        for r in range(self.table.rowCount()):
            cells = " ".join(self.table.item(r, c).text().lower() for c in range(3))
            self.table.setRowHidden(r, bool(needle) and needle not in cells)

    def visible_actions(self) -> list[str]:
        return [self.table.item(r, 1).text() for r in range(self.table.rowCount()) if not self.table.isRowHidden(r)]


def show_dialog(window: QMainWindow) -> ShortcutsDialog:
    dialog = getattr(window, "_shortcuts_dialog", None)
    if not isinstance(dialog, ShortcutsDialog):
        dialog = ShortcutsDialog(window)
        window._shortcuts_dialog = dialog  # type: ignore[attr-defined]
    dialog.refresh()
    dialog.show()
    dialog.raise_()
    dialog.activateWindow()
    return dialog
