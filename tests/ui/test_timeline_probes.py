"""The probe panels under the timeline: a stored step is shown, never taken for
training's. The loss landscape marks it on the plane it has (its trajectory and grid
stay as they were, Follow or not) and Live takes the mark away; deep visualization,
evaluation, invariance and the activation statistics compute on the stored weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model import init
from convscope.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convscope.train.step import to_host

pytestmark = pytest.mark.gui

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
NORM = np.array([[0.13], [0.3]], np.float32)


def _snapshot(seed: int, step: int) -> ev.Snapshot:
    params, state = init(TINY, seed)
    return ev.Snapshot(step, TINY, to_host(params), to_host(state), NORM)


@pytest.fixture
def scrubbable(make_window, tmp_path: Path):
    """A window on TINY whose timeline has a run with stored steps 0, 5 and 20."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    for step, seed in {0: 10, 5: 11, 20: 12}.items():
        s = _snapshot(seed, step)
        save_checkpoint(run / "checkpoints" / f"step-{step:08d}.npz",
                        Checkpoint(TINY, TrainConfig(), s.params, s.state, step, NORM), half=True)
    window = make_window(arch=TINY)
    window.timeline.run_dir_of = lambda: run
    window.timeline.refresh()
    return window, run


def _flat(params) -> np.ndarray:
    """Every leaf in sorted (layer, name) order, float64: the plane's coordinates."""
    return np.concatenate([np.asarray(params[layer][name], np.float64).ravel()
                           for layer in sorted(params) for name in sorted(params[layer])])


def test_a_stored_step_is_a_marker_on_the_landscape_never_a_point_of_its_path(scrubbable, qtbot):
    from convscope.probes.landscape import random_directions

    window, run = scrubbable
    panel = window.panels["Loss landscape"]
    window.docks["Loss landscape"].raise_()
    panel.controls.resolution.setValue(11)
    panel.controls.batch.setCurrentIndex(0)  # 64 images
    panel.controls.kind.setCurrentIndex(panel.controls.kind.findData("random"))
    for i, step in enumerate((30, 40, 50)):
        window.session.bridge.deliver(_snapshot(i + 1, step))
    qtbot.waitUntil(lambda: panel.snapshot is not None and panel.snapshot.step == 50, timeout=10_000)
    panel._settle.stop()
    assert panel.compute()
    qtbot.waitUntil(lambda: panel.grid is not None and panel.grid.step == 50 and panel.runner.idle(),
                    timeout=120_000)
    panel.controls.follow.setChecked(True)  # following training: still no grid for the past
    qtbot.wait(100)
    request, grid, plane = panel.request, panel.grid, panel.plane
    path = [s for s, _p in panel.trajectory.points()]
    assert plane is not None and len(path) >= 3

    bar = window.findChild(type(window.toolbar), "timelineToolbar")
    bar.slider.setValue(1)  # step 5
    qtbot.waitUntil(lambda: window.timeline.shown_step == 5 and panel.stored is not None, timeout=10_000)
    qtbot.wait(700)  # time for a follow grid to start, were it to
    assert panel.request is request and panel.grid is grid and panel.runner.idle()
    assert [s for s, _p in panel.trajectory.points()] == path and panel.live == []
    # The marker: the stored weights projected on the plane, least squares on its directions.
    stored = load_checkpoint(run / "checkpoints" / "step-00000005.npz")
    centre = request.snapshot.params
    d = random_directions(centre, request.seed)
    basis = np.stack([_flat(d.d1), _flat(d.d2)], axis=1)
    want, *_ = np.linalg.lstsq(basis, _flat(stored.params) - _flat(centre), rcond=None)
    qtbot.waitUntil(lambda: len(panel.plots.map.stored.getData()[0]) == 1, timeout=5000)
    x, y = panel.plots.map.stored.getData()
    np.testing.assert_allclose([x[0], y[0]], want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose([x[0], y[0]], plane.project(stored.params), rtol=1e-9)
    assert panel.plots.map.stored_label.toPlainText() == "step 5"
    assert "◆ step 5 (timeline)" in panel.heading.text()

    bar.slider.setValue(2)  # step 20: the marker moves, nothing else does
    qtbot.waitUntil(lambda: panel.stored is not None and panel.stored.step == 20, timeout=10_000)
    qtbot.waitUntil(lambda: panel.plots.map.stored_label.toPlainText() == "step 20", timeout=5000)
    assert panel.request is request and [s for s, _p in panel.trajectory.points()] == path

    bar.live_action.trigger()
    qtbot.waitUntil(lambda: panel.stored is None and len(panel.plots.map.stored.getData()[0]) == 0,
                    timeout=5000)
    assert "timeline" not in panel.heading.text()
    assert panel.request is request and [s for s, _p in panel.trajectory.points()] == path


def test_deep_visualization_evaluation_and_activations_show_the_stored_step(scrubbable, qtbot):
    window, _run = scrubbable
    controller = window.timeline.controller
    deepvis, evaluation = window.panels["Deep visualization"], window.panels["Evaluation"]
    activations = window.panels["Activations"]
    deepvis.refresh_s = 0.0
    deepvis.controls.boxes["steps"].setValue(4)  # a short activation maximization
    window.session.bridge.deliver(_snapshot(1, 50))
    qtbot.waitUntil(lambda: controller.snapshot is not None and controller.snapshot.step == 50, timeout=10_000)
    bar = window.findChild(type(window.toolbar), "timelineToolbar")
    bar.slider.setValue(1)  # step 5
    qtbot.waitUntil(lambda: window.timeline.shown_step == 5, timeout=10_000)
    assert controller.stored
    for name, done in (
        ("Deep visualization", lambda: deepvis.result_step == 5),
        ("Evaluation", lambda: evaluation.result is not None and evaluation.result.step == 5),
        ("Invariance", lambda: getattr(window.panels["Invariance"], "step", None) == 5),
        ("Activations", lambda: controller.stats is not None and controller.stats.step == 5),
    ):
        window.docks[name].raise_()  # a panel out of sight computes nothing
        qtbot.waitUntil(done, timeout=120_000)
    # The dead fractions written are the stored step's, not the latest of training's history.
    stats = controller.stats
    qtbot.waitUntil(lambda: "step 5," in activations.current.text(), timeout=5000)
    for act, layer in stats.layers.items():
        assert f"{act}: {100.0 * layer.dead:.1f}% dead" in activations.current.text()
    # The stored step's statistics are not a point of training's history.
    assert all(5 not in h.dead.x for h in controller.history.values())
    # While training (live snapshots wait aside): step 20 is 15 steps on, fewer than the
    # Evaluation's Auto 200, and is evaluated all the same.
    window.session.train()
    qtbot.waitUntil(lambda: window.session.is_training, timeout=10_000)
    bar.slider.setValue(2)
    window.docks["Evaluation"].raise_()
    qtbot.waitUntil(lambda: evaluation.result.step == 20, timeout=30_000)
    window.session.pause()
    qtbot.waitUntil(lambda: not window.session.is_training, timeout=10_000)
    bar.live_action.trigger()
    assert not controller.stored
    qtbot.waitUntil(lambda: evaluation.result.step == controller.snapshot.step != 20, timeout=120_000)
