"""The Help menu: every action's keys (and that a key reaches the engine), the Keyboard
Shortcuts dialog, About, and the first-run tour."""

from __future__ import annotations

import platform
from importlib import metadata

import PySide6
import pytest
from PySide6.QtCore import QRect, QSettings, Qt, qVersion
from PySide6.QtGui import QAction, QGuiApplication
from PySide6.QtWidgets import QApplication, QTabBar

import convscope
from convscope import events as ev
from convscope.ui import shortcuts, tour

pytestmark = pytest.mark.gui


def _focus(window, qtbot) -> None:
    window.activateWindow()
    window.setFocus()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=3000)


# ------------------------------------------------------------------ shortcuts
def test_every_menu_and_toolbar_action_has_its_own_shortcut(window) -> None:
    dynamic = shortcuts.exempt(QAction("recent-file.png", window))  # e.g. File ▸ Open Recent's entries
    window.file_menu.addAction(dynamic)
    found = shortcuts.window_actions(window)
    titles = [a.text() for _w, a in found]
    # The walk reaches the toolbar's, the menus', the runs', Reset Layout, the panels', Help's.
    for expected in ("Train", "Step", "&Resume Run…", "&Reset Layout", "Feature maps", "&About ConvScope"):
        assert expected in titles
    keyed = [(where, a) for where, a in found if not shortcuts.is_exempt(a)]
    assert dynamic not in [a for _w, a in keyed]
    assert len(keyed) >= 40
    missing = [f"{where} ▸ {a.text()}" for where, a in keyed if not a.shortcuts()]
    assert missing == []
    owners: dict[str, str] = {}
    for _where, action in keyed:
        for sequence in action.shortcuts():
            key = sequence.toString()
            assert key not in owners, f"{key} is both {owners[key]!r} and {action.text()!r}"
            owners[key] = action.text()


def test_the_shortcuts_dialog_lists_every_action_and_filters(window, qtbot) -> None:
    window.help_actions["keys"].trigger()
    dialog = window._shortcuts_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    assert not dialog.isModal()
    listed = dialog.visible_actions()
    assert len(listed) == len(shortcuts.rows(window))
    assert {"Step", "Reset", "Open Data Set Folder", "Follow Run", "Feature maps", "Tour"} <= set(listed)
    row = listed.index("Step")
    assert dialog.table.item(row, 2).text() == "F10"
    dialog.filter.setText("f10")  # by key, any case
    assert dialog.visible_actions() == ["Step"]
    dialog.filter.setText("try this")  # by menu
    assert "Max pooling" in dialog.visible_actions() and "Step" not in dialog.visible_actions()


def test_keys_reach_the_engine_and_the_window(window, loop, qtbot) -> None:
    _focus(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_F10)  # Step
    qtbot.waitUntil(lambda: len(loop.seen(ev.Step)) == 1, timeout=3000)
    qtbot.waitUntil(lambda: loop.step == 1, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_F5)  # Train
    qtbot.waitUntil(lambda: loop.running and loop.step > 3, timeout=3000)
    qtbot.keyClick(window, Qt.Key.Key_F6)  # Pause
    qtbot.waitUntil(lambda: not loop.running, timeout=3000)
    dock = window.docks["Feature maps"]
    qtbot.keyClick(window, Qt.Key.Key_7, Qt.KeyboardModifier.AltModifier)  # its View toggle
    qtbot.waitUntil(lambda: dock.isHidden(), timeout=2000)
    qtbot.keyClick(window, Qt.Key.Key_Slash, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: getattr(window, "_shortcuts_dialog", None) is not None
                    and window._shortcuts_dialog.isVisible(), timeout=2000)


# ------------------------------------------------------------------ about
def test_about_names_the_versions_device_data_and_copies_them(window, qtbot) -> None:
    window.help_actions["about"].trigger()
    dialog = window._about_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=2000)
    assert not dialog.isModal()
    text = dialog.text.toPlainText()
    for expected in (
        f"ConvScope {convscope.__version__}",
        f"JAX {metadata.version('jax')}, jaxlib {metadata.version('jaxlib')}",
        f"Qt {qVersion()} (runtime), PySide6 {PySide6.__version__}",
        f"Python {platform.python_version()}",
        "Device: FakeDevice",  # what the loop reported at its start
        "Data set: fake digits: 64 train / 16 val",
        "MIT licence",
        "CC BY-SA 3.0",
        "CC0",
    ):
        assert expected in text
    QGuiApplication.clipboard().clear()
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == text


# ------------------------------------------------------------------ tour
def _in_window(window, widget, rect: QRect | None = None) -> QRect:
    rect = rect if rect is not None else widget.rect()
    return QRect(widget.mapTo(window, rect.topLeft()), rect.size())


def _feature_maps_tab(window) -> QRect:
    target = tour.dock_tab("Feature maps")(window)
    assert target is not None
    return _in_window(window, *target)


def _current_tab(window, title: str) -> str:
    """The raised tab of the shown tab bar that holds ``title``."""
    for bar in window.findChildren(QTabBar):
        if bar.parent() is window and bar.isVisible() and title in [bar.tabText(i) for i in range(bar.count())]:
            return bar.tabText(bar.currentIndex())
    return ""


def test_first_run_tour_points_at_train_then_raises_feature_maps(make_window, qtbot, tmp_path) -> None:
    settings = QSettings(str(tmp_path / "ConvScope.ini"), QSettings.Format.IniFormat)
    window = make_window()
    window.resize(1280, 720)
    qtbot.wait(100)
    assert tour.show_on_first_run(window, settings)
    guide = tour.guide_for(window)
    qtbot.waitUntil(lambda: guide.active, timeout=2000)
    assert settings.value(tour.SHOWN_KEY) in (True, "true")
    # Step 1: the frame is around the Train button and the panel just below it, not over it.
    button = _in_window(window, window.toolbar.widgetForAction(window.train_action))
    assert guide.highlight.isVisible() and guide.highlight.geometry().contains(button)
    panel = guide.panel.geometry()
    assert not panel.intersects(button) and 0 < panel.top() - button.bottom() < 40
    assert window.rect().contains(panel)
    assert "Train" in guide.panel.title.text()
    # Not modal, not in the way: the Train button still works.
    qtbot.mouseClick(window.toolbar.widgetForAction(window.train_action), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.session.state == "training", timeout=3000)
    # Step 2: the Feature maps tab is raised (it is behind Training at first) and framed.
    assert _current_tab(window, "Feature maps") == "Training"
    qtbot.mouseClick(guide.panel.next, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _current_tab(window, "Feature maps") == "Feature maps", timeout=2000)
    assert not window.docks["Feature maps"].visibleRegion().isEmpty()
    qtbot.waitUntil(lambda: guide.highlight.geometry().contains(_feature_maps_tab(window)), timeout=2000)
    assert guide.panel.title.text() == "Feature maps"
    # It follows the tab when the window is resized.
    qtbot.wait(100)  # the placement queued by Next has run
    before = _feature_maps_tab(window)
    window.resize(1000, 640)
    qtbot.waitUntil(lambda: _feature_maps_tab(window) != before, timeout=3000)
    qtbot.waitUntil(lambda: guide.highlight.geometry().contains(_feature_maps_tab(window)), timeout=3000)
    assert window.rect().contains(guide.panel.geometry())
    # Steps 3 and 4: the File menu (Open Image) and the learning-rate slider; Esc closes.
    guide.panel.next.click()
    assert guide.panel.title.text() == "Open Image"
    guide.panel.next.click()
    slider = window.panels["Hyperparameters"].learning_rate
    qtbot.waitUntil(lambda: slider.isVisible() and guide.highlight.geometry().contains(
        _in_window(window, slider)), timeout=2000)
    assert guide.panel.next.text() == "Done"
    _focus(window, qtbot)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not guide.active and not guide.highlight.isVisible(), timeout=2000)

    # The next launch with the same settings does not show it; Help ▸ Tour still does.
    again = make_window()
    assert not tour.show_on_first_run(again, settings)
    qtbot.wait(50)
    assert not tour.guide_for(again).active
    again.help_actions["tour"].trigger()
    assert tour.guide_for(again).active and tour.guide_for(again).index == 0


def test_a_window_without_settings_never_shows_the_tour_unasked(window, qtbot) -> None:
    assert not tour.show_on_first_run(window, None)
    qtbot.wait(50)
    assert not tour.guide_for(window).active


def test_the_tour_balloon_is_readable_in_the_dark_theme(make_window, qtbot, qapp) -> None:
    """The balloon keeps its cream background in both themes, so its text keeps a dark
    ink: with the dark theme's light text it was unreadable (seen in a screenshot)."""
    from PySide6.QtGui import QColor, QPalette

    from convscope.ui import theme

    window = make_window()
    try:
        theme.apply(qapp, theme.DARK)
        guide = tour.start_tour(window)
        qtbot.waitUntil(lambda: guide.active, timeout=2000)
        cream = theme._luminance(QColor("#fffdf2"))
        for label in (guide.panel.title, guide.panel.text):
            label.ensurePolished()
            ink = label.palette().color(QPalette.ColorRole.WindowText)
            assert cream - theme._luminance(ink) > 0.7, (label.text(), ink.name())
    finally:
        theme.apply(qapp, theme.LIGHT)
