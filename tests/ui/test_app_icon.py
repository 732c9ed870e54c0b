"""The window icon: ConvScope's own at every size, and no crash where the icons are missing."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from PySide6.QtCore import QSize

from convscope.ui import app as app_module
from convscope.ui import app_icon as app_icon_module
from convscope.ui.app_icon import APP_ID, ICON_SIZES, app_icon

DESKTOP_FILE = Path(__file__).resolve().parents[2] / "packaging" / "linux" / f"{APP_ID}.desktop"

pytestmark = pytest.mark.gui


def test_the_app_and_its_window_carry_the_icon_at_every_size(qapp, window) -> None:
    app_module.configure_app(qapp)
    icon = qapp.windowIcon()
    assert not icon.isNull()
    assert sorted(s.width() for s in icon.availableSizes()) == list(ICON_SIZES)
    assert qapp.desktopFileName() == APP_ID
    shown = window.windowIcon()  # a window without its own icon shows the app's
    assert not shown.isNull()
    assert shown.cacheKey() == icon.cacheKey()
    # The 16 px pixmap is the 16 px file, not the 512 px one scaled: its middle is opaque
    # ConvScope blue-green, its corner transparent (the tile is rounded).
    image = icon.pixmap(QSize(16, 16)).toImage()
    assert (image.width(), image.height()) == (16, 16)
    assert image.pixelColor(8, 8).alpha() == 255
    assert image.pixelColor(0, 0).alpha() < 64


def test_a_missing_icon_folder_leaves_the_default_icon(qapp, monkeypatch, tmp_path) -> None:
    assert app_icon(tmp_path / "nowhere").isNull()
    monkeypatch.setattr(app_icon_module, "assets_dir", lambda: tmp_path)
    previous = qapp.windowIcon()
    try:
        app_module.configure_app(qapp)  # no exception, no warning (warnings are errors here)
        assert qapp.windowIcon().isNull()
    finally:
        qapp.setWindowIcon(previous)


def test_some_sizes_missing_gives_the_others(tmp_path) -> None:
    source = app_icon_module.icons_dir()
    for size in (16, 48):
        (tmp_path / f"convscope-{size}.png").write_bytes((source / f"convscope-{size}.png").read_bytes())
    icon = app_icon(tmp_path)
    assert sorted(s.width() for s in icon.availableSizes()) == [16, 48]


def test_the_window_class_is_the_one_the_desktop_file_names(qapp) -> None:
    # On X11 Qt sets the class of WM_CLASS to the application name; the menu entry's
    # StartupWMClass must match for a dock to group the window under its icon.
    app_module.configure_app(qapp)
    entry = configparser.ConfigParser(interpolation=None, delimiters=("=",))
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read(DESKTOP_FILE, encoding="utf-8")
    assert entry["Desktop Entry"]["StartupWMClass"] == qapp.applicationName() == "ConvScope"
