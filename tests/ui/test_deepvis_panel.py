"""The Deep-visualization panel on real probes (tiny model, real parameters).

Every check compares what the panel holds or draws with the probe functions called
directly on the same snapshot, or with a hand-worked case (the picture helpers).
"""

from __future__ import annotations

import functools
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import FakeLoop
from PySide6.QtCore import QPointF, Qt

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig

pytestmark = pytest.mark.gui

ARCH = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(8,))
RNG = np.random.default_rng(3)
X_VAL = RNG.integers(0, 60, (40, 28, 28, 1), dtype=np.uint8)
for _i in range(len(X_VAL)):  # a bright bar at a different place in each image
    X_VAL[_i, 4 + _i % 18 : 9 + _i % 18, 3 + (5 * _i) % 20 : 6 + (5 * _i) % 20] = 250
DATASET = SimpleNamespace(
    name="bars", image_shape=(28, 28, 1), num_classes=10, class_names=tuple(f"c{i}" for i in range(10)),
    x_train=X_VAL, y_train=np.arange(len(X_VAL)) % 10, x_val=X_VAL, y_val=np.arange(len(X_VAL)) % 10,
)  # fmt: skip
NORM = np.array([[0.1], [0.3]], np.float32)
FAST = dict(steps=12, progress_every=4)


@functools.lru_cache(maxsize=8)
def host_params(arch: ArchSpec, seed: int):
    import jax

    from convscope.model.network import init

    return jax.device_get(init(arch, seed))


def snapshot(step: int, arch: ArchSpec = ARCH, params_arch: ArchSpec | None = None) -> ev.Snapshot:
    params, state = host_params(params_arch or arch, step)
    return ev.Snapshot(step, arch, params, state, NORM)


@pytest.fixture
def panel(qtbot):
    from convscope.probes.deepvis import ActMaxSettings
    from convscope.ui.inspection import controller_for
    from convscope.ui.panels.deepvis import DeepVisPanel
    from convscope.ui.session import Session

    session = Session(DATASET, ARCH, TrainConfig(), loop_factory=FakeLoop)
    p = DeepVisPanel(session)
    qtbot.addWidget(p)
    p.resize(1100, 650)
    p.show()
    p.controls.set_settings(ActMaxSettings(**FAST))  # no snapshot yet: nothing computes
    assert p.requests == 0
    p.controller = controller_for(session)
    yield p
    p.controller.shutdown(0.5)
    p.runner.shutdown(2.0)
    p.saliency.runner.shutdown(2.0)


def wait_result(qtbot, p, **want) -> None:
    """Until the panel holds a finished result matching ``want`` (layer, step, ...)."""

    def done() -> bool:
        a = p.actmax
        return (a is not None and p.runner.idle() and a.layer == want.get("layer", p.layer)
                and p.result_step == want.get("step", p.result_step))  # fmt: skip

    qtbot.waitUntil(done, timeout=60_000)


def direct(snap: ev.Snapshot, layer: str, settings, k: int = 9):
    from convscope.probes.deepvis import activation_maximization
    from convscope.probes.topk import top_k_patches

    a, p, s, n = snap.arch, snap.params, snap.state, snap.norm
    return activation_maximization(a, p, s, n, layer, settings), top_k_patches(a, p, s, n, layer, X_VAL, k)


def test_picking_a_layer_gives_one_synthetic_image_and_top_k_per_channel(qtbot, panel) -> None:
    from convscope.ui.panels.deepvis_grid import channel_cell
    from convscope.viz.display import stretch_contrast

    snap = snapshot(0)
    panel.controller.set_snapshot(snap)
    wait_result(qtbot, panel, layer="act1", step=0)  # the last conv block's activation
    names = [panel.picker.itemData(i) for i in range(panel.picker.count())]
    assert names == ["conv1", "act1", "pool1"]  # spatial layers only, no dense ones

    panel.select_layer("pool1")
    wait_result(qtbot, panel, layer="pool1", step=0)
    want_act, want_top = direct(snap, "pool1", panel.settings)
    assert panel.actmax.images.shape == (4, 28, 28, 1)  # one per channel
    np.testing.assert_allclose(panel.actmax.images, want_act.images, atol=1e-5)
    np.testing.assert_array_equal(panel.topk.indices, want_top.indices)
    np.testing.assert_array_equal(panel.topk.patches, want_top.patches)
    assert panel.topk.patches.shape[:2] == (4, 9)

    # The grid shows channel 2's cell exactly as drawn from those arrays.
    panel.redraw()
    geo, cols = panel.grid.geo, panel.grid.cols
    r, c = divmod(2, cols)
    h, w = geo.shape
    from convscope.ui.panels.deepvis_grid import CELL_GAP

    y, x = r * (h + CELL_GAP), c * (w + CELL_GAP)
    shown = panel.grid.view.data[y : y + h, x : x + w]
    cell = channel_cell(stretch_contrast(want_act.images)[2], want_top.patches[2], want_top.indices[2] >= 0,
                        geo, (28, 28))  # fmt: skip
    np.testing.assert_array_equal(shown, cell)
    assert "pool1" in panel.heading.text() and "4 channels" in panel.heading.text()


def test_changing_a_regularizer_recomputes(qtbot, panel) -> None:
    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    before, requests = panel.actmax, panel.requests
    panel.controls.boxes["l2_decay"].setValue(0.2)
    panel.controls.flush()
    qtbot.waitUntil(lambda: panel.settings.l2_decay == pytest.approx(0.2) and panel.actmax is not before
                    and panel.runner.idle(), timeout=60_000)  # fmt: skip
    assert panel.requests == requests + 1
    want, _ = direct(panel.snapshot, panel.layer, panel.settings)
    np.testing.assert_allclose(panel.actmax.images, want.images, atol=1e-5)
    assert not np.allclose(panel.actmax.images, before.images)  # a stronger pull towards grey
    assert "L2 0.2" in panel.controls.group.text()

    panel.controls.defaults_button.click()
    from convscope.probes.deepvis import ActMaxSettings

    assert panel.settings == ActMaxSettings() and panel.k == 9


@pytest.mark.parametrize("method", ["vanilla", "guided", "gradcam", "occlusion", "smoothgrad"])
def test_saliency_method_gives_a_heatmap_of_the_image_size(qtbot, panel, method) -> None:
    from convscope.probes.saliency import METHOD_OPTIONS, saliency

    snap = snapshot(0)
    panel.controller.set_snapshot(snap)
    view = panel.saliency
    qtbot.waitUntil(lambda: view.result is not None, timeout=60_000)
    view.set_method(method)
    view.set_target(3)
    qtbot.waitUntil(lambda: view.result.method == method and view.result.target_class == 3, timeout=60_000)
    image = panel.controller.model_image
    assert view.result.heatmap.shape == image.shape[:2]
    want = saliency(ARCH, snap.params, snap.state, NORM, image, method, 3, **METHOD_OPTIONS.get(method, {}))
    np.testing.assert_allclose(view.result.heatmap, want.heatmap, atol=1e-5)
    assert view.blended.shape == (*image.shape[:2], 3)
    assert view.view.bar is not None and view.view.bar.levels() == (0.0, 1.0)
    assert "c3" in view.caption.text()

    view.opacity.setValue(0)  # opacity 0: the image alone
    np.testing.assert_array_equal(view.blended, np.repeat(image, 3, axis=-1))


def test_clicking_a_channel_opens_the_detail_view(qtbot, panel) -> None:
    snap = snapshot(0)
    panel.controller.set_snapshot(snap)
    wait_result(qtbot, panel, step=0)
    qtbot.waitUntil(lambda: panel.controller.inspection is not None, timeout=30_000)
    panel._dirty = True
    panel.redraw()
    geo, cols = panel.grid.geo, panel.grid.cols
    from convscope.ui.panels.deepvis_grid import CELL_GAP

    r, c = divmod(3, cols)
    h, w = geo.shape
    centre = panel.grid.view.image.mapToScene(QPointF(c * (w + CELL_GAP) + w / 2, r * (h + CELL_GAP) + h / 2))
    graphics = panel.grid.graphics
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=graphics.mapFromScene(centre))
    qtbot.waitUntil(lambda: panel.channel == 3 and panel.detail.channel == 3, timeout=3000)
    detail = panel.detail
    want_map = panel.controller.inspection.taps[panel.layer][..., 3]
    np.testing.assert_allclose(detail.feature_map, want_map)
    np.testing.assert_allclose(detail.map_view.data, want_map)
    # The synthetic view is channel 3's image (as the grid draws it), not another channel's.
    from convscope.ui.panels.deepvis_grid import cell_geometry, patch_square
    from convscope.ui.panels.deepvis_views import MIN_PATCH_PX
    from convscope.ui.panels.mapview import format_number
    from convscope.viz.display import synthetic_display, to_rgb8

    synth = to_rgb8(synthetic_display(panel.actmax.images))
    np.testing.assert_array_equal(detail.synth_view.data, synth[3])
    assert not np.array_equal(synth[3], synth[0]) and "ch 3" in detail.synth_view.label.text
    # The top-k view shows channel 3's patches, best first.
    top, valid = panel.topk, panel.topk.indices[3] >= 0
    geo = cell_geometry((28, 28), top.rf, 9, min_side=3 * max(MIN_PATCH_PX, top.rf))
    np.testing.assert_array_equal(detail.patches_view.data, patch_square(top.patches[3], valid, geo))
    assert not np.array_equal(top.patches[3], top.patches[0])
    # The caption states the synthetic input's activation and the best validation value.
    text = detail.caption.text()
    assert f"{panel.layer} ch 3" in text and "on the image" in text
    assert f"synthetic: {format_number(float(panel.actmax.activations[3]))}" in text
    assert f"best {format_number(float(top.values[3, 0]))} (val #{int(top.indices[3, 0])})" in text


def test_freeze_stops_refreshes_on_new_snapshots(qtbot, panel) -> None:
    panel.refresh_s = 0.0  # no throttle: only the freeze can hold a refresh back
    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    panel.freeze_button.click()
    assert panel.frozen and "frozen" in panel.heading.text()
    requests = panel.requests
    panel.controller.set_snapshot(snapshot(1))
    qtbot.wait(800)  # several ticks
    assert panel.requests == requests and panel.snapshot.step == 0 and panel.result_step == 0
    assert panel.saliency.snapshot.step == 0

    panel.freeze_button.click()  # thaw: the newest snapshot is taken
    wait_result(qtbot, panel, step=1)
    assert panel.requests == requests + 1


def test_refreshes_while_training_are_throttled(qtbot, panel) -> None:
    panel.refresh_s = 1.0
    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    requests = panel.requests
    for step in range(1, 31):  # 30 snapshots in ~1.5 s, as a training run sends them
        panel.controller.set_snapshot(_restep(snapshot(step % 3), step))
        qtbot.wait(50)
    wait_result(qtbot, panel, step=30)
    assert 1 <= panel.requests - requests <= 3


def _restep(snap: ev.Snapshot, step: int) -> ev.Snapshot:
    return ev.Snapshot(step, snap.arch, snap.params, snap.state, snap.norm)


def test_a_new_request_cancels_the_running_one(qtbot, panel) -> None:
    from convscope.probes.deepvis import ActMaxSettings

    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    finished = []
    panel.runner.finished.connect(lambda tag, result: finished.append(tag))
    panel.controls.set_settings(ActMaxSettings(steps=10000, progress_every=4))  # minutes if left alone
    qtbot.waitUntil(lambda: panel.progress.maximum() == 10000 and panel.progress.value() > 0, timeout=60_000)
    panel.controls.set_settings(ActMaxSettings(**FAST))
    panel.select_layer("conv1")
    wait_result(qtbot, panel, layer="conv1")
    assert [(t.layer, t.settings.steps) for t in finished] == [("conv1", 12)]


def test_a_failing_probe_shows_a_message_not_a_traceback(qtbot, panel) -> None:
    other = ArchSpec(input_shape=(28, 28, 3), convs=ARCH.convs, dense=(8,))
    panel.controller.set_snapshot(snapshot(0, params_arch=other))  # RGB weights for a grey model
    qtbot.waitUntil(lambda: bool(panel.error) and panel.status.isVisible(), timeout=60_000)
    assert panel.status.text().startswith("Deep visualization failed:") and "\n" not in panel.status.text()
    assert panel.status.property("kind") == "error" and panel.progress.format() == "failed"
    qtbot.waitUntil(lambda: bool(panel.saliency.error), timeout=60_000)
    assert "Saliency failed" in panel.saliency.caption.text()


def test_picture_helpers_on_hand_worked_cases() -> None:
    from convscope.ui.panels.deepvis_grid import cell_geometry, patch_square, upscale
    from convscope.viz.display import blend, stretch_contrast

    imgs = np.array([[[[0.5], [0.6]], [[0.4], [0.55]]], np.full((2, 2, 1), 0.5)], np.float32)
    out = stretch_contrast(imgs)
    np.testing.assert_allclose(out[0, ..., 0], [[0.5, 1.0], [0.0, 0.75]], atol=1e-6)
    np.testing.assert_allclose(out[1], 0.5)  # flat stays grey
    np.testing.assert_array_equal(upscale(np.array([[1, 2]]), 2), [[1, 1, 2, 2], [1, 1, 2, 2]])
    geo = cell_geometry((28, 28), 3, 9)
    # 3 patches of 3·s px and 2 gaps of 2 px reach 28 px: s = ceil(24 / 9) = 3 → 31 px side.
    assert (geo.grid, geo.patch_scale, geo.side, geo.image_scale) == (3, 3, 31, 1)
    patches = np.zeros((9, 3, 3, 1), np.uint8)
    patches[0] = 255
    sq = patch_square(patches, np.array([True] * 8 + [False]), geo)
    assert sq.shape == (31, 31, 3)
    assert (sq[0:9, 0:9] == 255).all() and (sq[0:9, 11:20] == 0).all()  # best first, top left
    assert (sq[22:31, 22:31] == 200).all()  # the empty slot is grey
    image = np.array([[[0], [255]]], np.uint8)
    heat = np.array([[[255, 0, 0, 255], [0, 0, 255, 255]]], np.uint8)
    np.testing.assert_array_equal(blend(image, heat, 0.5), [[[128, 0, 0], [128, 128, 255]]])


def test_the_window_tabs_the_panel_with_training_and_it_computes_when_shown(qtbot, monkeypatch) -> None:
    from convscope.ui.main_window import MainWindow

    monkeypatch.setattr(FakeLoop, "_snapshot", lambda self: snapshot(self.step))
    window = MainWindow(DATASET, ARCH, TrainConfig(), loop_factory=FakeLoop)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    try:
        panel = window.panels["Deep visualization"]
        assert "Deep visualization" in [d.windowTitle() for d in window.tabifiedDockWidgets(window.docks["Training"])]
        qtbot.waitUntil(lambda: panel.snapshot is not None, timeout=30_000)
        qtbot.wait(600)
        assert panel.requests == 0  # a tab in the background computes nothing
        panel.controls.set_settings(panel.settings.replace(**FAST))
        window.docks["Deep visualization"].raise_()
        wait_result(qtbot, panel, step=0)
        qtbot.waitUntil(lambda: panel.saliency.result is not None, timeout=60_000)
        assert panel.actmax.images.shape[0] == 4
    finally:
        window.close()
        window.session.shutdown(timeout_s=2.0)


def test_a_reset_model_is_recomputed_even_at_the_same_step(qtbot, panel) -> None:
    panel.refresh_s = 0.0
    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    before, requests = panel.actmax, panel.requests
    panel.session.arch_changed.emit(ARCH)  # what a Reset's Started event does
    panel.controller.set_snapshot(_restep(snapshot(1), 0))  # new weights, step 0 again
    qtbot.waitUntil(lambda: panel.actmax is not before and panel.runner.idle(), timeout=60_000)
    assert panel.requests == requests + 1 and panel.result_step == 0
    want, _ = direct(panel.snapshot, panel.layer, panel.settings)
    np.testing.assert_allclose(panel.actmax.images, want.images, atol=1e-5)


@pytest.mark.slow
def test_the_panel_follows_the_real_training_loop(qtbot) -> None:
    from convscope.data import Dataset, builtin_mnist
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow
    from convscope.ui.worker import wait_for_stragglers

    full = builtin_mnist()
    data = Dataset("digits (small)", full.x_train[:512], full.y_train[:512], full.x_val[:200],
                   full.y_val[:200], full.class_names, full.source)  # fmt: skip
    window = MainWindow(data, ARCH, TrainConfig(batch_size=32, eval_every=20), loop_factory=TrainingLoop)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    panel = window.panels["Deep visualization"]
    panel.refresh_s = 0.5
    panel.controls.set_settings(panel.settings.replace(**FAST))
    window.docks["Deep visualization"].raise_()
    wait_result(qtbot, panel, step=0)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: panel.result_step >= 20 and panel.runner.idle(), timeout=60_000)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    qtbot.wait(300)  # the loop's last snapshot after the pause
    qtbot.waitUntil(lambda: panel.runner.idle() and panel.result_step == panel.snapshot.step, timeout=60_000)
    # What the panel shows is what the probes give for the snapshot it names.
    from convscope.probes.deepvis import activation_maximization
    from convscope.probes.topk import top_k_patches

    snap = panel.snapshot
    a, p, s, n = snap.arch, snap.params, snap.state, snap.norm
    want = activation_maximization(a, p, s, n, panel.layer, panel.settings)
    np.testing.assert_allclose(panel.actmax.images, want.images, atol=1e-5)
    top = top_k_patches(a, p, s, n, panel.layer, data.x_val, 9)
    np.testing.assert_array_equal(panel.topk.indices, top.indices)
    assert snap.step >= 20
    window.close()
    assert wait_for_stragglers(timeout_s=30)


def test_a_new_architecture_rebuilds_the_layer_list(qtbot, panel) -> None:
    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    panel.select_channel(3)
    wider = ArchSpec(convs=(ConvLayer(filters=2, kernel=3), ConvLayer(filters=3, kernel=3)), dense=(8,))
    panel.session.arch_changed.emit(wider)
    panel.controller.set_snapshot(snapshot(0, arch=wider))
    wait_result(qtbot, panel, layer="act1", step=0)  # the layer shown is kept when it still exists
    names = [panel.picker.itemData(i) for i in range(panel.picker.count())]
    assert names == ["conv1", "act1", "pool1", "conv2", "act2", "pool2"]
    assert panel.actmax.images.shape == (2, 28, 28, 1) and panel.topk.patches.shape[:2] == (2, 9)
    assert panel.channel == 1  # channel 3 is gone: the last one
    panel.select_layer("act2")
    wait_result(qtbot, panel, layer="act2", step=0)
    assert panel.actmax.images.shape == (3, 28, 28, 1) and panel.channel == 0


def test_a_new_architecture_while_a_job_runs_cancels_it(qtbot, panel) -> None:
    """More channels under the same layer name while act1 is being computed: the old
    job is cancelled (its 4-channel pictures never reach the 8-channel grid)."""
    from convscope.probes.deepvis import ActMaxSettings

    finished = []
    panel.runner.finished.connect(lambda tag, result: finished.append(tag))
    panel.controls.set_settings(ActMaxSettings(steps=400, progress_every=4))
    panel.controller.set_snapshot(snapshot(0))
    qtbot.waitUntil(lambda: panel.progress.maximum() == 400 and panel.progress.value() > 0, timeout=60_000)
    assert panel.layer == "act1" and panel.channel_count == 4
    wide = ArchSpec(convs=(ConvLayer(filters=8, kernel=3),), dense=(8,))
    panel.session.arch_changed.emit(wide)
    panel.controller.set_snapshot(snapshot(0, arch=wide))
    assert panel.channel_count == 8
    qtbot.waitUntil(lambda: panel.actmax is not None and panel.runner.idle(), timeout=60_000)
    assert [t.generation for t in finished] == [panel._snapshot_generation]  # the old job never finished
    assert panel.actmax.images.shape == (8, 28, 28, 1) and panel.topk.patches.shape[:2] == (8, 9)
    want_act, want_top = direct(panel.snapshot, "act1", panel.settings)
    np.testing.assert_allclose(panel.actmax.images, want_act.images, atol=1e-5)
    np.testing.assert_array_equal(panel.topk.indices, want_top.indices)
    panel._dirty = True
    panel.redraw()
    assert panel.grid.count == 8


def test_results_of_another_request_are_not_installed(qtbot, panel) -> None:
    from convscope.probes.deepvis import ActMaxResult
    from convscope.probes.deepvis_job import DeepVisRequest, DeepVisResult

    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    actmax, topk = panel.actmax, panel.topk
    stale = DeepVisRequest(panel._snapshot_generation - 1, 0, panel.layer, panel.settings, panel.k)
    two = ActMaxResult(panel.layer, np.arange(2), np.zeros((2, 28, 28, 1), np.float32), np.zeros(2, np.float32),
                       12, 0.1)  # fmt: skip
    panel._on_progress(stale, ("topk", topk))
    panel._on_finished(stale, DeepVisResult(stale, topk, two))
    assert panel.actmax is actmax and panel.topk is topk


def test_a_reset_while_a_job_runs_cancels_it(qtbot, panel) -> None:
    from convscope.probes.deepvis import ActMaxSettings

    finished = []
    panel.runner.finished.connect(lambda tag, result: finished.append(tag))
    panel.controls.set_settings(ActMaxSettings(steps=400, progress_every=4))
    panel.controller.set_snapshot(snapshot(0))
    qtbot.waitUntil(lambda: panel.progress.maximum() == 400 and panel.progress.value() > 0, timeout=60_000)
    panel.session.arch_changed.emit(ARCH)  # a Reset: the same architecture, new weights
    assert panel.progress.format() == "cancelled: a new model"
    panel.controller.set_snapshot(_restep(snapshot(1), 0))
    qtbot.waitUntil(lambda: panel.actmax is not None and panel.runner.idle(), timeout=60_000)
    assert [t.generation for t in finished] == [1]
    want, _ = direct(panel.snapshot, "act1", panel.settings)
    np.testing.assert_allclose(panel.actmax.images, want.images, atol=1e-5)


def test_stop_cancels_now_says_so_and_recompute_or_a_new_snapshot_restarts(qtbot, panel) -> None:
    from convscope.probes.deepvis import ActMaxSettings

    panel.refresh_s = 0.0
    assert not panel.stop_button.isEnabled()  # nothing to stop
    panel.controls.set_settings(ActMaxSettings(steps=10000, progress_every=4))  # minutes if left alone
    panel.controller.set_snapshot(snapshot(0))
    qtbot.waitUntil(lambda: panel.progress.maximum() == 10000 and panel.progress.value() > 0, timeout=60_000)
    assert panel.stop_button.isEnabled()
    qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.runner.idle() and not panel.stop_button.isEnabled(), timeout=10_000)
    assert panel.progress.format() == "stopped" and panel.actmax is None
    assert panel.status.isVisible() and panel.status.text().startswith("Stopped after")
    assert "of 10000 steps" in panel.status.text() and "Recompute" in panel.status.text()
    requests = panel.requests
    qtbot.wait(800)  # several ticks: a stop is not undone by the next one
    assert panel.requests == requests and panel.runner.idle()

    qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)  # Recompute restarts
    assert panel.requests == requests + 1 and not panel.runner.idle() and not panel.status.isVisible()
    qtbot.waitUntil(lambda: panel.progress.value() > 0, timeout=60_000)
    panel.stop()
    qtbot.waitUntil(panel.runner.idle, timeout=10_000)
    assert panel.stopped and panel.progress.format() == "stopped"

    panel.controller.set_snapshot(snapshot(1))  # as does the next snapshot while training
    qtbot.waitUntil(lambda: panel.requests == requests + 2, timeout=5_000)
    assert not panel.stopped and not panel.status.isVisible()
    panel.controls.set_settings(ActMaxSettings(**FAST))
    wait_result(qtbot, panel, step=1)
    want, _ = direct(panel.snapshot, panel.layer, panel.settings)
    np.testing.assert_allclose(panel.actmax.images, want.images, atol=1e-5)


def test_stop_cancels_a_running_saliency_map_and_recompute_restarts_it(qtbot, panel, monkeypatch) -> None:
    import threading

    from convscope.ui.panels import saliency_view

    view = panel.saliency
    release = threading.Event()
    real_job = saliency_view.saliency_job

    def slow_job(*args):
        job = real_job(*args)

        def run(ctx):
            while not release.is_set() and not ctx.should_stop():
                release.wait(0.01)  # a map that takes long (a big image's occlusion, say)
            return job(ctx)

        return run

    monkeypatch.setattr(saliency_view, "saliency_job", slow_job)
    panel.controller.set_snapshot(snapshot(0))
    qtbot.waitUntil(lambda: not view.runner.idle() and panel.stop_button.isEnabled(), timeout=30_000)
    qtbot.waitUntil(panel.runner.idle, timeout=60_000)  # deep vis done; saliency still waits
    assert view.result is None and panel.stop_button.isEnabled()
    panel.stop()
    qtbot.waitUntil(lambda: view.runner.idle() and not panel.stop_button.isEnabled(), timeout=10_000)
    assert view.stopped and view.result is None and "Saliency stopped" in view.caption.text()
    qtbot.wait(600)
    assert view.runner.idle() and view.result is None  # not restarted by the ticks
    release.set()
    panel.recompute()
    qtbot.waitUntil(lambda: view.result is not None, timeout=60_000)
    assert not view.stopped and "Saliency stopped" not in view.caption.text()


def test_every_setting_says_what_it_does_and_its_default(qtbot) -> None:
    from convscope.ui.panels.deepvis_controls import RegularizerControls

    controls = RegularizerControls()
    qtbot.addWidget(controls)
    defaults = {"steps": "128", "learning_rate": "0.05", "l2_decay": "0.01", "blur_every": "4",
                "blur_sigma": "0.5", "norm_clip": "0 (off)", "contrib_clip": "0 (off)", "jitter": "1",
                "scale": "0.05", "rotate": "5", "k": "9"}  # fmt: skip
    assert set(controls.boxes) == set(defaults)
    for name, box in controls.boxes.items():
        assert box.toolTip().endswith(f". Default: {defaults[name]}."), (name, box.toolTip())
        assert box.value() == pytest.approx(float(defaults[name].split()[0]))  # the box shows the default
    what = {"l2_decay": "(1 − decay)", "blur_every": "high-frequency", "norm_clip": "smallest norm",
            "contrib_clip": "|pixel·gradient|", "jitter": "shifted at random"}  # fmt: skip
    for name, words in what.items():
        assert words in controls.boxes[name].toolTip(), name
    assert controls.objective.toolTip().endswith("Default: center.") and "receptive field" in controls.objective.toolTip()
    assert controls.fourier.toolTip().endswith("Default: off.")
    assert "128 steps" in controls.defaults_button.toolTip() and "top-9" in controls.defaults_button.toolTip()


def test_export_button_writes_the_channel_grid(qtbot, panel, tmp_path, monkeypatch) -> None:
    from PIL import Image

    from convscope.ui.panels import mapview

    panel.controller.set_snapshot(snapshot(0))
    wait_result(qtbot, panel, step=0)
    panel.redraw()
    exported = []
    panel.export_button.exported.connect(exported.append)
    for suffix, chosen in (("png", "PNG image (*.png)"), ("svg", "SVG drawing (*.svg)")):
        stem = tmp_path / f"deepvis-{suffix}"  # no suffix: the chosen filter adds it
        monkeypatch.setattr(mapview.QFileDialog, "getSaveFileName", lambda *a, s=stem, c=chosen, **k: (str(s), c))
        qtbot.mouseClick(panel.export_button, Qt.MouseButton.LeftButton)
        assert exported[-1] == str(stem.with_suffix(f".{suffix}"))
    with Image.open(tmp_path / "deepvis-png.png") as image:
        image.load()
        assert image.format == "PNG"
        graphics = panel.grid.graphics
        assert image.size == (graphics.width(), graphics.height())
        assert len(image.convert("RGB").getcolors(1 << 20) or ()) > 20  # the pictures, not a grey grid
    assert "<image" in (tmp_path / "deepvis-svg.svg").read_text(encoding="utf-8")


def test_one_click_on_a_tile_shows_that_channel_large(qtbot, panel) -> None:
    """A click on channel 3's tile opens the large view: its synthetic input, its top-k
    patches and the saliency map, each drawn at least 256 px a side, in a window that
    fits a 1600×1000 screen; the pictures are channel 3's (not another's). A click on
    another tile follows it; the progress text is never cut off."""
    from convscope.ui.panels.deepvis_grid import CELL_GAP, cell_geometry, patch_square
    from convscope.ui.panels.deepvis_large import LARGE_PX
    from convscope.viz.display import synthetic_display, to_rgb8

    snap = snapshot(0)
    panel.controller.set_snapshot(snap)
    wait_result(qtbot, panel, step=0)
    qtbot.waitUntil(lambda: panel.saliency.result is not None, timeout=30_000)
    panel._dirty = True
    panel.redraw()

    def click_tile(ch: int) -> None:
        geo, cols = panel.grid.geo, panel.grid.cols
        r, c = divmod(ch, cols)
        h, w = geo.shape
        centre = panel.grid.view.image.mapToScene(QPointF(c * (w + CELL_GAP) + w / 2, r * (h + CELL_GAP) + h / 2))
        graphics = panel.grid.graphics
        qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=graphics.mapFromScene(centre))

    click_tile(3)
    large = panel.large
    qtbot.waitUntil(lambda: large is not None and large.isVisible() and large.channel == 3, timeout=3000)
    qtbot.waitExposed(large)
    assert large.width() <= 1600 and large.height() <= 1000
    for picture in (large.synth, large.patches, large.saliency):
        drawn = picture.drawn_rect()
        assert drawn.width() >= LARGE_PX and drawn.height() >= LARGE_PX, drawn
        assert picture.rect().contains(drawn)
    synth = to_rgb8(synthetic_display(panel.actmax.images))
    np.testing.assert_array_equal(large.synth.data, synth[3])
    assert not np.array_equal(synth[3], synth[0])
    top, valid = panel.topk, panel.topk.indices[3] >= 0
    np.testing.assert_array_equal(large.patches.data, patch_square(top.patches[3], valid,
                                                                   cell_geometry((28, 28), top.rf, 9)))  # fmt: skip
    np.testing.assert_array_equal(large.saliency.data, panel.saliency.blended)
    # What is on screen is that picture, pixels as squares: the drawn centre pixel is the data's.
    shot = large.synth.grab().toImage()
    d = large.synth.drawn_rect()
    px = shot.pixelColor(d.left() + d.width() // 2, d.top() + d.height() // 2)
    want = synth[3][14, 14]
    assert (px.red(), px.green(), px.blue()) == tuple(int(v) for v in want)
    click_tile(1)
    qtbot.waitUntil(lambda: large.channel == 1, timeout=3000)
    np.testing.assert_array_equal(large.synth.data, synth[1])
    # The progress bar holds its longest text.
    bar = panel.progress
    bar.setRange(0, 128)
    bar.setValue(8)
    from convscope.ui.panels.deepvis import ACTMAX_PROGRESS

    for steps in (128, 1000):
        bar.setRange(0, steps)
        bar.setValue(steps)
        bar.setFormat(ACTMAX_PROGRESS)
        assert bar.fontMetrics().horizontalAdvance(bar.text()) < bar.width() - 8
