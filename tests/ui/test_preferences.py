"""File ▸ Preferences… and the themes, through real windows: what each preference does
(the recorder's folder, the landscape probe's CPU share, the plots' colours) and that
it lasts (a second window on the same QSettings file).

Imports of the modules under test stay inside the tests, so that each test fails for
its own reason on a checkout without the change it covers.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FAKE_DATASET, FakeLoop
from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QColor, QKeySequence

from convscope.config import ArchSpec, TrainConfig

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _light_afterwards(qapp: Any) -> Iterator[None]:
    """The theme is the whole application's: every test leaves it light."""
    yield
    from convscope.ui import theme

    theme.follower(qapp).set_choice(theme.LIGHT)


def settings_at(path: Path) -> QSettings:
    return QSettings(str(path), QSettings.Format.IniFormat)


def new_window(qtbot: Any, settings: QSettings | None = None, runs_root: Path | None = None) -> Any:
    from convscope.ui.main_window import MainWindow

    window = MainWindow(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=FakeLoop,
                        runs_root=runs_root, settings=settings)
    qtbot.addWidget(window)
    window.resize(1280, 720)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=5000)
    return window


def luminance(color: QColor) -> float:
    from convscope.ui.theme import _luminance

    return _luminance(color)


def training_view(window: Any) -> Any:
    return window.panels["Training"].graphics


def test_the_preferences_action_is_in_the_file_menu_with_ctrl_comma(qtbot) -> None:
    window = new_window(qtbot)
    try:
        action = window.preferences.action
        assert action in window.file_menu.actions()
        assert action.shortcut() == QKeySequence("Ctrl+,")
        dialog = window.preferences.open_dialog()
        qtbot.waitUntil(dialog.isVisible, timeout=2000)
        assert dialog.theme.currentData() == "system" and dialog.share.value() == 50
        dialog.reject()
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_dark_gives_dark_plots_with_light_text_and_light_the_reverse(qtbot) -> None:
    window = new_window(qtbot)
    try:
        panel = window.panels["Training"]
        view, axis = training_view(window), panel.loss_plot.getAxis("left")
        assert luminance(view.backgroundBrush().color()) > 0.9
        assert luminance(axis.textPen().color()) < 0.1

        dialog = window.preferences.open_dialog()
        dialog.theme.setCurrentIndex(dialog.theme.findData("dark"))
        dialog.accept()
        qtbot.wait(50)
        assert luminance(view.backgroundBrush().color()) < 0.05
        assert luminance(axis.textPen().color()) > 0.6
        assert axis.label.defaultTextColor() == axis.textPen().color()  # the axis title too
        # What is drawn: the plot's background pixels are dark, its tick labels light.
        image = view.grab().toImage()
        corner = image.pixelColor(image.width() - 3, image.height() - 3)
        assert luminance(corner) < 0.05, corner.name()
        assert window.palette().color(window.backgroundRole()).lightness() < 80  # the widgets too
        # Every curve stands out on the dark background; the blue and orange stay theirs.
        from convscope.ui.panels.training import TRAIN_COLOR, VAL_COLOR
        from convscope.ui.theme import contrast

        for curve in panel.curves.values():
            assert contrast(pg_color(curve.opts["pen"]), view.backgroundBrush().color()) >= 3.0
        assert pg_color(panel.curves["val_loss"].opts["pen"]) == QColor(VAL_COLOR)
        assert pg_color(panel.curves["loss"].opts["pen"]).hslHue() == QColor(TRAIN_COLOR).hslHue()
        # The legend row's glyphs: the purple of the change markers, lightened to read.
        from convscope.ui.panels.training import MARKER_COLOR

        lighter = theme_color(MARKER_COLOR).name()
        assert lighter != MARKER_COLOR and lighter in panel.legend.text and MARKER_COLOR not in panel.legend.text
        # A legend's box is dark too, its text light: the landscape's line plots have one,
        # out of the scene while the panel is docked small (as here), back in when wide.
        import pyqtgraph as pg

        landscape = window.panels["Loss landscape"]
        from convscope.ui.panels.landscape_views import arrange

        arrange(landscape.graphics.ci, landscape.map, [landscape.line_interp, landscape.line_dir], "wide")  # as a resize does
        legends = [i for v in window.findChildren(pg.GraphicsView) for i in v.scene().items()
                   if isinstance(i, pg.LegendItem)]
        assert legends
        for legend in legends:
            assert luminance(legend.opts["brush"].color()) < 0.05, legend.opts["brush"].color().name()
            assert luminance(legend.opts["labelTextColor"]) > 0.6

        dialog = window.preferences.open_dialog()
        dialog.theme.setCurrentIndex(dialog.theme.findData("light"))
        dialog.accept()
        qtbot.wait(50)
        assert luminance(view.backgroundBrush().color()) > 0.9
        assert axis.textPen().color() == QColor("#222222")  # exactly the panel's own ink again
        assert MARKER_COLOR in panel.legend.text
        assert window.palette().color(window.backgroundRole()).lightness() > 180
    finally:
        window.session.shutdown(timeout_s=2.0)


def theme_color(color: str) -> QColor:
    from convscope.ui import theme

    return theme.plot_color(color, theme.DARK)


def pg_color(pen: Any) -> QColor:
    import pyqtgraph as pg

    return pg.mkPen(pen).color()


def test_dark_ink_contrasts_with_the_dark_background_and_leaves_images_alone(qtbot) -> None:
    import pyqtgraph as pg

    from convscope.ui import theme

    bg = QColor(theme.INKS[theme.DARK].background)
    # The palettes the panels use: every colour readable on dark once mapped, hues kept.
    from convscope.ui.run_selection import PALETTE

    for color in (*PALETTE, "#222", "#444", "#7b3294", "#1f77b4", "#e6550d"):
        mapped = theme.plot_color(color, theme.DARK)
        assert theme.contrast(mapped, bg) >= 3.0, color
        assert theme.plot_color(mapped, theme.DARK) == mapped  # drawn twice: the same
        source = QColor(color)
        if source.hslSaturationF() > 0.15:
            assert abs(mapped.hslHueF() - source.hslHueF()) < 0.02, color
    assert theme.plot_color("#1f77b4", theme.LIGHT) == QColor("#1f77b4")

    # Marks drawn over an image (contours, markers) keep their colours.
    widget = pg.PlotWidget()
    qtbot.addWidget(widget)
    widget.addItem(pg.ImageItem())
    text = pg.TextItem("over the image", color="#222")
    widget.addItem(text)
    theme.restyle_view(widget, theme.DARK)
    assert text.color == QColor("#222")
    theme.restyle_view(widget, theme.LIGHT)


def test_a_marker_made_while_dark_is_drawn_light_and_back(qtbot) -> None:
    from convscope.ui import theme

    window = new_window(qtbot)
    try:
        window.preferences.set_theme("dark")
        panel = window.panels["Training"]
        assert window.session.set_hyperparams(learning_rate=3e-3) == ""  # the loop says when: a marker
        qtbot.waitUntil(lambda: bool(panel.markers), timeout=5000)
        label = panel.markers[-1].label
        assert theme.contrast(label.color, QColor(theme.INKS[theme.DARK].background)) >= 3.0
        window.preferences.set_theme("light")
        from convscope.ui.panels.training import MARKER_COLOR

        assert label.color == QColor(MARKER_COLOR)
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_the_theme_preference_round_trips_through_qsettings(qtbot, tmp_path) -> None:
    from convscope.ui.preferences import THEME_KEY

    settings = settings_at(tmp_path / "prefs.ini")
    first = new_window(qtbot, settings)
    first.preferences.set_theme("dark")
    first.close()
    first.session.shutdown(timeout_s=2.0)
    assert settings_at(tmp_path / "prefs.ini").value(THEME_KEY) == "dark"

    second = new_window(qtbot, settings_at(tmp_path / "prefs.ini"))
    try:
        assert second.preferences.theme == "dark"
        dialog = second.preferences.open_dialog()
        assert dialog.theme.currentData() == "dark"
        dialog.reject()
    finally:
        second.session.shutdown(timeout_s=2.0)


def test_system_follows_the_desktops_colour_scheme(qtbot, qapp, monkeypatch) -> None:
    from PySide6.QtGui import QGuiApplication

    from convscope.ui import theme

    # The offscreen platform has no desktop scheme to change: the desktop is stood in
    # for by what the scheme reads and by Qt's own change signal.
    hints = QGuiApplication.styleHints()
    follower = theme.follower(qapp)
    follower.set_choice(theme.SYSTEM)
    assert theme.current() == theme.LIGHT
    monkeypatch.setattr(theme, "system_scheme", lambda: theme.DARK)
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert theme.current() == theme.DARK and pg_config("background") == theme.INKS[theme.DARK].background
    follower.set_choice(theme.LIGHT)  # a forced choice ignores the desktop
    hints.colorSchemeChanged.emit(Qt.ColorScheme.Dark)
    assert theme.current() == theme.LIGHT


def test_a_theme_change_keeps_the_fusion_style_object(qapp) -> None:
    """Asking for Fusion again at each change (a style sheet's style has no name) replaced
    the application's style and re-polished every widget: 0.13 s a window, per change."""
    from convscope.ui import theme

    style = qapp.style()
    theme.apply(qapp, theme.DARK)
    theme.apply(qapp, theme.LIGHT)
    assert qapp.style() is style  # the one Fusion style, under the style sheet


def pg_config(name: str) -> Any:
    import pyqtgraph as pg

    return pg.getConfigOption(name)


def test_the_cpu_share_preference_is_the_landscape_probes_and_moves_with_its_slider(qtbot, tmp_path) -> None:
    from convscope.ui.preferences import SHARE_KEY

    settings = settings_at(tmp_path / "prefs.ini")
    settings.setValue(SHARE_KEY, 30)
    settings.sync()
    window = new_window(qtbot, settings)
    try:
        landscape = window.panels["Loss landscape"]
        assert landscape.controls.share.value() == 30
        window.session.train()
        qtbot.waitUntil(lambda: window.session.is_training, timeout=5000)
        landscape._apply_share()
        assert landscape.runner.share == pytest.approx(0.30)  # what the probe is held to

        window.preferences.set_share(70)  # the dialog's way
        assert landscape.controls.share.value() == 70
        assert landscape.runner.share == pytest.approx(0.70)
        landscape.controls.share.setValue(40)  # the slider's way
        assert window.preferences.share == 40
        assert settings_at(tmp_path / "prefs.ini").value(SHARE_KEY) in (40, "40")
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_the_runs_folder_preference_is_where_the_recorder_writes(qtbot, tmp_path) -> None:
    from convscope.ui.run_actions import ROOT_KEY, runs_root

    settings = settings_at(tmp_path / "prefs.ini")
    window = new_window(qtbot, settings, runs_root=tmp_path / "runs")
    try:
        assert window.runs.recorder.root == tmp_path / "runs"
        dialog = window.preferences.open_dialog()
        assert dialog.root.text() == str(tmp_path / "runs")
        dialog.root.setText(str(tmp_path / "elsewhere"))
        dialog.accept()
        assert window.runs.recorder.root == tmp_path / "elsewhere"
        assert window.panels["Runs"].root == tmp_path / "elsewhere"
        assert settings_at(tmp_path / "prefs.ini").value(ROOT_KEY) == str(tmp_path / "elsewhere")
        assert runs_root(None, settings_at(tmp_path / "prefs.ini")) == tmp_path / "elsewhere"  # the next launch
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_convscope_theme_names_a_theme_for_one_launch(monkeypatch) -> None:
    from convscope.ui import theme

    for value, choice in (("dark", "dark"), (" Light ", "light"), ("system", "system"), ("purple", None), ("", None)):
        monkeypatch.setenv("CONVSCOPE_THEME", value)
        assert theme.env_choice() == choice, value
