"""ConvScope's identity on the desktop: its application id and its icon.

``APP_ID`` names the app everywhere the desktop looks for it: the ``.desktop`` file
(``<APP_ID>.desktop``), the AppStream metainfo (``<APP_ID>.metainfo.xml``), the icon in
the hicolor theme and ``QGuiApplication.desktopFileName`` (the Wayland app id, which
lets a compositor match the window to its menu entry and icon). The files under
``packaging/linux`` use the same string; tests/test_desktop_files.py checks it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QSize
from PySide6.QtGui import QIcon

from convscope.resources import assets_dir

log = logging.getLogger(__name__)

APP_ID = "io.github.convscope.ConvScope"
ICON_SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)


def icons_dir() -> Path:
    """The folder of the icon files (``assets/icons``)."""
    return assets_dir() / "icons"


def app_icon(folder: Path | None = None) -> QIcon:
    """The app's icon, one pixmap per size found (``convscope-<N>.png``); a null icon,
    and one line in the log, when none is there (a bundle made without the assets)."""
    folder = icons_dir() if folder is None else folder
    icon = QIcon()
    for size in ICON_SIZES:
        path = folder / f"convscope-{size}.png"
        if path.is_file():
            icon.addFile(str(path), QSize(size, size))
    if icon.isNull():
        log.info("no application icon in %s; the window keeps the platform's default", folder)
    return icon
