"""The window's one-line notice in the toolbar, coloured by level, and its error box.

:class:`~convscope.ui.main_window.MainWindow` keeps ``show_notice``, ``clear_notice``
and ``show_error`` as its methods (every module calls them there); they do this.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox

log = logging.getLogger("convscope.ui.main_window")


def _restyle(label: QLabel, level: str) -> None:
    label.setProperty("level", level)
    label.style().unpolish(label)
    label.style().polish(label)


def show_notice(window: QMainWindow, level: str, message: str, source: str = "") -> None:
    """A message in the toolbar, coloured by level ("info", "warning", "error");
    ``source`` names the condition behind it, for :func:`clear_notice`."""
    log.log(logging.WARNING if level != "info" else logging.INFO, "%s", message)
    window._notice_source = source  # type: ignore[attr-defined]
    label = window.notice_label  # type: ignore[attr-defined]
    label.setText(message)
    label.setToolTip(message)
    _restyle(label, level)
    window.statusBar().showMessage(message, 10000)


def clear_notice(window: QMainWindow, source: str) -> None:
    """The condition ``source`` reported is gone: its message goes, if still shown."""
    if source and getattr(window, "_notice_source", "") == source:
        label = window.notice_label  # type: ignore[attr-defined]
        message = label.text()
        window._notice_source = ""  # type: ignore[attr-defined]
        label.setText("")
        label.setToolTip("")
        _restyle(label, "")
        if window.statusBar().currentMessage() == message:
            window.statusBar().clearMessage()


def show_error(window: QMainWindow, title: str, message: str) -> None:
    """Tell the user without blocking the event loop (no modal exec())."""
    window.last_error = message  # type: ignore[attr-defined]
    show_notice(window, "error", message)
    box = QMessageBox(QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, window)
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    box.setModal(False)
    box.show()
