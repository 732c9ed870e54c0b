"""File ▸ Open Recent and the last data set, through real windows on a QSettings file:
what a first window opened, a second one offers (and reopens); an entry whose file
has gone is said and dropped; a last data set that no longer loads leaves the window
on the data it has, with a notice, never a traceback.

Imports of the modules under test stay inside the tests, so that each test fails for
its own reason on a checkout without the change it covers.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FAKE_DATASET, FakeLoop
from PySide6.QtCore import QSettings, QSize
from PySide6.QtGui import QKeySequence

from convscope.config import ArchSpec, TrainConfig
from convscope.resources import assets_dir

pytestmark = pytest.mark.gui


def settings_at(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def new_window(qtbot: Any, settings: QSettings | None = None, remember: bool = False, size: QSize | None = None) -> Any:
    from convscope.ui.main_window import MainWindow

    window = MainWindow(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=FakeLoop, settings=settings)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(size)
    if remember:
        window.window_layout.remember(settings)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=5000)
    qtbot.wait(100)  # the first arrangement runs after the first paint
    return window


def write_npz(path: Path, n: int = 40, size: int = 12, classes: int = 4) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = np.arange(n) % classes
    np.savez(path, x_train=x, y_train=y, x_test=x[:8], y_test=y[:8])
    return path


def recent_texts(window: Any) -> list[str]:
    return [a.text() for a in window.recent.menu.actions() if a.text() and not a.isSeparator()]


def test_open_recent_is_a_submenu_of_file_with_clear_recent(qtbot) -> None:
    window = new_window(qtbot)
    try:
        menu = window.recent.menu
        assert menu.menuAction() in window.file_menu.actions()
        assert recent_texts(window) == ["(nothing yet)", "&Clear Recent"]
        assert not window.recent.clear_action.isEnabled()
        assert window.recent.clear_action.shortcut() == QKeySequence("Ctrl+Shift+Del")
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_a_second_window_remembers_layout_data_set_recent_files_and_preferences(qtbot, tmp_path) -> None:
    """The whole round trip through one settings file, as two launches see it."""
    from convscope.ui.panels.dataset import loader_for

    image = tmp_path / "coffee.png"
    shutil.copy(assets_dir() / "images" / "coffee.png", image)
    data = write_npz(tmp_path / "small.npz")
    settings = settings_at(tmp_path / "convscope.ini")
    first = new_window(qtbot, settings, remember=True, size=QSize(790, 690))
    first.docks["Filters"].close()
    assert first.open_image(str(image))
    loader = loader_for(first.session)
    loader.load(str(data))
    qtbot.waitUntil(lambda: first.session.dataset.name != FAKE_DATASET.name, timeout=10_000)
    first.preferences.set_share(35)
    first.close()
    first.session.shutdown(timeout_s=2.0)

    second = new_window(qtbot, settings_at(tmp_path / "convscope.ini"), remember=True)
    try:
        assert second.size() == QSize(790, 690) and second.docks["Filters"].isHidden()  # geometry, docks
        assert second.panels["Loss landscape"].controls.share.value() == 35  # a preference
        assert recent_texts(second)[:2] == ["Data set: small.npz", "Image: coffee.png"]
        shortcuts = [a.shortcut().toString() for a in second.recent.menu.actions()[:2]]
        assert shortcuts == ["Ctrl+Shift+1", "Ctrl+Shift+2"]
        # The last data set: the window starts on what it is given, then reopens it.
        assert second.session.dataset.name == FAKE_DATASET.name
        assert second.recent.reopen_last()
        qtbot.waitUntil(lambda: second.session.dataset.name != FAKE_DATASET.name, timeout=10_000)
        assert second.session.dataset.num_classes == 4 and "Now training on" in second.notice_label.text()
        # A recent image opens again from the menu.
        second.recent.menu.actions()[1].trigger()
        assert second.statusBar().currentMessage() == f"Inspecting {image}"
    finally:
        second.session.shutdown(timeout_s=2.0)


def test_a_last_data_set_that_no_longer_loads_says_so_and_stays_on_the_digits(qtbot, tmp_path) -> None:
    from convscope.ui.recent import BUILTIN_DIGITS, LAST_DATA_KEY

    data = write_npz(tmp_path / "gone.npz")
    settings = settings_at(tmp_path / "convscope.ini")
    first = new_window(qtbot, settings)
    first.recent.note_dataset(str(data), _options())
    first.session.shutdown(timeout_s=2.0)
    data.write_bytes(b"not a zip any more")  # damaged since

    second = new_window(qtbot, settings_at(tmp_path / "convscope.ini"))
    try:
        assert second.recent.reopen_last()
        qtbot.waitUntil(lambda: "did not open" in second.notice_label.text(), timeout=10_000)
        assert str(data) in second.notice_label.text() and "built-in digits" in second.notice_label.text()
        assert second.notice_label.property("level") == "warning"
        assert second.session.dataset is FAKE_DATASET  # what the window had (the app's: the digits)
        assert BUILTIN_DIGITS in settings_at(tmp_path / "convscope.ini").value(LAST_DATA_KEY)
    finally:
        second.session.shutdown(timeout_s=2.0)
    third = new_window(qtbot, settings_at(tmp_path / "convscope.ini"))
    try:
        assert not third.recent.reopen_last()  # not tried again at every launch
    finally:
        third.session.shutdown(timeout_s=2.0)


def _options() -> Any:
    from convscope.data import LoadOptions

    return LoadOptions()


def test_a_recent_entry_that_vanished_is_reported_and_dropped(qtbot, tmp_path) -> None:
    from convscope.ui.recent import ENTRIES_KEY

    checkpoint, image = tmp_path / "old.npz", tmp_path / "pic.png"
    checkpoint.write_bytes(b"x")
    shutil.copy(assets_dir() / "images" / "coffee.png", image)
    settings = settings_at(tmp_path / "convscope.ini")
    window = new_window(qtbot, settings)
    try:
        window.recent.add("checkpoint", checkpoint)
        window.recent.add("image", image)
        checkpoint.unlink()
        entry = next(a for a in window.recent.menu.actions() if a.text() == "Checkpoint: old.npz")
        entry.trigger()
        assert "no longer there" in window.notice_label.text() and str(checkpoint) in window.notice_label.text()
        assert recent_texts(window)[0] == "Image: pic.png"
        assert "old.npz" not in settings_at(tmp_path / "convscope.ini").value(ENTRIES_KEY)
        assert window.session.state == "paused"  # nothing was sent to the loop

        window.recent.clear_action.trigger()
        assert recent_texts(window)[0] == "(nothing yet)"
        assert settings_at(tmp_path / "convscope.ini").value(ENTRIES_KEY) == "[]"
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_a_window_without_settings_keeps_recent_files_to_itself(qtbot, tmp_path) -> None:
    from convscope.ui.layout_memory import app_settings

    image = tmp_path / "pic.png"
    shutil.copy(assets_dir() / "images" / "coffee.png", image)
    # Another test in this process may have run the app, whose settings these are.
    before = app_settings().value("recent/entries")
    window = new_window(qtbot)
    try:
        assert window.open_image(str(image))
        assert recent_texts(window)[0] == "Image: pic.png"
    finally:
        window.session.shutdown(timeout_s=2.0)
    after = app_settings().value("recent/entries")
    assert after == before and "pic.png" not in str(after)
