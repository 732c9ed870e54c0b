"""The Feature evolution panel: the grid it computes over the timeline's run is
``probes.evolution.evolution`` on that run's stored snapshots (the same numbers), the
layer picker changes what is computed, export writes a PNG, an SVG and the numbers that
read back, a window without a run (or a run without snapshots) says how to get one, and
a new model while computing drops that grid."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, Qt

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model import init
from convscope.probes import evolution_export as exp
from convscope.probes.evolution import evolution
from convscope.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convscope.train.step import to_host
from convscope.ui.panels.evolution import NO_RUN, NO_STEPS, EvolutionPanel
from convscope.ui.session import Session
from convscope.ui.timeline import Timeline

pytestmark = pytest.mark.gui

ARCH = ArchSpec(input_shape=(8, 8, 1), num_classes=2, convs=(ConvLayer(filters=3, kernel=3),
                                                            ConvLayer(filters=4, kernel=3)), dense=(4,))
NORM = np.array([[0.4], [0.25]], np.float32)
STEPS = {0: 10, 3: 11, 9: 12}  # step: the seed of the weights stored for it


def _data() -> SimpleNamespace:
    rng = np.random.default_rng(5)
    return SimpleNamespace(name="tiny", image_shape=(8, 8, 1), num_classes=2, class_names=("a", "b"),
                           x_train=rng.integers(0, 256, (32, 8, 8, 1), dtype=np.uint8), y_train=np.zeros(32, np.int32),
                           x_val=rng.integers(0, 256, (24, 8, 8, 1), dtype=np.uint8), y_val=np.zeros(24, np.int32))


def _run(root: Path, steps: dict[int, int]) -> Path:
    run = root / "run-1"
    (run / "checkpoints").mkdir(parents=True)
    for step, seed in steps.items():
        params, state = init(ARCH, seed)
        save_checkpoint(run / "checkpoints" / f"step-{step:08d}.npz",
                        Checkpoint(ARCH, TrainConfig(), to_host(params), to_host(state), step, NORM), half=True)
    return run


@pytest.fixture
def panel(qtbot, tmp_path):
    """The panel over a session (its loop never started) whose timeline shows a run of
    three float16 snapshots."""
    session = Session(_data(), ARCH, TrainConfig(), loop_factory=lambda *a: None)
    run = _run(tmp_path, STEPS)
    timeline = Timeline(session, lambda: run)
    timeline.refresh()
    widget = EvolutionPanel(session)
    qtbot.addWidget(widget)
    widget.resize(900, 600)
    widget.show()
    return widget


def _stored(panel) -> list:
    run = panel.session.findChild(Timeline).run_dir
    return [load_checkpoint(p) for p in sorted((run / "checkpoints").glob("step-*.npz"))]


def _compute(panel, qtbot, layer: str, channels: int, synthetic: bool):
    panel.layer.setCurrentText(layer)
    panel.channels.setValue(channels)
    panel.synthetic.setChecked(synthetic)
    before = panel.grid
    assert panel.compute()
    qtbot.waitUntil(lambda: panel.grid is not before and panel.grid is not None, timeout=60_000)
    return panel.grid


def _assert_same(got, want) -> None:
    np.testing.assert_array_equal(got.steps, want.steps)
    np.testing.assert_array_equal(got.channels, want.channels)
    np.testing.assert_array_equal(got.patches, want.patches)
    np.testing.assert_array_equal(got.patch_values, want.patch_values)
    np.testing.assert_array_equal(got.patch_indices, want.patch_indices)
    for name in ("synthetic", "filters"):
        a, b = getattr(got, name), getattr(want, name)
        assert (a is None) == (b is None), name
        if a is not None:
            np.testing.assert_array_equal(a, b)


def test_the_grid_is_evolution_on_the_stored_snapshots_and_follows_the_layer(panel, qtbot):
    assert panel.layer.currentText() == "conv1"
    grid = _compute(panel, qtbot, "act1", 2, synthetic=True)
    snaps = _stored(panel)
    images = panel.session.dataset.x_val
    want = evolution(snaps, "act1", images, channels=[0, 1], synthetic=True)
    assert grid.ev.layer == "act1" and list(grid.ev.steps) == list(STEPS)
    _assert_same(grid.ev, want)
    assert not np.array_equal(want.filters[0], want.filters[-1])  # the snapshots differ: the test can tell
    picture, cell_w = exp.grid_image(want)
    cells = picture[exp.TOP:, exp.LEFT:]
    drawn = panel.image.image
    assert drawn.shape == cells.shape
    for s in range(len(STEPS)):  # every picture of every cell, as the export draws it
        for c in range(2):
            for j in range(3):
                x, y = s * (cell_w + exp.GAP) + j * (exp.CELL + 2), c * (exp.CELL + exp.GAP)
                np.testing.assert_array_equal(drawn[y:y + exp.CELL, x:x + exp.CELL], cells[y:y + exp.CELL, x:x + exp.CELL])
    assert "act1" in panel.heading.text() and "3 snapshots" in panel.heading.text()

    # Another layer (of the second block: no filter column), without synthetic inputs.
    grid = _compute(panel, qtbot, "pool2", 4, synthetic=False)
    want = evolution(snaps, "pool2", images, channels=range(4), synthetic=False)
    assert grid.ev.layer == "pool2" and grid.ev.filters is None and grid.ev.synthetic is None
    _assert_same(grid.ev, want)
    assert panel.channels.maximum() == 4  # pool2 has four channels

    # Hovering a cell names its step, channel and value; clicking its column shows that step.
    s, c = 1, 2
    col, row = grid.cell_w + exp.GAP, exp.CELL + exp.GAP
    panel.fit_view(whole=True)  # every cell on screen
    qtbot.wait(50)
    scene = panel.vb.mapViewToScene(QPointF(s * col + 20, c * row + 20))
    assert panel.cell_at(scene) == (s, c)
    at = panel.graphics.mapFromScene(scene)
    qtbot.mouseMove(panel.graphics.viewport(), at)
    qtbot.waitUntil(lambda: f"step {list(STEPS)[s]} " in panel.hover.text(), timeout=3000)
    assert "channel 2" in panel.hover.text() and f"{grid.ev.patch_values[s, c]:.4g}" in panel.hover.text()
    timeline = panel.session.findChild(Timeline)
    assert timeline.live
    qtbot.mouseClick(panel.graphics.viewport(), Qt.MouseButton.LeftButton, pos=at)
    qtbot.waitUntil(lambda: timeline.shown_step == list(STEPS)[s], timeout=10_000)


def test_export_writes_png_svg_and_the_numbers(panel, qtbot, tmp_path):
    with pytest.raises(OSError, match="Compute"):
        panel.export(str(tmp_path / "early.png"))
    grid = _compute(panel, qtbot, "conv1", 3, synthetic=False)
    png, svg, npz = (tmp_path / f"grid.{ext}" for ext in ("png", "svg", "npz"))
    for path in (png, svg, npz):
        panel.export(str(path))
    with Image.open(png) as im:
        want, _ = exp.grid_image(grid.ev)
        assert im.size == (want.shape[1], want.shape[0])
    root = ET.parse(svg).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any("conv1" in (t or "") for t in texts) and sum("step" in (t or "") for t in texts) == len(STEPS)
    arrays = np.load(npz)
    np.testing.assert_array_equal(arrays["steps"], grid.ev.steps)
    np.testing.assert_array_equal(arrays["patch_values"], grid.ev.patch_values)
    np.testing.assert_array_equal(arrays["filters"], grid.ev.filters)
    with pytest.raises(OSError, match=r"\.png, \.svg or \.npz"):
        panel.export(str(tmp_path / "grid.txt"))


def test_without_a_run_or_its_snapshots_the_panel_says_how_to_get_one(panel, tmp_path):
    timeline = panel.session.findChild(Timeline)
    timeline.run_dir_of = lambda: None  # as in a window that does not record
    assert not panel.compute()
    assert panel.heading.text() == NO_RUN and "Runs Folder" in NO_RUN and "--runs" in NO_RUN
    assert panel.runner.idle() and panel.grid is None

    empty = tmp_path / "empty-run"
    (empty / "checkpoints").mkdir(parents=True)
    timeline.run_dir_of = lambda: empty
    assert not panel.compute()
    assert panel.heading.text() == NO_STEPS and panel.runner.idle()


def test_a_run_of_another_architecture_is_refused_with_a_message(qtbot, tmp_path):
    other = ArchSpec(input_shape=(8, 8, 1), num_classes=2, convs=(ConvLayer(filters=5, kernel=3),), dense=(4,))
    session = Session(_data(), other, TrainConfig(), loop_factory=lambda *a: None)
    run = _run(tmp_path, {0: 1, 1: 2})
    Timeline(session, lambda: run).refresh()
    widget = EvolutionPanel(session)
    qtbot.addWidget(widget)
    assert widget.compute()
    qtbot.waitUntil(widget.runner.idle, timeout=20_000)
    qtbot.waitUntil(lambda: "another architecture" in widget.heading.text(), timeout=5000)
    assert widget.grid is None


def test_a_new_model_while_computing_drops_that_grid(panel, qtbot):
    panel.layer.setCurrentText("act2")
    panel.synthetic.setChecked(True)
    assert panel.compute()
    assert panel.runner.busy
    generation = panel.session.generation
    other = ArchSpec(input_shape=(8, 8, 1), num_classes=2, convs=(ConvLayer(filters=2, kernel=3),), dense=(4,))
    panel.session.bridge.deliver(ev.Started(other, TrainConfig(), "dev", 100, 32, 24, 0, 0.0))
    assert panel.session.generation == generation + 1
    assert "dropped" in panel.heading.text()
    qtbot.waitUntil(panel.runner.idle, timeout=30_000)
    qtbot.wait(200)
    assert panel.grid is None and "dropped" in panel.heading.text()
    assert panel.layer.findText("act2") < 0 and panel.layer.findText("act1") >= 0  # the new model's layers


def test_cancel_stops_the_computation_and_keeps_what_was_shown(panel, qtbot):
    first = _compute(panel, qtbot, "conv1", 2, synthetic=False)
    panel.synthetic.setChecked(True)
    assert panel.compute() and panel.cancel_button.isEnabled()
    panel.cancel_button.click()
    assert "Cancelled" in panel.heading.text()
    qtbot.waitUntil(panel.runner.idle, timeout=30_000)
    qtbot.wait(200)
    assert panel.grid is first and not panel.cancel_button.isEnabled() and "Cancelled" in panel.heading.text()
