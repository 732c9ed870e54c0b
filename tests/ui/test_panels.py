"""Training and Architecture panels, fed events directly on the GUI thread (no worker)."""

from __future__ import annotations

import math
import re

import pytest

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.shapes import layer_table
from convscope.ui.panels.architecture import COLUMNS, ArchitecturePanel, worked_formula
from convscope.ui.panels.training import (
    REDRAW_MS,
    CurveBuffer,
    TrainingPanel,
    describe_change,
    format_value,
    nice_ceil,
)

pytestmark = pytest.mark.gui

CONFIG = TrainConfig()


@pytest.fixture
def training(qtbot, session) -> TrainingPanel:
    panel = TrainingPanel(session)
    qtbot.addWidget(panel)
    panel.resize(900, 600)
    panel.show()
    session.bridge.started.emit(ev.Started(ArchSpec(), CONFIG, "CPU", 10, 64, 16))
    return panel


def metrics(step: int, lr: float = 1e-3) -> ev.StepMetrics:
    return ev.StepMetrics(step, step / 10, 2.0 / step, 1 - 1 / step, lr, 900.0, step * 0.01)


# ------------------------------------------------------------------ training panel
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1e-3, "1e-3"),
        (0.003, "3e-3"),
        (2.5e-4, "2.5e-4"),
        (0.25, "0.25"),
        (0.0, "0"),
        (128, "128"),
        ("adam", "Adam"),
        ("momentum", "SGD + momentum"),
        (1.0, "1"),
    ],
)
def test_format_value(value, text) -> None:
    assert format_value(value) == text


def test_describe_change() -> None:
    assert describe_change("learning_rate", 1e-3, 3e-3) == "lr 1e-3→3e-3"
    assert describe_change("optimizer", "adam", "sgd") == "opt Adam→SGD"
    assert describe_change("batch_size", 128, 256) == "batch 128→256"


def test_curve_buffer_grows_and_clears() -> None:
    buf = CurveBuffer(capacity=2)
    for i in range(5):
        buf.append(i, 10 * i)
    assert buf.x.tolist() == [0, 1, 2, 3, 4] and buf.y.tolist() == [0, 10, 20, 30, 40]
    buf.clear()
    assert buf.size == 0 and buf.x.size == 0


def test_metrics_reach_the_curves(training, session, qtbot) -> None:
    for step in range(1, 21):
        session.bridge.stepped.emit(metrics(step))
    session.bridge.evaluated.emit(ev.EvalMetrics(20, 2.0, 0.3, 0.91, 0.2))
    curves = training.curves
    qtbot.waitUntil(
        lambda: curves["loss"].xData is not None and len(curves["loss"].xData) == 20, timeout=2000
    )
    x, y = curves["acc"].xData, curves["acc"].yData
    assert x[-1] == 20 and y[-1] == pytest.approx(95.0)  # accuracy in percent
    assert curves["val_acc"].yData.tolist() == [pytest.approx(91.0)]
    assert curves["lr"].xData.size == 20
    summary = training.summary.text()
    assert "validation loss 0.300" in summary.replace("\u00a0", " ")
    # In a narrow dock (1280×720) it wraps between train and validation, never inside one
    # ("… · acc" above, "91.0%" alone below): their words are held by no-break spaces.
    assert [" " in part for part in summary.split("     ")] == [False, False]


def test_redraw_is_throttled_not_per_event(training, session, qtbot, monkeypatch) -> None:
    calls = []
    curve = training.curves["loss"]
    original = curve.setData
    monkeypatch.setattr(curve, "setData", lambda *a, **k: (calls.append(1), original(*a, **k)))
    for step in range(1, 1001):
        session.bridge.stepped.emit(metrics(step))
    qtbot.wait(3 * REDRAW_MS)
    assert 1 <= len(calls) <= 4
    assert training.buffers["loss"].size == 1000


@pytest.mark.parametrize(
    ("value", "ceiling"), [(0.7, 0.75), (1.0, 1.0), (1.01, 1.5), (738, 750), (2.2, 3.0), (0, 1.0)]
)
def test_nice_ceil(value, ceiling) -> None:
    assert nice_ceil(value) == pytest.approx(ceiling)


def test_axis_ranges_move_in_jumps_not_every_frame(training, session) -> None:
    """Axes (tick text) are most of a frame's cost: they change only when outgrown."""
    for step in range(1, 101):
        session.bridge.stepped.emit(metrics(step))
    training.redraw()
    assert training.loss_plot.viewRange()[0] == pytest.approx([0, 150])
    assert training.acc_plot.viewRange()[1] == pytest.approx([-2, 102])
    changes = []
    training.loss_plot.getViewBox().sigRangeChanged.connect(lambda *_: changes.append(1))
    for step in range(101, 140):
        session.bridge.stepped.emit(metrics(step))
        training.redraw()
    assert changes == []
    session.bridge.stepped.emit(metrics(150))
    training.redraw()
    assert training.loss_plot.viewRange()[0] == pytest.approx([0, 200])


def test_hyperparameter_changes_leave_labelled_markers(training, session) -> None:
    bridge = session.bridge
    bridge.hyperparams_changed.emit(ev.HyperParamsChanged(10, {"learning_rate": (1e-3, 3e-3)}, CONFIG))
    assert [m.text for m in training.markers] == ["lr 1e-3→3e-3"]
    assert [line.value() for line in training.markers[0].lines] == [10, 10, 10]  # on all three plots
    # The same drag, moments later: one marker whose label follows the value.
    bridge.hyperparams_changed.emit(ev.HyperParamsChanged(12, {"learning_rate": (3e-3, 5e-3)}, CONFIG))
    assert [m.text for m in training.markers] == ["lr 1e-3→5e-3"]
    assert training.markers[0].label.toPlainText().endswith("lr 1e-3→5e-3")  # on the change track
    bridge.hyperparams_changed.emit(ev.HyperParamsChanged(14, {"dropout": 0.5}, CONFIG.replace(dropout=0.5)))
    assert [m.text for m in training.markers] == ["lr 1e-3→5e-3", "dropout 0.25→0.5"]
    # A new model starts a new plot.
    bridge.started.emit(ev.Started(ArchSpec(), CONFIG, "CPU", 10, 64, 16))
    assert training.markers == [] and training.buffers["loss"].size == 0
    assert not [i for i in training.loss_plot.items if i.__class__.__name__ == "InfiniteLine"]


def test_learning_rate_axis_shows_whole_decades(training, session, qtbot) -> None:
    for step in range(1, 5):
        session.bridge.stepped.emit(metrics(step, lr=3e-3))
    training.redraw()
    lo, hi = training.lr_plot.viewRange()[1]
    assert hi - lo >= 2.0  # at least two decades: a constant rate is a readable line
    assert lo <= math.log10(3e-3) <= hi


# -------------------------------------------------------------- architecture panel
def evaluate(expression: str) -> float:
    """Evaluate a worked formula such as ``⌊(28 − 3 + 2·1)/2⌋ + 1``."""
    py = expression.replace("−", "-").replace("·", "*").replace(",", "")
    py = py.replace("⌊", "math.floor(").replace("⌋", ")")
    return eval(py, {"math": math})  # noqa: S307 - our own formula text


SPECS = [
    ArchSpec(),
    ArchSpec.uniform(blocks=3, filters=8, kernel=5, stride=2, padding="same", pool="none"),
    ArchSpec.uniform(blocks=2, filters=4, kernel=4, stride=1, padding="same", pool="avg", pool_size=3),
    ArchSpec(
        convs=(ConvLayer(6, 5, 1, "valid", "max", 2), ConvLayer(16, 5, 1, "valid", "max", 2)),
        dense=(120, 84),
        batch_norm=True,
    ),
    ArchSpec.uniform(blocks=2, filters=4, kernel=3, stride=3, padding="valid", pool="none"),
]


@pytest.mark.parametrize("spec", SPECS)
def test_worked_formulas_agree_with_the_layer_table(spec) -> None:
    rows = layer_table(spec)
    for i, row in enumerate(rows):
        size, params = worked_formula(spec, rows, i)
        if size:
            left, right = size.rsplit(" = ", 1)
            assert evaluate(left) == int(right.replace(",", "")) == row.shape[0], (row.name, size)
        if params:
            left, right = re.sub(r"\s+\(.*\)$", "", params).rsplit(" = ", 1)
            assert evaluate(left) == int(right.replace(",", "")) == row.params, (row.name, params)
        if row.kind == "conv":
            assert size and params


def test_architecture_table_shows_the_running_model(qtbot, session) -> None:
    panel = ArchitecturePanel(session)
    qtbot.addWidget(panel)
    rows = layer_table(session.arch)
    assert panel.table.rowCount() == len(rows)
    assert [panel.table.horizontalHeaderItem(c).text() for c in range(len(COLUMNS))] == list(COLUMNS)
    conv1 = next(i for i, r in enumerate(rows) if r.name == "conv1")
    cells = [panel.table.item(conv1, c).text() for c in range(len(COLUMNS))]
    assert cells[:5] == ["conv1", "convolution", "28×28×32", "320", "3×3"]
    assert cells[6] == "(28 − 3 + 2·1)/1 + 1 = 28"
    assert cells[7] == "3·3·1·32 + 32 = 320"
    total = sum(r.params for r in rows)
    assert f"{total:,}" in panel.heading.text() and panel.heading.text().startswith("Running model")
    assert "(N − F + 2P)/S⌋ + 1" in panel.formulas.text() and "F·F·D·K + K" in panel.formulas.text()



def test_in_a_short_dock_the_formulas_give_the_table_its_rows(qtbot, session) -> None:
    """At 1280×720 the Architecture dock is ~190 px tall and the legend of formulas left
    the table its header row alone; there, the legend gives way (to the table's tooltip)."""
    from convscope.ui.panels.architecture import FORMULAS, MIN_ROWS

    panel = ArchitecturePanel(session)
    qtbot.addWidget(panel)
    panel.resize(860, 190)
    panel.show()
    qtbot.waitExposed(panel)
    table = panel.table
    assert not panel.formulas.isVisible() and table.toolTip() == FORMULAS
    row = table.verticalHeader().defaultSectionSize()
    qtbot.waitUntil(lambda: table.viewport().height() >= 3 * row)  # was under one row: the header alone
    panel.resize(860, 420)  # a tall dock: the legend is back under the table
    qtbot.waitUntil(panel.formulas.isVisible)
    assert table.toolTip() == ""
    assert table.viewport().height() >= MIN_ROWS * table.verticalHeader().defaultSectionSize()

def test_architecture_table_marks_the_candidate(qtbot, session) -> None:
    panel = ArchitecturePanel(session)
    qtbot.addWidget(panel)
    candidate = ArchSpec.uniform(blocks=1, filters=8)
    session.set_candidate(candidate)
    assert panel.heading.text().startswith("Candidate (not applied yet)")
    assert panel.heading.property("kind") == "pending"
    assert panel.table.rowCount() == len(layer_table(candidate))
    session.set_candidate(None, "conv block 5: the map is too small")
    assert "refused: conv block 5" in panel.heading.text()
    assert panel.table.rowCount() == len(layer_table(session.arch))
    session.set_candidate(None)
    assert panel.heading.text().startswith("Running model")
