"""The Help menu (Keyboard Shortcuts, Tour, Try this, About) and the keys of every
action: one call, :func:`install`, once the window's menus and parts exist."""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from convscope.ui import about, shortcuts, tour
from convscope.ui.presets import PRESETS, PresetRunner


def install(window: QMainWindow) -> None:
    menu = window.help_menu  # type: ignore[attr-defined]
    keys = QAction("&Keyboard Shortcuts", window)
    keys.setToolTip("Every action and its keys")
    keys.triggered.connect(lambda: shortcuts.show_dialog(window))
    guided = QAction("&Tour", window)
    guided.setToolTip("A short guide to the window: Train, the feature maps, your own image, the sliders")
    guided.triggered.connect(lambda: tour.start_tour(window))
    menu.addAction(keys)
    menu.addAction(guided)
    window.try_menu = menu.addMenu("Try &This")  # type: ignore[attr-defined]
    window.presets = PresetRunner(window, window.try_menu)  # type: ignore[attr-defined]
    menu.addSeparator()
    info = QAction("&About ConvScope", window)
    info.triggered.connect(lambda: about.show_dialog(window))
    menu.addAction(info)
    window.help_actions = {"keys": keys, "tour": guided, "about": info}  # type: ignore[attr-defined]
    shortcuts.install(window)
    shortcuts.set_keys(keys, "F1", "Ctrl+/")
    shortcuts.set_keys(guided, "Shift+F1")
    shortcuts.set_keys(info, "Ctrl+Shift+F1")
    for action, preset in zip(window.presets.actions, PRESETS, strict=True):  # type: ignore[attr-defined]
        shortcuts.set_keys(action, preset.keys)
