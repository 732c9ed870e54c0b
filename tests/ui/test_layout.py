"""Layout and legibility, measured on the real widgets: the window fits small screens
and remembers its layout, the training plots share one x axis, legends stay off the
data, the kernel playground's grid and texts neither overlap nor clip.

Imports of the modules under test stay inside the tests, so that each test fails for
its own reason on a checkout without the change it covers.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pyqtgraph as pg
import pytest
from conftest import FAKE_DATASET, FakeLoop
from PySide6.QtCore import QPointF, QRect, QRectF, QSettings, QSize
from PySide6.QtGui import QFontMetrics, QImage, QPainter
from PySide6.QtWidgets import QDockWidget, QWidget

from convscope import events as ev
from convscope.config import ArchSpec, TrainConfig

pytestmark = pytest.mark.gui


@pytest.fixture(autouse=True)
def _settings_in_tmp(tmp_path: Any) -> Any:
    """Whatever asks for the user's settings here gets a file under tmp_path."""
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        QSettings.setPath(fmt, QSettings.Scope.UserScope, str(tmp_path / "user-config"))
    yield


def new_window(qtbot: Any, settings: QSettings | None = None, size: QSize | None = None) -> Any:
    """A MainWindow on the FakeLoop, remembering its layout in ``settings`` if given."""
    from convscope.ui.main_window import MainWindow

    window = MainWindow(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=FakeLoop)
    qtbot.addWidget(window)
    if size is not None:
        window.resize(size)
    if settings is not None:
        window.window_layout.remember(settings)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=5000)
    qtbot.wait(100)  # the first arrangement runs after the first paint
    return window


def shown_docks(window: Any) -> list[QDockWidget]:
    return [d for d in window.docks.values() if d.isVisible() and not d.visibleRegion().isEmpty()]


# ------------------------------------------------------------------ item 8: the window
def test_no_panel_forces_a_window_larger_than_1024x640(qtbot) -> None:
    window = new_window(qtbot)
    try:
        hint, minimum = window.minimumSizeHint(), window.minimumSize()
        assert hint.width() <= 1024 and hint.height() <= 640, hint
        assert minimum.width() <= 1024 and minimum.height() <= 640, minimum
        window.resize(1024, 640)
        window.window_layout.reset()
        qtbot.wait(150)
        assert window.size() == QSize(1024, 640)
        inside = window.rect()
        for dock in shown_docks(window) + [window.statusBar(), window.toolbar]:
            box = QRect(dock.mapTo(window, dock.rect().topLeft()), dock.size())
            assert inside.contains(box), (dock.windowTitle() or dock.objectName(), box)
        for title in ("Image", "Training", "Hyperparameters"):  # on screen, not just inside
            assert window.docks[title].width() >= 250 and window.docks[title].height() >= 150, title
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_the_first_size_fits_the_free_area_of_the_screen() -> None:
    from convscope.ui.layout_memory import first_size

    assert first_size(QRect(0, 0, 1280, 720)) == QRect(0, 0, 1280, 720)
    assert first_size(QRect(0, 27, 1024, 613)) == QRect(0, 27, 1024, 613)  # a top panel
    assert first_size(QRect(0, 0, 2560, 1440)) == QRect(0, 0, 1600, 1000)


def test_dock_tab_labels_are_whole(qtbot) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QTabBar

    window = new_window(qtbot, size=QSize(1280, 720))
    try:
        bars = [b for b in window.findChildren(QTabBar) if b.parent() is window and b.isVisible()]
        assert bars
        for bar in bars:
            assert bar.elideMode() == Qt.TextElideMode.ElideNone and bar.usesScrollButtons()
    finally:
        window.session.shutdown(timeout_s=2.0)


def test_the_layout_is_restored_in_a_second_window(qtbot, tmp_path) -> None:
    settings = QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat)
    first = new_window(qtbot, settings, QSize(790, 690))  # inside the offscreen 800×800 screen
    first.docks["Filters"].close()  # a panel the user closed
    first.docks["Image"].setFloating(True)  # and one torn off
    qtbot.wait(100)
    widths = {t: first.docks[t].width() for t in ("Hyperparameters", "Training")}
    first.close()
    first.session.shutdown(timeout_s=2.0)
    assert settings.value("window/state") is not None

    second = new_window(qtbot, QSettings(str(tmp_path / "layout.ini"), QSettings.Format.IniFormat))
    try:
        assert second.window_layout.restored
        assert second.size() == QSize(790, 690)
        assert second.docks["Filters"].isHidden()
        assert second.docks["Image"].isFloating()
        for title, width in widths.items():
            assert abs(second.docks[title].width() - width) <= 4, title
    finally:
        second.session.shutdown(timeout_s=2.0)


def test_a_window_without_settings_neither_reads_nor_writes_them(qtbot, tmp_path) -> None:
    from convscope.ui.layout_memory import app_settings

    assert app_settings().fileName().startswith(str(tmp_path))  # the fixture's redirection
    window = new_window(qtbot)
    window.close()
    window.session.shutdown(timeout_s=2.0)
    assert not (tmp_path / "user-config").exists()


def test_reset_layout_restores_the_default_arrangement(qtbot) -> None:
    from PySide6.QtCore import Qt

    window = new_window(qtbot, size=QSize(1600, 1000))
    try:
        default = {
            t: (window.dockWidgetArea(d), d.isFloating(), d.isHidden()) for t, d in window.docks.items()
        }
        groups = {
            t: {x.windowTitle() for x in window.tabifiedDockWidgets(d)} for t, d in window.docks.items()
        }
        window.docks["Filters"].close()
        window.docks["Image"].setFloating(True)
        window.removeDockWidget(window.docks["Evaluation"])
        window.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, window.docks["Evaluation"])
        window.docks["Evaluation"].show()
        qtbot.wait(50)
        assert window.dockWidgetArea(window.docks["Evaluation"]) == Qt.DockWidgetArea.LeftDockWidgetArea

        view_actions = {a.text().replace("&", ""): a for a in window.view_menu.actions()}
        view_actions["Reset Layout"].trigger()
        qtbot.wait(150)
        now = {t: (window.dockWidgetArea(d), d.isFloating(), d.isHidden()) for t, d in window.docks.items()}
        assert now == default
        assert {
            t: {x.windowTitle() for x in window.tabifiedDockWidgets(d)} for t, d in window.docks.items()
        } == groups
        # and the default proportions: the image column beside the curves, full widths
        assert window.docks["Image"].width() >= 360 and window.docks["Training"].width() >= 700
    finally:
        window.session.shutdown(timeout_s=2.0)


# ------------------------------------------------------------------ item 9: training plots
@pytest.fixture
def training(qtbot, session) -> Any:
    from convscope.ui.panels.training import TrainingPanel

    panel = TrainingPanel(session)
    qtbot.addWidget(panel)
    panel.resize(900, 560)
    panel.show()
    session.bridge.started.emit(ev.Started(ArchSpec(), TrainConfig(), "CPU", 10, 64, 16))
    qtbot.wait(20)
    return panel


def step_metrics(step: int, lr: float = 1e-3, loss: float | None = None) -> ev.StepMetrics:
    loss = 2.0 / step if loss is None else loss
    return ev.StepMetrics(step, step / 10, loss, 1 - 1 / (step + 1), lr, 900.0, 0.01)


def tick_text_rects(axis: pg.AxisItem) -> list[tuple[QRectF, str]]:
    image = QImage(400, 400, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(QRectF(rect), text) for rect, _flags, text in specs[2]] if specs else []


def test_learning_rate_labels_do_not_pile_up_at_step_0(training, qtbot) -> None:
    texts = tick_text_rects(training.lr_plot.getAxis("left"))
    assert len(texts) >= 2, texts  # some decades are named
    for (a, ta), (b, tb) in itertools.combinations(texts, 2):
        assert not a.intersects(b), (ta, tb)
    lo, hi = training.lr_plot.viewRange()[1]
    assert lo < np.log10(TrainConfig().learning_rate) < hi  # the rate to come is in view


def test_the_three_plots_map_a_step_to_the_same_pixel(training, session, qtbot) -> None:
    for step in range(1, 121):
        session.bridge.stepped.emit(step_metrics(step))
    training.redraw()
    qtbot.wait(50)
    plots = (training.loss_plot, training.acc_plot, training.lr_plot)
    for step in (0, 40, 120):
        xs = [p.vb.mapViewToScene(QPointF(step, p.vb.viewRange()[1][0])).x() for p in plots]
        assert max(xs) - min(xs) <= 1.0, (step, xs)


def test_a_learning_rate_change_is_drawn_as_a_step(training, session, qtbot) -> None:
    bridge = session.bridge
    for step in range(1, 11):
        bridge.stepped.emit(step_metrics(step, lr=1e-3))
    bridge.hyperparams_changed.emit(ev.HyperParamsChanged(10, {"learning_rate": (1e-3, 0.05)}, TrainConfig()))
    for step in range(11, 21):
        bridge.stepped.emit(step_metrics(step, lr=0.05))
    training.redraw()
    curve = training.curves["lr"]
    x, y = np.asarray(curve.xData), np.asarray(curve.yData)
    at = y[x == 10]
    assert len(at) >= 2 and at.min() == pytest.approx(1e-3) and at.max() == pytest.approx(0.05)
    assert np.all(np.diff(x) >= 0)
    assert y[x < 10].max() == pytest.approx(1e-3) and y[x > 10].min() == pytest.approx(0.05)


def legend_items(panel: QWidget) -> list[Any]:
    """Every legend a panel draws: pyqtgraph LegendItems and legend rows."""
    scene = panel.graphics.scene()
    found = [i for i in scene.items() if isinstance(i, pg.LegendItem) and i.isVisible()]
    for name in ("legend", "curve_legend", "time_legend"):
        item = getattr(panel, name, None)
        if isinstance(item, pg.GraphicsItem) and item not in found:
            found.append(item)
    return found


def data_rects(plot: pg.PlotItem) -> list[QRectF]:
    """Scene rectangles around each curve's data, clipped to the view box."""
    out = []
    box = plot.vb.sceneBoundingRect()
    for item in plot.listDataItems():
        x, y = item.getData()
        if x is None or len(x) == 0:
            continue
        a = plot.vb.mapViewToScene(QPointF(float(np.nanmin(x)), float(np.nanmin(y))))
        b = plot.vb.mapViewToScene(QPointF(float(np.nanmax(x)), float(np.nanmax(y))))
        out.append(QRectF(a, b).normalized().intersected(box))
    return out


def test_marker_labels_stay_clear_of_their_line_the_curves_and_the_legend(training, session, qtbot) -> None:
    bridge = session.bridge
    for step in range(1, 41):
        bridge.stepped.emit(step_metrics(step, lr=1e-3))
    bridge.evaluated.emit(ev.EvalMetrics(40, 4.0, 0.5, 0.8, 0.1))
    bridge.hyperparams_changed.emit(ev.HyperParamsChanged(40, {"learning_rate": (1e-3, 0.05)}, TrainConfig()))
    for step in range(41, 81):
        bridge.stepped.emit(step_metrics(step, lr=0.05))
    training.redraw()
    qtbot.wait(50)
    marker = training.markers[0]
    label = getattr(marker, "label", None) or marker.lines[0].label
    box = label.mapRectToScene(label.boundingRect())
    assert "1e-3→0.05" in (label.toPlainText() if hasattr(label, "toPlainText") else label.format)
    line_x = training.loss_plot.vb.mapViewToScene(QPointF(40, 0)).x()
    assert box.left() >= line_x - 3  # it starts at its line and runs right, not across it
    assert box.width() > 3 * box.height()  # level, readable
    for plot in (training.loss_plot, training.acc_plot, training.lr_plot):
        for rect in data_rects(plot):
            assert not box.intersects(rect), plot
    for legend in legend_items(training):
        assert not box.intersects(legend.sceneBoundingRect())


def test_axes_show_plain_numbers_without_si_scaling(training, session, qtbot) -> None:
    """A reopened checkpoint's loss of 0.05 read "cross-entropy (x0.001)" over ticks of
    0 … 75: pyqtgraph's automatic SI scaling, which reads as a unit. Plain numbers."""
    for step in range(1, 3001, 10):
        session.bridge.stepped.emit(step_metrics(step, loss=0.05))
    training.redraw()
    qtbot.wait(50)
    assert training.loss_plot.viewRange()[1][1] < 0.1
    for plot in (training.loss_plot, training.acc_plot, training.lr_plot):
        for name in ("left", "bottom"):
            axis = plot.getAxis(name)
            assert axis.autoSIPrefixScale == 1.0, (name, axis.labelString())
            assert "(x" not in axis.labelString()


# ------------------------------------------------------------------ item 10: legends
def assert_legends_off_the_data(panel: QWidget, plots: list[pg.PlotItem]) -> None:
    legends = legend_items(panel)
    assert legends
    for legend in legends:
        rect = legend.sceneBoundingRect()
        for plot in plots:
            assert not rect.intersects(plot.vb.sceneBoundingRect()), plot.titleLabel.text
            for data in data_rects(plot):
                assert not rect.intersects(data)


def test_training_legend_is_off_the_data(training, session, qtbot) -> None:
    for step in range(1, 101):
        session.bridge.stepped.emit(step_metrics(step))
        if step % 10 == 0:
            session.bridge.evaluated.emit(ev.EvalMetrics(step, step / 10, 1.0 / step, 0.9, 0.1))
    training.redraw()
    qtbot.wait(50)
    assert_legends_off_the_data(training, [training.loss_plot, training.acc_plot, training.lr_plot])
    text = " ".join(getattr(item, "text", "") for item in legend_items(training))
    assert "train" in text and "validation" in text


def test_activation_legends_are_off_the_data(qtbot, monkeypatch) -> None:
    from test_inspection_panels import settle

    window = _inspection_window(qtbot, monkeypatch)
    try:
        settle(window, qtbot)
        panel = window.panels["Activations"]
        window.docks["Activations"].raise_()
        qtbot.wait(100)
        panel.redraw()
        assert panel.time_curves  # the dead-unit curves are drawn
        assert_legends_off_the_data(panel, [panel.curve_plot, panel.time_plot])
        text = " ".join(getattr(item, "text", "") for item in legend_items(panel))
        assert "this image" in text and "act1" in text
    finally:
        window.close()
        window.session.shutdown(timeout_s=2.0)


def _inspection_window(qtbot: Any, monkeypatch: Any) -> Any:
    from test_inspection_panels import ARCH, DATASET, real_snapshot

    from convscope.ui.inspection import InspectionController
    from convscope.ui.main_window import MainWindow

    monkeypatch.setattr(FakeLoop, "_snapshot", real_snapshot)
    window = MainWindow(DATASET, ARCH, TrainConfig(), loop_factory=FakeLoop)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    c = window.inspection = window.session.findChild(InspectionController)
    qtbot.waitUntil(lambda: c.inspection is not None and c.stats is not None, timeout=20_000)
    return window


# ------------------------------------------------------------------ item 11: playground
def child_box(panel: QWidget, child: QWidget) -> QRect:
    return QRect(child.mapTo(panel, child.rect().topLeft()), child.size())


@pytest.mark.parametrize("preset", ["Edge (Laplacian)", "Gaussian blur 5×5"])
def test_kernel_grid_and_texts_neither_overlap_nor_clip(qtbot, session, preset) -> None:
    from PySide6.QtWidgets import QLabel

    from convscope.ui.panels.playground import KernelPlaygroundPanel

    panel = KernelPlaygroundPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    panel.preset.setCurrentText(preset)
    for size in (panel.minimumSizeHint(), QSize(560, 300), QSize(900, 420)):
        panel.resize(size.expandedTo(panel.minimumSizeHint()))
        qtbot.wait(30)
        table = child_box(panel, panel.table)
        labels = [w for w in panel.findChildren(QLabel) if w.isVisible() and w.text()]
        for label in labels:
            box = child_box(panel, label)
            assert not box.intersects(table), (size, label.text())
            assert panel.rect().contains(box), (size, label.text())
            need = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
            assert label.height() >= need, (size, label.text())  # no line cut off
        for a, b in itertools.combinations(labels, 2):
            assert not child_box(panel, a).intersects(child_box(panel, b)), (a.text(), b.text())
        assert panel.rect().contains(table)


def test_gaussian_5x5_values_are_readable(qtbot, session) -> None:
    from convscope.ui.panels.playground import KernelPlaygroundPanel
    from convscope.viz.kernels import KERNEL_PRESETS

    panel = KernelPlaygroundPanel(session)
    qtbot.addWidget(panel)
    panel.show()
    panel.preset.setCurrentText("Gaussian blur 5×5")
    kernel = KERNEL_PRESETS["Gaussian blur 5×5"]
    for r in range(5):
        for c in range(5):
            item = panel.table.item(r, c)
            text = item.text()
            room = panel.table.columnWidth(c) - 6  # the cell's text margins
            assert QFontMetrics(item.font()).horizontalAdvance(text) <= room, (r, c, text)
            assert item.font().pointSizeF() >= 10 or item.font().pixelSize() >= 13
            assert float(text) == pytest.approx(kernel[r, c], abs=5.001e-4), (r, c, text)  # 3 decimals


def test_a_5x5_kernel_does_not_grow_the_dock(qtbot) -> None:
    window = new_window(qtbot, size=QSize(1600, 1000))
    try:
        dock = window.docks["Kernel playground"]
        dock.raise_()
        qtbot.wait(100)
        panel = window.panels["Kernel playground"]
        before = {t: window.docks[t].size() for t in ("Kernel playground", "Training", "Image")}
        minimum = panel.minimumSizeHint()
        panel.preset.setCurrentText("Gaussian blur 5×5")
        qtbot.wait(150)
        assert panel.minimumSizeHint() == minimum
        assert {t: window.docks[t].size() for t in before} == before
    finally:
        window.session.shutdown(timeout_s=2.0)
