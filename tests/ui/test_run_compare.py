"""Comparing runs through the real widgets: runs selected in the Runs table are drawn
over the Training panel's curves with the runs' own data (smoothed as TensorBoard
smooths, on a log axis, against step, epoch or wall time, read out under the pointer),
and the HParams view shares the selection: brushing an axis hides runs in the table and
the curves, hovering a line highlights its row and its curves, clicking it selects it."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtWidgets import QGridLayout, QWidget
from run_dirs import damaged_runs, make_run, metrics

from convscope import events as ev
from convscope.config import ArchSpec, TrainConfig
from convscope.ui.panels.hparams_view import HParamsPanel
from convscope.ui.panels.run_overlay import HOVER_WIDTH, WIDTH
from convscope.ui.panels.runs_panel import RunsPanel
from convscope.ui.panels.runs_table import COLUMN, HOVER_COLOR
from convscope.ui.panels.training import TrainingPanel
from convscope.viz.smoothing import ema_smooth

pytestmark = pytest.mark.gui


@pytest.fixture
def views(qtbot, session, tmp_path):
    make_run(tmp_path, "slow", lr=1e-4, seed=1, start_wall=1.7e9, created="2026-12-01T10:00:00+0000")
    make_run(tmp_path, "fast", lr=1e-2, seed=2, start_wall=1.8e9, steps=80, created="2026-12-01T11:00:00+0000")
    make_run(tmp_path, "sgd", lr=3e-2, optimizer="sgd", seed=3, created="2026-12-01T12:00:00+0000")
    training, runs, hparams = TrainingPanel(session), RunsPanel(session, root=tmp_path), HParamsPanel(session)
    window = QWidget()  # one window, as in the app (pointer events go to the window on top)
    grid = QGridLayout(window)
    grid.addWidget(training, 0, 0)
    grid.addWidget(hparams, 0, 1)
    grid.addWidget(runs, 1, 0, 1, 2)
    qtbot.addWidget(window)
    window.resize(1800, 1000)
    window.show()
    session.bridge.started.emit(ev.Started(ArchSpec(), TrainConfig(), "CPU", 10, 64, 16))
    yield training, runs, hparams, tmp_path
    window.close()  # (held until here: the panels are its children)


def select(runs, *names):
    from test_runs_panel import select_names

    select_names(runs, *names)


def test_selecting_two_runs_draws_their_metrics(views):
    training, runs, _, root = views
    overlay = training.overlay
    overlay.smooth_slider.setValue(0)
    select(runs, "slow", "fast")
    assert set(overlay.items) == {str(root / "slow"), str(root / "fast")}
    for name in ("slow", "fast"):
        train, val = metrics(root / name)
        items = overlay.items[str(root / name)]
        assert np.array_equal(items["loss"].xData, train["step"]) and np.allclose(items["loss"].yData, train["loss"])
        assert np.allclose(items["val_acc"].yData, 100 * val["val_acc"])
        assert items["loss"].opts["pen"].color().name() == runs.selection.color(str(root / name)).lower()
    assert len({runs.selection.color(k) for k in overlay.items}) == 2  # a colour each
    select(runs, "fast")
    assert set(overlay.items) == {str(root / "fast")}
    plotted = [i for i in training.loss_plot.items if getattr(i, "yData", None) is not None and len(i.yData)]
    assert len(plotted) == 2  # fast's train and validation loss; nothing left of slow's


def test_smoothing_draws_tensorboards_ema(views):
    training, runs, _, root = views
    select(runs, "slow")
    item = training.overlay.items[str(root / "slow")]["loss"]
    train, _ = metrics(root / "slow")
    training.overlay.smooth_slider.setValue(80)
    assert np.allclose(item.yData, ema_smooth(train["loss"], 0.8))
    assert not np.allclose(item.yData, train["loss"])
    training.overlay.smooth_slider.setValue(0)
    assert np.allclose(item.yData, train["loss"])


def test_log_toggle_puts_the_loss_on_a_log_axis(qtbot, views):
    training, runs, _, root = views
    select(runs, "slow")
    item = training.overlay.items[str(root / "slow")]["loss"]
    qtbot.mouseClick(training.overlay.log_box, Qt.MouseButton.LeftButton)
    assert training.loss_plot.getAxis("left").logMode
    x, y = item.getData()
    assert np.allclose(y, np.log10(item.yData))
    lo, hi = training.loss_plot.viewRange()[1]
    assert lo < np.log10(item.yData.min()) and hi > np.log10(item.yData.max())  # decades, not (0, 3)
    qtbot.mouseClick(training.overlay.log_box, Qt.MouseButton.LeftButton)
    assert not training.loss_plot.getAxis("left").logMode


def test_wall_time_and_epoch_axes(views, session, qtbot):
    training, runs, _, root = views
    select(runs, "slow", "fast")
    combo = training.overlay.x_combo
    combo.setCurrentIndex(combo.findData("wall"))
    for name in ("slow", "fast"):
        train, val = metrics(root / name)
        start = min(train["wall"].min(), val["wall"].min())
        items = training.overlay.items[str(root / name)]
        assert np.allclose(items["loss"].xData, train["wall"] - start)
        assert np.allclose(items["val_loss"].xData, val["wall"] - start)
    assert training.lr_plot.getAxis("bottom").labelText == "wall time (s)"
    combo.setCurrentIndex(combo.findData("epoch"))
    train, _ = metrics(root / "fast")
    assert np.allclose(training.overlay.items[str(root / "fast")]["loss"].xData, train["epoch"])
    for step in range(1, 11):  # the live run: against its epochs too
        session.bridge.stepped.emit(ev.StepMetrics(step, step / 4, 1.0, 0.5, 1e-3, 900.0, 0.1 * step))
    training.redraw()
    assert np.allclose(training.curves["loss"].xData, np.arange(1, 11) / 4)
    assert training.loss_plot.viewRange()[0][1] >= 4  # fast's 80 steps are 4 epochs


def test_hover_reads_out_every_curve_at_the_pointer(qtbot, views):
    training, runs, _, root = views
    training.overlay.smooth_slider.setValue(0)
    select(runs, "slow", "fast")
    qtbot.wait(50)
    view = training.graphics
    scene = training.loss_plot.vb.mapViewToScene(QPointF(20, 1.0))
    point = view.mapFromScene(scene)
    qtbot.mouseMove(view.viewport(), QPoint(point.x(), point.y()))
    qtbot.waitUntil(lambda: "slow" in training.overlay.table_html, timeout=2000)
    text = training.overlay.readout.text().replace("&nbsp;", " ")
    table = training.overlay.table_html
    for name in ("slow", "fast"):
        train, val = metrics(root / name)
        i, j = list(train["step"]).index(20), list(val["step"]).index(20)
        pair = f"{train['loss'][i]:.4g} / {val['val_loss'][j]:.4g}"
        assert pair in text  # train / val at step 20, in the run's colour
        assert f"{name}</td><td align=right>&nbsp;{train['loss'][i]:.4g}</td>" in table
    assert training.overlay.cursor["acc"].isVisible()


def test_brushing_an_axis_hides_runs_in_the_table_and_the_curves(qtbot, views):
    training, runs, hparams, root = views
    select(runs, "slow", "fast", "sgd")
    canvas = hparams.canvas
    i = [a.key for a in canvas.axes].index("learning_rate")
    x = round(canvas.axis_x(i))
    axis = canvas.axes[i]
    top, bottom = canvas.y_of(axis.position(3e-2)), canvas.y_of(axis.position(1e-2))
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x, round(top - 5)))
    qtbot.mouseMove(canvas, QPoint(x, round(bottom + 5)))
    qtbot.mouseRelease(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x, round(bottom + 5)))
    names = [runs.proxy.index(r, COLUMN["name"]).data() for r in range(runs.proxy.rowCount())]
    assert sorted(names) == ["fast", "sgd"]
    assert set(training.overlay.items) == {str(root / "fast"), str(root / "sgd")}
    assert set(runs.selection.selected) == {str(root / n) for n in ("slow", "fast", "sgd")}  # kept, hidden
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(x, round(canvas.y_of(0.5))))  # clears
    assert runs.proxy.rowCount() == 3 and len(training.overlay.items) == 3


def test_hovering_a_line_highlights_the_run_everywhere_and_a_click_selects_it(qtbot, views):
    training, runs, hparams, root = views
    select(runs, "slow", "fast")
    canvas = hparams.canvas
    key = str(root / "fast")
    j = canvas.keys.index(key)
    xs, ys = canvas._pixels()
    pos = QPoint(round((xs[0] + xs[1]) / 2), round((ys[j, 0] + ys[j, 1]) / 2))
    qtbot.mouseMove(canvas, pos)
    qtbot.waitUntil(lambda: runs.selection.hovered == key, timeout=2000)
    row = [runs.proxy.index(r, 0).data() for r in range(runs.proxy.rowCount())].index("fast")
    assert runs.proxy.index(row, 3).data(Qt.ItemDataRole.BackgroundRole).color() == HOVER_COLOR
    assert training.overlay.items[key]["loss"].opts["pen"].widthF() == HOVER_WIDTH
    assert training.overlay.items[str(root / "slow")]["loss"].opts["pen"].widthF() == WIDTH
    assert "fast" in hparams.info.text()
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=pos)
    assert runs.selection.selected == [key]
    assert [runs.proxy.index(i.row(), 0).data() for i in runs.view.selectionModel().selectedRows()] == ["fast"]


def test_hovering_a_table_row_highlights_the_run_in_the_other_views(qtbot, views):
    training, runs, hparams, root = views
    select(runs, "slow", "sgd")
    row = [runs.proxy.index(r, 0).data() for r in range(runs.proxy.rowCount())].index("sgd")
    rect = runs.view.visualRect(runs.proxy.index(row, 1))
    qtbot.mouseMove(runs.view.viewport(), rect.center())
    qtbot.waitUntil(lambda: runs.selection.hovered == str(root / "sgd"), timeout=2000)
    assert "sgd" in hparams.info.text()
    assert training.overlay.items[str(root / "sgd")]["loss"].opts["pen"].widthF() == HOVER_WIDTH


def test_damaged_runs_selected_with_the_others_break_no_view(qtbot, views):
    training, runs, hparams, root = views
    damaged_runs(root)
    (root / "slow" / "metrics.jsonl").write_text('{"kind": "step", "step": 5, "loss": 1.0}\n{garbage\n[1, 2]\n')
    runs.refresh()
    runs.view.selectAll()
    assert len(runs.selection.selected) == 6
    assert set(hparams.canvas.keys) == {str(root / n) for n in ("slow", "fast", "sgd")}  # damaged: no line
    assert training.overlay.items[str(root / "slow")]["loss"].yData.tolist() == [1.0]  # garbage lines skipped
    assert training.overlay.drawn[str(root / "garbage")]["loss"][1].size == 0  # nothing to draw, no error
    training.overlay.show_values_at(5, "loss")
    hparams.canvas.grab()  # paints
