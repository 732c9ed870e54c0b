"""The Loss landscape panel on the real JAX evaluator and a tiny architecture.

Snapshots carry real ``model.init`` parameters (a new seed per step, so the weights
move); the grid, the lines and the trajectory are the numerics' own. Values drawn are
checked against the probe's result and, for the centre, against a plain NumPy loss of
the network's logits on the same evaluation batch.
"""

from __future__ import annotations

import functools
import gc
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import FakeLoop, delete_closed_widgets

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig

pytestmark = pytest.mark.gui

ARCH = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
NORM = np.array([[0.45], [0.3]], np.float32)
_RNG = np.random.default_rng(3)
_X = _RNG.integers(0, 256, (160, 28, 28, 1), dtype=np.uint8)
_Y = (np.arange(160) % 10).astype(np.int32)
DATASET = SimpleNamespace(
    name="noise", image_shape=(28, 28, 1), num_classes=10, class_names=tuple(str(i) for i in range(10)),
    x_train=_X[:96], y_train=_Y[:96], x_val=_X[96:], y_val=_Y[96:],
)  # fmt: skip
WAIT_MS = 60_000


@functools.lru_cache(maxsize=32)
def host_params(seed: int):
    import jax

    from convscope.model.network import init

    return jax.device_get(init(ARCH, seed))


def snapshot(step: int, seed: int | None = None) -> ev.Snapshot:
    params, state = host_params(step if seed is None else seed)
    return ev.Snapshot(step, ARCH, params, state, NORM)


def reference_loss(snap: ev.Snapshot, x: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of the network's logits, the softmax done in NumPy."""
    from convscope.model.network import apply, preprocess

    logits, _, _ = apply(ARCH, snap.params, snap.state, preprocess(x, NORM[0], NORM[1]), train=False)
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def make_panel(qtbot, dataset=DATASET):
    from convscope.ui.inspection import controller_for
    from convscope.ui.panels.landscape import LandscapePanel
    from convscope.ui.session import Session

    session = Session(dataset, ARCH, TrainConfig(), loop_factory=FakeLoop)
    panel = LandscapePanel(session)  # deleted by stop(), not by qtbot (see there)
    panel.auto_compute = False
    panel.resize(1100, 650)
    panel.controls.resolution.setValue(11)
    panel.controls.batch.setCurrentIndex(0)  # 64 images
    panel.show()
    qtbot.waitExposed(panel)
    panel.controller = controller_for(session)
    return panel


@pytest.fixture
def panel(qtbot):
    p = make_panel(qtbot)
    yield p
    stop(p)


def stop(panel, delete: bool = True) -> None:
    """End the probe and inspection threads, then delete the panel and collect its
    garbage now, while no other thread runs: left to the next test's event loop and
    garbage collector, this happened while a training thread compiled, and the process
    crashed there (a segfault in the GUI thread, about one full run in four)."""
    assert panel.runner.shutdown(30.0)
    assert panel.controller.shutdown(30.0)
    if not delete:
        return
    panel.close()
    panel.deleteLater()
    delete_closed_widgets()
    # The youngest generation holds all of it: the collector is off during tests, and
    # everything since the last test's collection is there (tests/ui/conftest.py); a
    # full collection of a late worker's heap took ~1 s.
    gc.collect(0)


def emit(panel, snap: ev.Snapshot) -> None:
    panel.session.bridge.snapshot_taken.emit(snap)


def on_grid(slot):
    """``slot(payload)`` for the grid's progress only (the 1D lines are reported first)."""
    from convscope.probes.landscape_job import GridProgress

    return lambda _tag, payload: slot(payload) if isinstance(payload, GridProgress) else None


def compute_and_wait(qtbot, panel) -> None:
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        assert panel.compute()
    panel.redraw()


# ------------------------------------------------------------------ the grid
def test_the_image_centre_is_the_probes_centre_loss(qtbot, panel) -> None:
    from convscope.probes.landscape_job import eval_batch

    snap = snapshot(0)
    emit(panel, snap)
    panel.controls.log_scale.setChecked(False)
    compute_and_wait(qtbot, panel)
    grid = panel.grid
    assert grid.complete and grid.loss.shape == (11, 11) and grid.step == 0 and grid.n_examples == 64
    c = 5
    np.testing.assert_allclose(panel.map.values[c, c], grid.center_loss, rtol=1e-5)
    np.testing.assert_allclose(panel.map.image.image[c, c], grid.center_loss, rtol=1e-5)
    x, y = eval_batch(DATASET, "train", 64)
    np.testing.assert_allclose(grid.center_loss, reference_loss(snap, x, y), rtol=1e-4)
    np.testing.assert_allclose(panel.map.values, grid.loss)  # complete: drawn as computed
    # Axes in units of the directions: the image spans ±span plus half a cell.
    rect = panel.map.image.mapRectToParent(panel.map.image.boundingRect())
    assert rect.left() == pytest.approx(-1.1) and rect.right() == pytest.approx(1.1)
    assert rect.top() == pytest.approx(-1.1) and rect.bottom() == pytest.approx(1.1)

    panel.controls.log_scale.setChecked(True)
    panel.redraw()
    np.testing.assert_allclose(panel.map.image.image[c, c], np.log10(grid.center_loss), rtol=1e-5)
    lo, hi = panel.map.levels
    assert lo == pytest.approx(np.log10(grid.loss.min())) and hi == pytest.approx(np.log10(grid.loss.max()))
    assert "seeds 0, 1" in panel.heading.text() and "step 0" in panel.heading.text().lower()
    from PySide6.QtCore import QPointF

    centre = panel.map.plot.vb.mapViewToScene(QPointF(0.0, 0.0))
    text = panel.map.describe_at(centre, grid.loss, grid.accuracy)
    assert text == f"α = +0, β = +0: loss {grid.center_loss:.4g}, accuracy {100 * grid.center_accuracy:.1f}%"


def test_progress_arrives_coarse_first_and_is_drawn_filled(qtbot, panel) -> None:
    from convscope.probes.landscape import coarse_to_fine_order

    seen = []
    panel.runner.progressed.connect(on_grid(lambda payload: seen.append(payload.progress)))
    emit(panel, snapshot(0))
    compute_and_wait(qtbot, panel)
    levels = [p.level for p in seen]
    assert (
        levels[0] == 4 and levels == sorted(levels, reverse=True) and seen[-1].done == seen[-1].total == 121
    )
    coarse = coarse_to_fine_order(11, 11)[0][1]
    first_finer = next(p for p in seen if p.level < 4)
    assert np.isfinite(first_finer.loss[coarse[:, 0], coarse[:, 1]]).all()  # the coarse lattice came first
    for p in seen:
        assert np.count_nonzero(np.isfinite(p.loss)) == p.done
    # A partial grid is drawn whole, computed cells as they are.
    from convscope.ui.panels.landscape_views import fill_missing

    for partial in (seen[0], first_finer):
        filled, known = fill_missing(partial.loss), np.isfinite(partial.loss)
        assert np.isfinite(filled).all() and np.array_equal(filled[known], partial.loss[known])
    # Before the coarse lattice is complete: nearest computed values, nothing invented.
    assert set(np.unique(fill_missing(seen[0].loss))) <= set(seen[0].loss[np.isfinite(seen[0].loss)])


def test_the_last_grid_stays_until_the_next_ones_coarse_lattice_is_whole(qtbot, panel) -> None:
    emit(panel, snapshot(0))
    compute_and_wait(qtbot, panel)
    assert panel.map.values.shape == (11, 11)
    panel.controls.resolution.setValue(41)
    seen = []
    panel.runner.progressed.connect(on_grid(lambda p: seen.append((p.coarse_done, panel.showing_partial()))))
    assert panel.compute()
    qtbot.waitUntil(lambda: len(seen) > 0, timeout=WAIT_MS)
    panel.redraw()
    assert seen[0] == (False, False) and panel.map.values.shape == (11, 11)
    assert panel.heading.text().startswith("Step 0 · random directions")
    qtbot.waitUntil(lambda: seen[-1][0], timeout=WAIT_MS)
    panel.redraw()
    assert seen[-1] == (True, True) and panel.map.values.shape == (41, 41)
    assert "computing…" in panel.heading.text()
    panel.cancel()


def test_cancel_stops_the_grid_and_keeps_what_was_computed(qtbot, panel) -> None:
    panel.controls.resolution.setValue(51)
    emit(panel, snapshot(0))
    done = []
    panel.runner.finished.connect(lambda *_: done.append(True))
    assert panel.compute()
    qtbot.waitUntil(lambda: panel.partial is not None, timeout=WAIT_MS)  # the grid has begun
    panel.controls.follow.setChecked(True)  # the same weights: nothing new starts
    panel.cancel()
    qtbot.waitUntil(lambda: panel.runner.idle() and not panel.runner.busy, timeout=WAIT_MS)
    qtbot.wait(300)
    assert not done and panel.grid is None
    assert 0 < panel.partial.progress.done < 51 * 51
    assert "Cancelled after" in panel.message.text() and not panel.controls.follow.isChecked()
    assert not panel.controls.cancel_button.isEnabled()


def _bilinear(values, alphas, betas, a, b):
    along = np.array([np.interp(a, alphas, row) for row in values])
    return float(np.interp(b, betas, along))


def test_contours_are_drawn_on_the_iso_lines_of_a_real_grid(qtbot, panel) -> None:
    from convscope.ui.panels.landscape_views import CONTOURS

    emit(panel, snapshot(0))
    compute_and_wait(qtbot, panel)
    xs, ys = panel.map.contours.getData()
    ok = np.isfinite(xs) & np.isfinite(ys)
    assert ok.sum() >= 20 and (~ok).sum() >= 2  # several pieces, NaN between them
    shown, (lo, hi) = panel.map.shown, panel.map.levels
    np.testing.assert_allclose(shown, np.log10(panel.grid.loss))
    levels = np.linspace(lo, hi, CONTOURS + 2)[1:-1]
    a, b = panel.grid.alphas, panel.grid.betas
    for x, y in zip(xs[ok], ys[ok], strict=True):  # every vertex lies on one of the levels
        assert a[0] <= x <= a[-1] and b[0] <= y <= b[-1]
        assert np.min(np.abs(levels - _bilinear(shown, a, b, x, y))) < 1e-6 * max(1.0, abs(hi))
    nearest = {int(np.argmin(np.abs(levels - _bilinear(shown, a, b, x, y)))) for x, y in zip(xs[ok], ys[ok], strict=True)}
    assert len(nearest) >= 3  # several levels drawn, not one


def test_the_span_control_sets_the_axes(qtbot, panel) -> None:
    emit(panel, snapshot(0))
    compute_and_wait(qtbot, panel)
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        panel.controls.span.setValue(0.5)  # settles, then computes
    panel.redraw()
    np.testing.assert_allclose(panel.grid.alphas, np.linspace(-0.5, 0.5, 11))
    np.testing.assert_allclose(panel.grid.betas, np.linspace(-0.5, 0.5, 11))
    rect = panel.map.image.mapRectToParent(panel.map.image.boundingRect())
    assert rect.left() == pytest.approx(-0.55) and rect.right() == pytest.approx(0.55)
    (x0, x1), (y0, y1) = panel.map.plot.vb.viewRange()
    assert -0.6 < x0 < -0.55 and 0.55 < x1 < 0.6 and -0.6 < y0 < -0.55 and 0.55 < y1 < 0.6
    line = panel.lines["direction"]
    assert line.ts[0] == pytest.approx(-0.5) and line.ts[-1] == pytest.approx(0.5)


def test_the_split_combo_chooses_the_batch_evaluated(qtbot, panel) -> None:
    from convscope.probes.landscape_job import eval_batch

    snap = snapshot(0)
    emit(panel, snap)
    compute_and_wait(qtbot, panel)
    train_loss = panel.grid.center_loss
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        panel.controls.split.setCurrentIndex(panel.controls.split.findData("val"))
    grid = panel.grid
    x, y = eval_batch(DATASET, "val", 64)
    assert grid.split == "val" and np.array_equal(panel.request.x, x) and np.array_equal(panel.request.y, y)
    np.testing.assert_allclose(grid.center_loss, reference_loss(snap, x, y), rtol=1e-4)
    assert grid.center_loss != pytest.approx(train_loss, rel=1e-4)
    assert "validation images" in panel.heading.text()


def test_new_directions_draws_the_next_seeds(qtbot, panel) -> None:
    emit(panel, snapshot(0))
    compute_and_wait(qtbot, panel)
    first = panel.grid
    assert first.seeds == (0, 1) and panel.controls.seed_label.text() == "seeds 0, 1"
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        panel.controls.new_button.click()
    assert panel.controls.seed_label.text() == "seeds 2, 3"
    assert panel.grid.seeds == (2, 3) and "seeds 2, 3" in panel.heading.text()
    assert panel.lines["direction"].label == "seed 2"
    assert panel.grid.center_loss == pytest.approx(first.center_loss, rel=1e-6)  # the same weights
    assert not np.allclose(panel.grid.loss, first.loss)  # other directions


def test_no_model_yet_says_so(qtbot, panel) -> None:
    assert not panel.compute()
    assert panel.message.isVisible() and panel.message.text().startswith("No model yet")
    assert panel.message.property("kind") == "" and not panel.runner.busy and panel.request is None
    assert panel.heading.text() == "Loss landscape: waiting for the model…"


def test_an_empty_split_says_so_and_the_other_split_still_works(qtbot) -> None:
    empty = SimpleNamespace(**{**DATASET.__dict__, "x_val": _X[:0], "y_val": _Y[:0]})
    panel = make_panel(qtbot, empty)
    try:
        emit(panel, snapshot(0))
        panel.controls.split.setCurrentIndex(panel.controls.split.findData("val"))
        panel._settle.stop()
        assert not panel.compute()
        assert panel.message.text() == "Loss landscape: the data set has no validation images"
        assert panel.message.property("kind") == "error" and not panel.runner.busy
        panel.controls.split.setCurrentIndex(panel.controls.split.findData("train"))
        panel._settle.stop()
        compute_and_wait(qtbot, panel)
        assert panel.grid.split == "train" and not panel.message.isVisible()
        assert set(panel.lines["direction"].loss) == {"train"}
        assert len(panel.line_dir.curves["val"].getData()[0] or []) == 0
    finally:
        stop(panel)


# ------------------------------------------------------------------ PCA, trajectory
def test_pca_directions_draw_the_path_with_one_point_per_kept_snapshot(qtbot, panel) -> None:
    for step in range(0, 50, 10):
        emit(panel, snapshot(step))
    assert len(panel.trajectory) == 5
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        panel.controls.kind.setCurrentIndex(panel.controls.kind.findData("pca"))  # settles, then computes
    panel.redraw()
    grid = panel.grid
    assert grid.kind == "pca" and grid.explained[0] >= grid.explained[1] > 0
    xs, ys = panel.map.path.getData()
    assert len(xs) == len(panel.trajectory.points()) == 5
    np.testing.assert_allclose(np.stack([xs, ys], 1), grid.trajectory)
    assert list(grid.trajectory_steps) == [0, 10, 20, 30, 40]
    np.testing.assert_allclose(grid.trajectory[-1], [0.0, 0.0], atol=1e-9)  # the centre is the latest
    for k, axis in enumerate((grid.alphas, grid.betas)):  # the plane covers the path
        assert axis[0] < grid.trajectory[:, k].min() and grid.trajectory[:, k].max() < axis[-1]
    assert "PCA of the path" in panel.heading.text()

    # A later snapshot lands on the same plane at once (the grid is not recomputed).
    submitted = []
    panel.runner.busy_changed.connect(lambda busy: submitted.append(busy))
    later = snapshot(50)
    emit(panel, later)
    panel.redraw()
    assert not submitted and len(panel.live) == 1
    from convscope.probes.landscape import project_trajectory

    centre = snapshot(40).params
    d = panel.plane
    want = project_trajectory([later.params], centre, *unflatten_basis(d, centre))[0]
    np.testing.assert_allclose(panel.live[0][1], want, rtol=1e-6, atol=1e-9)
    lx, _ly = panel.map.live.getData()
    assert len(lx) == 2  # from the last path point to the new one


def test_random_directions_draw_the_path_projected_on_the_plane_through_the_latest_weights(qtbot, panel) -> None:
    from convscope.probes.landscape import flatten_params, random_directions

    for step in range(0, 40, 10):
        emit(panel, snapshot(step))
    compute_and_wait(qtbot, panel)
    grid = panel.grid
    assert grid.kind == "random" and list(grid.trajectory_steps) == [0, 10, 20, 30]
    centre = snapshot(30).params
    dirs = random_directions(centre, 0)
    basis = np.stack([flatten_params(dirs.d1), flatten_params(dirs.d2)], axis=1)
    want = np.stack([np.linalg.lstsq(basis, flatten_params(snapshot(s).params) - flatten_params(centre),
                                     rcond=None)[0] for s in (0, 10, 20, 30)])  # fmt: skip
    np.testing.assert_allclose(grid.trajectory, want, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(grid.trajectory[-1], [0.0, 0.0], atol=1e-12)  # the centre is the latest
    assert np.abs(want[:-1]).max() > 0  # the path is not just the centre
    xs, ys = panel.map.path.getData()
    np.testing.assert_allclose(np.stack([xs, ys], 1), want, rtol=1e-6, atol=1e-12)
    sx, sy = panel.map.start.getData()
    np.testing.assert_allclose([sx[0], sy[0]], want[0], rtol=1e-6, atol=1e-12)

    later = snapshot(40)  # lands on the same plane at once, dashed from the last path point
    emit(panel, later)
    panel.redraw()
    assert len(panel.live) == 1
    ref = np.linalg.lstsq(basis, flatten_params(later.params) - flatten_params(centre), rcond=None)[0]
    np.testing.assert_allclose(panel.live[0][1], ref, rtol=1e-5, atol=1e-12)
    lx, ly = panel.map.live.getData()
    np.testing.assert_allclose([lx[-1], ly[-1]], ref, rtol=1e-5, atol=1e-12)


def test_one_snapshot_is_no_path(qtbot, panel) -> None:
    emit(panel, snapshot(0))
    compute_and_wait(qtbot, panel)
    assert panel.grid.trajectory is None and panel.plane is None
    assert len(panel.map.path.getData()[0] or []) == 0


def unflatten_basis(plane, like):
    """The plane's directions back as parameter trees (from its pseudo-inverse)."""
    from convscope.probes.landscape import unflatten_params

    basis = np.linalg.pinv(plane.pinv)  # (P, 2)
    return unflatten_params(basis[:, 0], like), unflatten_params(basis[:, 1], like)


def test_the_1d_view_has_train_and_validation_curves(qtbot, panel) -> None:
    from convscope.probes.landscape_job import LINE_POINTS, eval_batch

    first, now = snapshot(0), snapshot(10)
    emit(panel, first)
    emit(panel, now)
    compute_and_wait(qtbot, panel)
    for plot in (panel.line_interp, panel.line_dir):
        assert set(plot.curves) == {"train", "val"}
        for curve in plot.curves.values():
            xs, ys = curve.getData()
            assert len(xs) == LINE_POINTS and np.isfinite(ys).all()
    interp = panel.lines["interpolation"]
    i0, i1 = np.argmin(np.abs(interp.ts)), np.argmin(np.abs(interp.ts - 1.0))
    x, y = eval_batch(DATASET, "train", 64)
    xv, yv = eval_batch(DATASET, "val", 64)
    np.testing.assert_allclose(interp.loss["train"][i1], panel.grid.center_loss, rtol=1e-4)
    np.testing.assert_allclose(interp.loss["train"][i0], reference_loss(first, x, y), rtol=1e-4)
    np.testing.assert_allclose(interp.loss["val"][i1], reference_loss(now, xv, yv), rtol=1e-4)
    # The random line is the grid's first direction: its loss is the grid's centre row.
    line = panel.lines["direction"]
    for a in (-1.0, 0.0, 1.0):
        j = int(np.argmin(np.abs(panel.grid.alphas - a)))
        np.testing.assert_allclose(
            line.loss["train"][np.argmin(np.abs(line.ts - a))], panel.grid.loss[5, j], rtol=1e-4
        )


def test_the_default_grid_is_the_one_the_readme_measures(qtbot) -> None:
    """README ▸ Measured: "default 11×11 grid × 256 examples … 4.2 s". The panel's own
    defaults (make_panel's overrides not applied) compute exactly that grid."""
    import re

    from convscope.ui.inspection import controller_for
    from convscope.ui.panels.landscape import LandscapePanel
    from convscope.ui.session import Session

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    m = re.search(r"default (\d+)×(\d+) grid × (\d+) examples", readme)
    assert m, "README no longer states the default grid"
    res, batch = int(m.group(1)), int(m.group(3))
    assert int(m.group(2)) == res
    big = SimpleNamespace(**{**vars(DATASET), "x_train": np.repeat(_X, 2, axis=0), "y_train": np.repeat(_Y, 2)})
    session = Session(big, ARCH, TrainConfig(), loop_factory=FakeLoop)
    panel = LandscapePanel(session)
    panel.auto_compute = False
    panel.controller = controller_for(session)
    try:
        assert panel.controls.resolution.value() == res and panel.controls.batch.currentData() == batch
        emit(panel, snapshot(0))
        assert panel.compute()
        # The effect: the grid requested is res × res points on ``batch`` training images.
        assert panel.request.resolution == res and len(panel.request.x) == batch
        assert panel.controls.progress.maximum() == res * res
        panel.cancel()
    finally:
        stop(panel)


def test_the_1d_lines_come_before_the_grid_and_replace_their_placeholder(qtbot, panel) -> None:
    """The lines are reported (and drawn) before the grid's first coarse chunk; once
    they exist no placeholder text is left behind them."""
    from convscope.probes.landscape_job import GridProgress, LinesReady

    emit(panel, snapshot(0))
    emit(panel, snapshot(10))
    panel.redraw()
    assert panel.line_interp.note.isVisible() and panel.line_interp.note.toPlainText() == "after a few steps"
    order: list[str] = []
    drawn_at_first_chunk: list[int] = []

    def seen(_tag, payload) -> None:
        if isinstance(payload, LinesReady):
            order.append("lines")
        elif isinstance(payload, GridProgress):
            if "grid" not in order:
                panel.redraw()  # what the screen shows when the first coarse chunk lands
                drawn_at_first_chunk.extend(len(c.getData()[0]) for p in (panel.line_interp, panel.line_dir)
                                            for c in p.curves.values())  # fmt: skip
            order.append("grid")

    panel.runner.progressed.connect(seen)
    compute_and_wait(qtbot, panel)
    assert order[0] == "lines" and order.count("lines") == 1 and "grid" in order
    from convscope.probes.landscape_job import LINE_POINTS

    assert drawn_at_first_chunk == [LINE_POINTS] * 4  # both lines, train and val, already drawn
    for plot in (panel.line_interp, panel.line_dir):
        assert not plot.note.isVisible() and plot.legend.isVisible()


# ------------------------------------------------------------------ export
def test_export_writes_a_loadable_npz_and_a_png(qtbot, panel, tmp_path: Path) -> None:
    from PySide6.QtGui import QImage

    from convscope.probes.landscape_io import load_landscape_npz

    emit(panel, snapshot(0))
    emit(panel, snapshot(10))
    compute_and_wait(qtbot, panel)
    saved = panel.save_npz(str(tmp_path / "landscape.npz"))
    grid, line, extra = load_landscape_npz(saved)
    np.testing.assert_array_equal(grid.loss, panel.grid.loss)
    np.testing.assert_array_equal(grid.alphas, panel.grid.alphas)
    np.testing.assert_array_equal(line["loss"]["val"], panel.lines["interpolation"].loss["val"])
    other = extra["lines"]["direction"]  # the file holds one line; the other rides along as JSON
    np.testing.assert_allclose(other["loss"]["train"], panel.lines["direction"].loss["train"])
    panel.export(str(tmp_path / "landscape.png"))
    image = QImage(str(tmp_path / "landscape.png"))
    assert not image.isNull() and image.width() > 300
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7) for y in range(0, image.height(), 7)}
    assert len(colours) > 50  # a colour map, not a blank page
    panel.export(str(tmp_path / "landscape.svg"))
    assert "<svg" in (tmp_path / "landscape.svg").read_text()[:2000]


# ------------------------------------------------------------------ follow training
def test_follow_training_recomputes_on_new_snapshots_only(qtbot, panel) -> None:
    requests = []
    panel.runner.busy_changed.connect(lambda busy: busy and requests.append(panel.request.snapshot.step))
    panel.controls.follow.setChecked(True)
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        emit(panel, snapshot(1))
    assert requests == [1] and panel.grid.step == 1
    emit(panel, snapshot(1))  # a paused model sends the same weights again
    qtbot.wait(800)
    assert requests == [1]
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        emit(panel, snapshot(2))
    assert requests == [1, 2] and panel.grid.step == 2
    panel.controls.follow.setChecked(False)  # frozen
    emit(panel, snapshot(3))
    qtbot.wait(800)
    assert requests == [1, 2] and panel.grid.step == 2


@pytest.mark.slow
def test_follow_stops_after_the_coarse_lattice_when_newer_weights_wait(qtbot, panel) -> None:
    from convscope.probes.landscape import coarse_to_fine_order

    panel.controls.resolution.setValue(31)
    panel.controls.follow.setChecked(True)
    grids = []
    panel.runner.finished.connect(lambda _tag, result: grids.append(result.grid))
    with qtbot.waitSignal(panel.runner.progressed, timeout=WAIT_MS):
        emit(panel, snapshot(1))
    emit(panel, snapshot(2))  # arrives while step 1 is being computed
    qtbot.waitUntil(lambda: len(grids) == 2, timeout=WAIT_MS)
    first, second = grids
    assert first.step == 1 and second.step == 2
    coarse = coarse_to_fine_order(31, 31)[0][1]
    assert np.isfinite(first.loss[coarse[:, 0], coarse[:, 1]]).all() and not first.complete
    assert second.complete  # nothing newer came: refined to the end


def test_a_control_changed_mid_grid_replaces_it_and_the_new_grid_refines_to_the_end(qtbot, panel) -> None:
    """The user interacts: the grid in progress gives way (after SETTLE_MS); once the
    controls rest, the new grid goes coarse first, then all the way to the full grid."""
    panel.controls.resolution.setValue(51)  # 2,601 points: far from done when the controls change
    emit(panel, snapshot(0))
    grids, levels = [], []
    panel.runner.finished.connect(lambda _tag, result: grids.append(result.grid))
    panel.runner.progressed.connect(on_grid(lambda p: levels.append((p.request.span, p.progress.level))))
    assert panel.compute()
    qtbot.waitUntil(lambda: len(levels) > 0, timeout=WAIT_MS)
    panel.controls.span.setValue(0.5)  # while the first grid is still computing
    panel.controls.resolution.setValue(11)
    qtbot.waitUntil(lambda: len(grids) == 1, timeout=WAIT_MS)
    (grid,) = grids
    assert grid.complete and grid.alphas[-1] == pytest.approx(0.5) and len(grid.alphas) == 11  # only the new one
    new = [lv for span, lv in levels if span == pytest.approx(0.5)]
    assert new[0] == 4 and new[-1] == 1 and new == sorted(new, reverse=True)  # coarse first, then refined
    assert any(span == pytest.approx(1.0) for span, _lv in levels)  # the first grid had begun


# ------------------------------------------------------------------ errors, share, 3D
def test_errors_show_a_message(qtbot, panel) -> None:
    emit(panel, snapshot(0))
    panel.controls.kind.setCurrentIndex(panel.controls.kind.findData("pca"))
    assert not panel.compute()
    assert "at least 3 snapshots" in panel.message.text() and panel.message.property("kind") == "error"
    assert not panel.runner.busy


def test_a_failing_computation_shows_its_message(qtbot) -> None:
    bad = SimpleNamespace(**{**DATASET.__dict__, "y_train": np.full(96, 12, np.int32)})
    panel = make_panel(qtbot, bad)
    try:
        emit(panel, snapshot(0))
        with qtbot.waitSignal(panel.runner.errored, timeout=WAIT_MS):
            panel.compute()
        assert "labels must lie in [0, 9]" in panel.message.text() and panel.message.isVisible()
        assert panel.grid is None
    finally:
        stop(panel)


def test_the_cpu_share_applies_while_training(qtbot, panel) -> None:
    assert panel.runner.share == 1.0  # nothing to slow down
    panel.session._set_state("training")
    assert panel.runner.share == pytest.approx(0.5)
    panel.controls.share.setValue(20)
    assert panel.runner.share == pytest.approx(0.2) and panel.controls.share_label.text() == "20%"
    panel.session._set_state("paused")
    assert panel.runner.share == 1.0


def test_the_3d_toggle_is_disabled_without_opengl_and_says_why_or_offered_with_it(qtbot, panel) -> None:
    from convscope.ui.panels.landscape_3d import gl_status

    ok, why = gl_status()
    if ok:  # run under a real display (xvfb-run with GLX and PyOpenGL): the toggle is offered
        assert panel.controls.three_d.isEnabled() and not why
        return
    assert not panel.controls.three_d.isEnabled() and panel.controls.three_d.toolTip() == why
    assert "offscreen" in why


def test_the_3d_marker_sits_on_the_surface_above_the_current_weights() -> None:
    from convscope.ui.panels.landscape_3d import surface_point

    # Random directions: a square grid, the centre a grid point; its drawn height there.
    axis = np.linspace(-1.0, 1.0, 11)
    shown = np.add.outer(axis**2, 2 * axis) + 3.0  # shown[i, j] at (axis[j], axis[i])
    levels = (float(shown.min()), float(shown.max()))
    x, y, z = surface_point(axis, axis, shown, levels)
    assert (x, y) == (0.0, 0.0) and z == pytest.approx((shown[5, 5] - levels[0]) / (levels[1] - levels[0]))
    # A PCA plane: fitted axes, the centre between grid points; bilinear on a bilinear surface is exact.
    alphas, betas = np.linspace(-0.3, 2.1, 9), np.linspace(-1.7, 0.5, 7)
    plane = 1.0 + 0.5 * alphas[None, :] - 0.25 * betas[:, None] + 0.1 * alphas[None, :] * betas[:, None]
    x, y, z = surface_point(alphas, betas, plane, (0.0, 2.0))
    assert x == pytest.approx(0.3 / 2.4 * 2 - 1) and y == pytest.approx(1.7 / 2.2 * 2 - 1)
    assert z == pytest.approx(1.0 / 2.0)  # the plane's value at (0, 0) is 1.0, over levels (0, 2)


def test_the_3d_view_marks_the_current_weights_where_opengl_works(qtbot, panel) -> None:
    from convscope.ui.panels.landscape_3d import MARKER_LIFT, gl_status, surface_point

    ok, why = gl_status()
    if not ok:
        pytest.skip(why)
    emit(panel, snapshot(0))
    compute_and_wait(qtbot, panel)
    panel.controls.three_d.setChecked(True)
    panel.redraw()
    surface = panel.plots.surface
    want = surface_point(panel.grid.alphas, panel.grid.betas, panel.map.shown, panel.map.levels)
    want[2] += MARKER_LIFT
    np.testing.assert_allclose(surface.marker.pos, want[None])
    np.testing.assert_allclose(surface.stem.pos, [[want[0], want[1], 0.0], want])


def test_a_new_model_clears_the_views(qtbot, panel) -> None:
    emit(panel, snapshot(0))
    emit(panel, snapshot(10))
    compute_and_wait(qtbot, panel)
    panel.session.arch_changed.emit(ARCH)
    assert panel.grid is None and panel.snapshot is None and len(panel.trajectory) == 0
    assert panel.map.values is None and not panel.controls.save_button.isEnabled()


def test_the_panel_computes_once_when_first_on_screen(qtbot, panel) -> None:
    panel.auto_compute = True
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        emit(panel, snapshot(0))
    assert panel.grid is not None


def test_the_panel_is_a_tab_beside_training(window) -> None:
    assert "Loss landscape" in window.panels
    tabs = window.tabifiedDockWidgets(window.docks["Training"])
    assert window.docks["Loss landscape"] in tabs


# ------------------------------------------------------------------ pieces
def test_trajectory_buffer_is_bounded_and_spans_the_run() -> None:
    from convscope.probes.landscape_job import TrajectoryBuffer

    buf = TrajectoryBuffer(capacity=50)
    for step in range(1000):
        buf.add(step, {"w": step})
        buf.add(step, {"w": step})  # a re-sent snapshot changes nothing
    pts = buf.points()
    steps = [s for s, _ in pts]
    assert len(pts) <= 50 and steps[0] == 0 and steps[-1] == 999
    assert len(set(np.diff(steps[:-1]))) == 1  # evenly thinned
    assert len(pts) >= 25


def test_fill_missing_takes_the_nearest_computed_cell() -> None:
    from convscope.ui.panels.landscape_views import fill_missing

    v = np.full((3, 5), np.nan)
    v[0, 0], v[0, 4], v[2, 2] = 1.0, 5.0, 9.0
    want = np.array([[1, 1, 1, 5, 5], [1, 1, 1, 5, 5], [9, 9, 9, 9, 9]], float)
    np.testing.assert_array_equal(fill_missing(v), want)


def test_fill_missing_interpolates_the_coarse_lattice_and_keeps_computed_cells() -> None:
    from convscope.probes.landscape import coarse_to_fine_order
    from convscope.ui.panels.landscape_views import fill_missing

    i, j = np.mgrid[0:11, 0:11]
    plane = 0.5 + i + 2.0 * j  # bilinear interpolation reproduces it exactly
    partial = np.full((11, 11), np.nan)
    coarse = coarse_to_fine_order(11, 11)[0][1]
    partial[coarse[:, 0], coarse[:, 1]] = plane[coarse[:, 0], coarse[:, 1]]
    partial[3, 3] = 100.0  # a finer point already computed (not on the plane)
    filled = fill_missing(partial)
    assert filled[3, 3] == 100.0
    keep = np.ones((11, 11), bool)
    keep[3, 3] = False
    np.testing.assert_allclose(filled[keep], plane[keep])


def test_contours_of_a_plane_are_straight_lines_at_the_level() -> None:
    from convscope.ui.panels.landscape_views import contour_paths

    alphas, betas = np.linspace(-1, 1, 11), np.linspace(-2, 2, 21)
    values = np.tile(alphas, (len(betas), 1))  # value = α
    xs, ys = contour_paths(values, alphas, betas, np.array([0.3]))
    ok = np.isfinite(xs)
    np.testing.assert_allclose(xs[ok], 0.3, atol=1e-9)
    assert ys[ok].min() == pytest.approx(-2) and ys[ok].max() == pytest.approx(2)


def test_docked_small_the_lines_move_under_the_map_then_give_way(qtbot, panel) -> None:
    assert panel.plots.layout_mode == "wide" and panel.controls.settings_button.isChecked()
    panel.resize(600, 760)
    qtbot.waitUntil(lambda: panel.plots.layout_mode == "narrow", timeout=2000)
    assert panel.map.bar.geometry().right() <= panel.graphics.width() + 1  # nothing pushed out of view
    panel.resize(480, 380)
    qtbot.waitUntil(lambda: panel.plots.layout_mode == "map", timeout=2000)
    assert not panel.controls.settings_button.isChecked() and not panel.controls.settings[0].isVisible()
    assert panel.line_interp.plot.scene() is None  # out of the layout, not squeezed
    panel.resize(1100, 650)
    qtbot.waitUntil(lambda: panel.plots.layout_mode == "wide", timeout=2000)
    assert panel.controls.settings_button.isChecked() and panel.line_interp.plot.scene() is not None


@pytest.mark.slow
def test_follow_training_on_the_real_loop(qtbot) -> None:
    """The real TrainingLoop trains a tiny net; the panel follows it, then rests when paused."""
    from convscope.data import Dataset, builtin_mnist
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow
    from convscope.ui.worker import wait_for_stragglers

    gc.collect()  # earlier tests' garbage goes now, not while the loop compiles
    full = builtin_mnist()
    data = Dataset("digits (small)", full.x_train[:512], full.y_train[:512], full.x_val[:200],
                   full.y_val[:200], full.class_names, full.source)  # fmt: skip
    window = MainWindow(data, ARCH, TrainConfig(batch_size=32, eval_every=20), loop_factory=TrainingLoop)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    panel = window.panels["Loss landscape"]
    window.docks["Loss landscape"].raise_()
    panel.controls.resolution.setValue(11)
    panel.controls.batch.setCurrentIndex(0)
    steps = []
    panel.runner.finished.connect(lambda _tag, result: steps.append(result.grid.step))
    panel.controls.follow.setChecked(True)
    qtbot.waitUntil(lambda: panel.snapshot is not None, timeout=WAIT_MS)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: len([s for s in steps if s > 0]) >= 2, timeout=2 * WAIT_MS)
    assert steps == sorted(steps) and len(set(steps)) == len(steps)  # newer weights each time
    assert panel.lines["interpolation"].label.startswith("step 0 →")
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    qtbot.waitUntil(lambda: not panel.runner.busy and panel.grid.step == panel.snapshot.step, timeout=WAIT_MS)
    assert panel.grid.complete  # nothing newer came: the last grid refined to the end
    done = len(steps)
    qtbot.wait(1500)
    assert len(steps) == done  # paused: no more grids
    window.close()
    stop(panel, delete=False)  # the window's
    assert wait_for_stragglers(timeout_s=30)


def test_follow_waits_while_the_panel_is_hidden(qtbot, panel) -> None:
    panel.controls.follow.setChecked(True)
    panel.hide()
    emit(panel, snapshot(1))
    qtbot.wait(500)
    assert panel.request is None and not panel.runner.busy
    with qtbot.waitSignal(panel.runner.finished, timeout=WAIT_MS):
        panel.show()  # on screen again: it catches up with the latest weights
    assert panel.grid.step == 1


def test_the_panel_and_the_files_draw_the_same_picture_of_a_grid_with_inf_and_nan(qtbot, panel) -> None:
    """One display transform: the panel's image values, colour range and contours are
    the PNG's colours and the SVG's contours, for a grid with +inf (overflow) and a NaN
    (no number) among finite losses."""
    import re

    from convscope.probes.landscape import LandscapeGrid
    from convscope.probes.landscape_io import heatmap_rgba
    from convscope.probes.landscape_svg import landscape_svg
    from convscope.viz.colormaps import colorize, sequential_lut

    axis = np.linspace(-1.0, 1.0, 9)
    loss = 0.3 + axis[None, :] ** 2 + 2.0 * axis[:, None] ** 2
    loss[0, 0] = np.inf
    loss[8, 7] = np.inf
    loss[4, 6] = np.nan
    grid = LandscapeGrid(axis, axis, loss, np.full_like(loss, 0.5), float(loss[4, 4]), 0.5, "random", (0, 1),
                         None, 64, "train", 0, 1.0)  # fmt: skip
    for log in (True, False):
        panel.plots.draw((axis, axis, loss, grid.accuracy, None), None, {}, log)
        shown = np.asarray(panel.map.image.image, np.float64)
        levels = tuple(panel.map.image.levels)
        assert np.isfinite(shown).all()
        assert shown[0, 0] == shown.max() == levels[1]  # +inf: the highest colour, not a hole
        # The PNG: sampled at the grid points (size 8·k + 1), the same colours.
        rgba, file_levels = heatmap_rgba(grid, size=8 * 5 + 1, log=log)
        assert file_levels == pytest.approx(levels)
        at_points = rgba[::5, ::5][::-1]  # the file's row 0 is the highest β
        np.testing.assert_array_equal(at_points, colorize(shown, levels, sequential_lut()))
        # The SVG: the same contour segments (count per picture) as on the panel.
        xs, _ys = panel.map.contours.getData()
        svg = landscape_svg(grid, log=log)
        d = re.search(r'class="contours" d="([^"]*)"', svg).group(1)
        assert d.count("M") == int(np.isnan(xs).sum()) > 0


def test_the_1d_legends_sit_above_every_curve(qtbot, panel) -> None:
    """Each line plot's legend is drawn in headroom above its highest point (the
    interpolation line starts high at t < 0, under the legend's left entry before)."""
    emit(panel, snapshot(0))
    emit(panel, snapshot(10))
    compute_and_wait(qtbot, panel)
    qtbot.wait(50)
    for plot in (panel.line_interp, panel.line_dir):
        vb = plot.plot.vb
        legend_bottom = vb.mapSceneToView(plot.legend.mapToScene(plot.legend.boundingRect().bottomLeft())).y()
        top = max(float(np.nanmax(c.getData()[1])) for c in plot.curves.values())
        assert legend_bottom > top, (legend_bottom, top)
