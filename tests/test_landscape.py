"""Loss landscape numerics against independent references: per-filter norms computed
by hand, the plain evaluation (convscope.train.step.evaluate) on host-perturbed
weights, an analytic quadratic through the grid engine and through the whole evaluator
(a linear model under squared error), and np.linalg.svd for PCA."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer
from convscope.model import init
from convscope.probes.landscape import (
    Directions,
    LandscapeError,
    LandscapeGrid,
    coarse_to_fine_order,
    filter_normalized_direction,
    fit_axes,
    grid_axis,
    pca_directions,
    project_trajectory,
    random_directions,
    run_grid,
)
from convscope.probes.landscape_eval import (
    LandscapeEvaluator,
    _point_functions,
    compute_landscape,
    direction_line,
    interpolate_line,
    pca_landscape,
)
from convscope.train.step import build_steps, evaluate, to_host

BN_ARCH = ArchSpec(input_shape=(10, 10, 2), convs=(ConvLayer(4, 3), ConvLayer(5, 3)), dense=(6,),
                   num_classes=3, batch_norm=True)


def _model(seed: int = 0, arch: ArchSpec = BN_ARCH):
    params, state = init(arch, seed)
    params = {k: {n: np.array(v) for n, v in d.items()} for k, d in to_host(params).items()}
    state = {k: {n: np.array(v) for n, v in d.items()} for k, d in to_host(state).items()}
    rng = np.random.default_rng(seed + 100)
    # Non-trivial BN statistics and biases, so eval mode and the zeroing are really tested.
    for layer in state.values():
        layer["mean"] = rng.normal(0, 0.3, layer["mean"].shape).astype(np.float32)
        layer["var"] = rng.uniform(0.5, 2.0, layer["var"].shape).astype(np.float32)
    for layer in params.values():
        for k in ("b", "beta"):
            if k in layer:
                layer[k] = rng.normal(0, 0.1, layer[k].shape).astype(np.float32)
    return params, state


def _batch(n: int = 40, arch: ArchSpec = BN_ARCH, seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, *arch.input_shape), dtype=np.uint8)
    y = rng.integers(0, arch.num_classes, n).astype(np.int32)
    norm = np.array([[0.4, 0.5], [0.3, 0.2]], np.float32)
    return x, y, norm


def _reference_loss(arch, params, state, x, y, norm):
    fns = build_steps(arch)
    tree = lambda t: {k: {n: jnp.asarray(v) for n, v in d.items()} for k, d in t.items()}  # noqa: E731
    return evaluate(fns, tree(params), tree(state), jnp.asarray(x), jnp.asarray(y), jnp.asarray(norm), chunk=16)


def _axpy(params, a, d1, b, d2):
    return {k: {n: (v.astype(np.float64) + a * d1[k][n] + b * d2[k][n]).astype(np.float32)
                for n, v in layer.items()} for k, layer in params.items()}


# ------------------------------------------------------------------ directions
def test_filter_normalized_direction_matches_filter_norms_and_zeroes_bias_and_bn():
    params, _ = _model()
    d = filter_normalized_direction(params, seed=3)
    assert set(d) == set(params)
    for layer, leaves in params.items():
        for name, w in leaves.items():
            assert d[layer][name].shape == w.shape and d[layer][name].dtype == np.float32
            if name in ("b", "gamma", "beta"):
                assert not np.any(d[layer][name]), f"{layer}/{name} must be zero"
                continue
            for k in range(w.shape[-1]):  # each output channel / output unit, by hand
                wf, df = w[..., k].ravel(), d[layer][name][..., k].ravel()
                assert np.linalg.norm(df) == pytest.approx(np.linalg.norm(wf), rel=1e-5)
                assert not np.allclose(df / np.linalg.norm(df), wf / np.linalg.norm(wf))
    again = filter_normalized_direction(params, seed=3)
    other = filter_normalized_direction(params, seed=4)
    assert np.array_equal(again["conv1"]["w"], d["conv1"]["w"])
    assert not np.allclose(other["conv1"]["w"], d["conv1"]["w"])


def test_zero_filter_gives_zero_direction_filter():
    params, _ = _model()
    params["conv1"]["w"][..., 2] = 0.0
    d = filter_normalized_direction(params, 0)
    assert not np.any(d["conv1"]["w"][..., 2]) and np.all(np.isfinite(d["conv1"]["w"]))


def test_random_directions_are_seed_and_seed_plus_one():
    params, _ = _model()
    dirs = random_directions(params, 7)
    assert dirs.kind == "random" and dirs.seeds == (7, 8)
    assert np.array_equal(dirs.d2["dense1"]["w"], filter_normalized_direction(params, 8)["dense1"]["w"])


def _flat_reference(tree):
    """An independent flattening: the test's own order (insertion order of init)."""
    return np.concatenate([np.asarray(v, np.float64).ravel() for layer in tree.values() for v in layer.values()])


def test_pca_directions_and_projection_match_numpy_svd():
    params, _ = _model()
    rng = np.random.default_rng(5)
    traj = [{k: {n: v + rng.normal(0, 0.1 * (i + 1), v.shape).astype(np.float32) for n, v in layer.items()}
             for k, layer in params.items()} for i in range(6)]
    dirs = pca_directions(traj, params)
    m = np.stack([_flat_reference(t) - _flat_reference(params) for t in traj])
    m = m - m.mean(axis=0)
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    assert dirs.kind == "pca"
    assert dirs.explained == pytest.approx((s[0] ** 2 / np.sum(s**2), s[1] ** 2 / np.sum(s**2)), rel=1e-9)
    for d, v in zip((dirs.d1, dirs.d2), vt[:2], strict=True):
        flat = _flat_reference(d)
        assert np.linalg.norm(flat) == pytest.approx(1.0, rel=1e-5)
        assert abs(flat @ v) == pytest.approx(1.0, abs=1e-5)  # same component up to sign
    coords = project_trajectory(traj, params, dirs.d1, dirs.d2)
    basis = np.stack([_flat_reference(dirs.d1), _flat_reference(dirs.d2)], axis=1)
    ref = np.stack([np.linalg.lstsq(basis, _flat_reference(t) - _flat_reference(params), rcond=None)[0]
                    for t in traj])
    assert coords.shape == (6, 2)
    np.testing.assert_allclose(coords, ref, rtol=1e-6, atol=1e-9)


def test_projection_recovers_coordinates_of_a_trajectory_in_a_known_plane():
    params, _ = _model()
    u, v = filter_normalized_direction(params, 1), filter_normalized_direction(params, 2)
    xy = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0], [-0.3, 0.2], [0.0, 0.0]])
    traj = [_axpy(params, a, u, b, v) for a, b in xy]
    np.testing.assert_allclose(project_trajectory(traj, params, u, v), xy, atol=2e-4)
    dirs = pca_directions(traj, params)  # PCA finds the same plane: reconstruction is exact
    coords = project_trajectory(traj, params, dirs.d1, dirs.d2)
    recon = coords @ np.stack([_flat_reference(dirs.d1), _flat_reference(dirs.d2)])
    target = np.stack([_flat_reference(t) - _flat_reference(params) for t in traj])
    np.testing.assert_allclose(recon, target, atol=1e-4)
    assert sum(dirs.explained) == pytest.approx(1.0, abs=1e-6)


def test_projection_is_the_minimum_norm_least_squares_even_for_dependent_directions():
    params, _ = _model()
    u = filter_normalized_direction(params, 1)
    twice = {k: {n: 2.0 * v for n, v in layer.items()} for k, layer in u.items()}
    rng = np.random.default_rng(2)
    traj = [{k: {n: v + rng.normal(0, 0.2, v.shape).astype(np.float32) for n, v in layer.items()}
             for k, layer in params.items()} for _ in range(3)]  # fmt: skip
    basis = np.stack([_flat_reference(u), _flat_reference(twice)], axis=1)
    want = np.stack([np.linalg.lstsq(basis, _flat_reference(t) - _flat_reference(params), rcond=None)[0]
                     for t in traj])  # fmt: skip
    np.testing.assert_allclose(project_trajectory(traj, params, u, twice), want, rtol=1e-6, atol=1e-12)
    assert project_trajectory([], params, u, twice).shape == (0, 2)
    with pytest.raises(LandscapeError, match="shape"):
        project_trajectory([{"conv1": params["conv1"]}], params, u, twice)


def test_pca_needs_two_distinct_snapshots():
    params, _ = _model()
    with pytest.raises(LandscapeError, match="at least 2"):
        pca_directions([params], params)
    with pytest.raises(LandscapeError, match="two directions"):
        pca_directions([params, params, params], params)


# ------------------------------------------------------------------ engine
def test_coarse_to_fine_order_visits_every_point_once_centre_first_level():
    levels = coarse_to_fine_order(21, 11)
    assert [s for s, _ in levels] == [4, 2, 1]
    allpts = np.concatenate([p for _, p in levels])
    assert len(allpts) == 21 * 11 and len({tuple(p) for p in allpts}) == 21 * 11
    first = {tuple(p) for p in levels[0][1]}
    assert {(10, 5), (0, 0), (20, 10), (0, 10), (20, 0)} <= first
    assert first == {(i, j) for i in (0, 2, 6, 10, 14, 18, 20) for j in (0, 1, 5, 9, 10)}
    assert coarse_to_fine_order(1, 3)[0][1].tolist() == [[0, 0], [0, 1], [0, 2]]


def _quadratic(alphas, betas):
    """An analytic loss surface with a cross term, off-centre minimum."""
    calls = []

    def f(a, b):
        calls.append(len(a))
        a, b = a.astype(np.float64), b.astype(np.float64)
        return 2.0 * (a - 0.25) ** 2 + 0.5 * b**2 + 0.3 * a * b + 1.0, 0.5 + 0.1 * a

    aa, bb = (m.astype(np.float64) for m in np.meshgrid(alphas, betas))
    return f, calls, 2.0 * (aa - 0.25) ** 2 + 0.5 * bb**2 + 0.3 * aa * bb + 1.0, 0.5 + 0.1 * aa


@pytest.mark.parametrize("batch", [1, 3])
def test_grid_engine_recovers_an_analytic_quadratic(batch):
    alphas, betas = np.linspace(-1, 1, 13), np.linspace(-0.5, 0.5, 9)
    f, calls, want_loss, want_acc = _quadratic(alphas.astype(np.float32), betas.astype(np.float32))
    seen = []
    loss, acc, done = run_grid(f, alphas, betas, batch=batch, on_progress=seen.append)
    assert done == 13 * 9 and set(calls) == {batch}
    np.testing.assert_allclose(loss, want_loss, rtol=1e-12)
    np.testing.assert_allclose(acc, want_acc, rtol=1e-12)
    assert seen[-1].done == seen[-1].total == 13 * 9 and [p.level for p in seen][-1] == 1
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    for p in seen:  # partial grids: NaN exactly where not yet computed
        assert np.count_nonzero(~np.isnan(p.loss)) == p.done
        ok = ~np.isnan(p.loss)
        np.testing.assert_allclose(p.loss[ok], want_loss[ok], rtol=1e-12)


def test_cancel_mid_grid_leaves_the_coarse_lattice_and_nan_elsewhere():
    alphas = betas = np.linspace(-1, 1, 21)
    f, _, want, _ = _quadratic(alphas.astype(np.float32), betas.astype(np.float32))
    levels = coarse_to_fine_order(21, 21)
    n_coarse = len(levels[0][1])
    progress = []
    stop = lambda: bool(progress) and progress[-1].done >= n_coarse  # noqa: E731
    loss, acc, done = run_grid(f, alphas, betas, should_stop=stop, on_progress=progress.append,
                               chunk_seconds=1e-9)  # one call per chunk: stops right after the lattice
    assert n_coarse <= done < 21 * 21
    coarse = levels[0][1]
    assert np.all(np.isfinite(loss[coarse[:, 0], coarse[:, 1]]))
    computed = np.concatenate([p for _, p in levels])[:done]  # the order is the dispatch order
    mask = np.zeros((21, 21), bool)
    mask[computed[:, 0], computed[:, 1]] = True
    assert np.array_equal(~np.isnan(loss), mask) and np.array_equal(~np.isnan(acc), mask)
    np.testing.assert_allclose(loss[mask], want[mask], rtol=1e-12)
    assert progress[-1].done == done


def test_grid_inputs_are_validated():
    with pytest.raises(LandscapeError, match="resolution"):
        grid_axis(1, 1.0)
    with pytest.raises(LandscapeError, match="span"):
        grid_axis(11, 0.0)
    with pytest.raises(LandscapeError, match="alphas"):
        run_grid(lambda a, b: (a, b), [np.nan, 1.0], [0.0])
    good = dict(alphas=np.zeros(3), betas=np.zeros(2), loss=np.zeros((2, 3)), accuracy=np.zeros((2, 3)),
                center_loss=1.0, center_accuracy=0.5, kind="random", seeds=(0, 1), explained=None,
                n_examples=4, split="train", step=0, seconds=0.1)
    LandscapeGrid(**good)
    for change, field in [({"loss": np.zeros((3, 2))}, "loss"), ({"kind": "pcb"}, "kind"),
                          ({"n_examples": 0}, "n_examples"), ({"split": "test"}, "split"),
                          ({"trajectory": np.zeros((3, 3))}, "trajectory"), ({"seconds": -1.0}, "seconds")]:
        with pytest.raises(ValueError, match=field):
            LandscapeGrid(**{**good, **change})


# ------------------------------------------------------------------ the model
LINEAR = ArchSpec(input_shape=(5, 4, 2), convs=(), dense=(), num_classes=3)


def _squared_error(logits, y):
    """Σ_k (logit_k − onehot_k)²: of a linear model, exactly quadratic in the weights."""
    return jnp.sum((logits - jnp.eye(logits.shape[-1])[y]) ** 2, axis=-1)


@pytest.mark.parametrize("strategy", ["loop", "batched"])
def test_the_evaluator_recovers_the_analytic_surface_of_a_quadratic_loss(strategy):
    """The real path (directions built from the weights, θ + a·d1 + b·d2 inside the jit,
    the network, padded batch chunks, the coarse-to-fine grid) against the quadratic
    L(a, b) = mean_i |(X̃ W + c − Y) + a X̃ D1 + b X̃ D2|²_i, its coefficients in NumPy."""
    params, state = (to_host(t) for t in init(LINEAR, 4))
    params["logits"]["b"] = np.array([0.2, -0.1, 0.05], np.float32)  # stays put: bias directions are 0
    rng = np.random.default_rng(8)
    x = rng.integers(0, 256, (37, *LINEAR.input_shape), dtype=np.uint8)
    y = rng.integers(0, 3, 37).astype(np.int32)
    norm = np.array([[0.4, 0.6], [0.25, 0.3]], np.float32)
    dirs = random_directions(params, 5)
    alphas, betas = np.linspace(-2.0, 2.0, 9), np.linspace(-1.0, 3.0, 7)  # not square, not symmetric
    ev = LandscapeEvaluator(LINEAR, params, state, x, y, norm, dirs, strategy=strategy, batch_points=4,
                            chunk=16, example_loss=_squared_error)  # 37 = 16 + 16 + 5 (padded, masked)
    grid = ev.grid(alphas, betas)

    xt = ((x.astype(np.float64) / 255.0 - norm[0]) / norm[1]).reshape(len(x), -1)
    w, c = params["logits"]["w"].astype(np.float64), params["logits"]["b"].astype(np.float64)
    r0 = xt @ w + c - np.eye(3)[y]
    r1, r2 = xt @ dirs.d1["logits"]["w"].astype(np.float64), xt @ dirs.d2["logits"]["w"].astype(np.float64)
    n = len(x)
    k00, k01, k02 = np.sum(r0 * r0) / n, np.sum(r0 * r1) / n, np.sum(r0 * r2) / n
    k11, k22, k12 = np.sum(r1 * r1) / n, np.sum(r2 * r2) / n, np.sum(r1 * r2) / n
    aa, bb = np.meshgrid(alphas, betas)  # loss[i, j] is at (alphas[j], betas[i])
    want = k00 + 2 * aa * k01 + 2 * bb * k02 + aa**2 * k11 + bb**2 * k22 + 2 * aa * bb * k12
    assert k11 > 0 and k22 > 0 and abs(k12) > 1e-3 * np.sqrt(k11 * k22)  # curved both ways, a cross term
    np.testing.assert_allclose(grid.loss, want, rtol=2e-5)
    assert grid.center_loss == pytest.approx(k00, rel=1e-5)
    logits = xt @ w + c + aa[..., None, None] * (r1)[None, None] + bb[..., None, None] * r2[None, None]
    np.testing.assert_allclose(grid.accuracy, np.mean(logits.argmax(-1) == y, axis=-1), atol=1e-6)
    assert grid.complete and not np.allclose(grid.accuracy, grid.accuracy[0, 0])


def test_the_example_loss_compiles_its_own_functions():
    assert _point_functions(LINEAR, _squared_error) is _point_functions(LINEAR, _squared_error)
    assert _point_functions(LINEAR, _squared_error)[0] is not _point_functions(LINEAR)[0]


@pytest.mark.parametrize("strategy", ["loop", "batched"])
def test_grid_matches_plain_evaluation_at_centre_and_off_centre(strategy):
    params, state = _model()
    x, y, norm = _batch(40)
    dirs = random_directions(params, 0)
    ev = LandscapeEvaluator(BN_ARCH, params, state, x, y, norm, dirs, strategy=strategy,
                            batch_points=3, chunk=16)  # 40 = 16 + 16 + 8 (padded, masked)
    axis = np.array([-0.5, 0.0, 0.5])
    grid = ev.grid(axis, axis, split="val", step=12)
    ref_loss, ref_acc = _reference_loss(BN_ARCH, params, state, x, y, norm)
    assert grid.center_loss == pytest.approx(ref_loss, rel=1e-5)
    assert grid.center_accuracy == pytest.approx(ref_acc, abs=1e-6)
    assert grid.loss[1, 1] == pytest.approx(ref_loss, rel=1e-5)
    for i, j in [(0, 2), (2, 0), (2, 2)]:  # loss[i, j] is at (alphas[j], betas[i])
        moved = _axpy(params, axis[j], dirs.d1, axis[i], dirs.d2)
        lo, ac = _reference_loss(BN_ARCH, moved, state, x, y, norm)
        assert grid.loss[i, j] == pytest.approx(lo, rel=1e-4)
        assert grid.accuracy[i, j] == pytest.approx(ac, abs=1e-6)
    assert grid.complete and grid.n_examples == 40 and grid.split == "val" and grid.step == 12
    assert grid.seeds == (0, 1) and grid.kind == "random"
    assert not np.allclose(grid.loss, grid.loss[1, 1])  # the directions really move the loss


def test_compute_landscape_default_model_centre():
    arch = ArchSpec(convs=(ConvLayer(4, 3),), dense=())
    params, state = (to_host(t) for t in init(arch, 1))
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (32, 28, 28, 1), dtype=np.uint8)
    y = rng.integers(0, 10, 32).astype(np.int32)
    norm = np.array([[0.1], [0.3]], np.float32)
    grid = compute_landscape(arch, params, state, x, y, norm, resolution=5, span=0.5, seed=3)
    assert grid.alphas.tolist() == [-0.5, -0.25, 0.0, 0.25, 0.5] and grid.seeds == (3, 4)
    ref, _ = _reference_loss(arch, params, state, x, y, norm)
    assert grid.loss[2, 2] == pytest.approx(ref, rel=1e-5) and grid.center_loss == pytest.approx(ref, rel=1e-5)


def test_evaluator_rejects_bad_data():
    params, state = _model()
    x, y, norm = _batch(8)
    dirs = random_directions(params, 0)
    with pytest.raises(LandscapeError, match="uint8"):
        LandscapeEvaluator(BN_ARCH, params, state, x.astype(np.float32), y, norm, dirs)
    with pytest.raises(LandscapeError, match="labels"):
        LandscapeEvaluator(BN_ARCH, params, state, x, y + 3, norm, dirs)
    with pytest.raises(LandscapeError, match="norm"):
        LandscapeEvaluator(BN_ARCH, params, state, x, y, norm[:, :1], dirs)
    with pytest.raises(LandscapeError, match="strategy"):
        LandscapeEvaluator(BN_ARCH, params, state, x, y, norm, dirs, strategy="vmap")


def test_interpolation_line_hits_both_snapshots_and_midpoint():
    pa, sa = _model(0)
    pb, sb = _model(1)
    x, y, norm = _batch(24)
    xv, yv, _ = _batch(16, seed=9)
    ts = np.array([0.0, 0.5, 1.0])
    line = interpolate_line(BN_ARCH, pa, sa, pb, sb, {"train": (x, y), "val": (xv, yv)}, norm, ts=ts,
                            label="a → b")
    assert line.kind == "interpolation" and set(line.loss) == {"train", "val"}
    mid_p = {k: {n: 0.5 * v + 0.5 * pb[k][n] for n, v in layer.items()} for k, layer in pa.items()}
    mid_s = {k: {n: 0.5 * v + 0.5 * sb[k][n] for n, v in layer.items()} for k, layer in sa.items()}
    for name, (xb, yb) in (("train", (x, y)), ("val", (xv, yv))):
        for t, (p, s) in zip(ts, [(pa, sa), (mid_p, mid_s), (pb, sb)], strict=True):
            lo, ac = _reference_loss(BN_ARCH, p, s, xb, yb, norm)
            k = int(np.argwhere(ts == t)[0, 0])
            assert line.loss[name][k] == pytest.approx(lo, rel=1e-4)
            assert line.accuracy[name][k] == pytest.approx(ac, abs=1e-6)


def test_direction_line_centre_and_a_step():
    params, state = _model()
    x, y, norm = _batch(16)
    line = direction_line(BN_ARCH, params, state, {"train": (x, y)}, norm, seed=2, ts=[0.0, 0.75])
    d = filter_normalized_direction(params, 2)
    zero = {k: {n: np.zeros_like(v) for n, v in layer.items()} for k, layer in d.items()}
    for k, t in enumerate((0.0, 0.75)):
        lo, _ = _reference_loss(BN_ARCH, _axpy(params, t, d, 0.0, zero), state, x, y, norm)
        assert line.loss["train"][k] == pytest.approx(lo, rel=1e-4)
    assert line.label == "seed 2"


def test_directions_kind_validated():
    with pytest.raises(ValueError, match="kind"):
        Directions({}, {}, "sideways")


def test_fit_axes_cover_centre_and_trajectory():
    alphas, betas = fit_axes(np.array([[1.0, -2.0], [3.0, -1.0]]), 9, margin=0.25)
    assert alphas[0] == pytest.approx(-0.75) and alphas[-1] == pytest.approx(3.75) and len(alphas) == 9
    assert betas[0] == pytest.approx(-2.5) and betas[-1] == pytest.approx(0.5)
    a2, b2 = fit_axes(np.zeros((3, 2)), 5)
    assert a2.tolist() == b2.tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    with pytest.raises(LandscapeError, match="resolution"):
        fit_axes(np.ones((2, 2)), 1)


def test_pca_landscape_carries_the_projected_trajectory_and_its_loss():
    center, state = _model()
    u, v = filter_normalized_direction(center, 1), filter_normalized_direction(center, 2)
    xy = [(0.8, 0.1), (0.5, -0.3), (0.2, 0.1), (0.0, 0.0)]
    traj = [_axpy(center, a, u, b, v) for a, b in xy]
    x, y, norm = _batch(16)
    grid = pca_landscape(BN_ARCH, traj, [0, 10, 20, 30], center, state, x, y, norm, resolution=5, step=30)
    assert grid.kind == "pca" and grid.seeds is None and sum(grid.explained) == pytest.approx(1.0, abs=1e-6)
    assert grid.trajectory.shape == (4, 2) and grid.trajectory_steps.tolist() == [0, 10, 20, 30]
    np.testing.assert_allclose(grid.trajectory[-1], 0.0, atol=1e-6)  # the centre is the last snapshot
    assert grid.alphas[0] <= grid.trajectory[:, 0].min() and grid.alphas[-1] >= grid.trajectory[:, 0].max()
    assert grid.betas[0] <= grid.trajectory[:, 1].min() and grid.betas[-1] >= grid.trajectory[:, 1].max()
    ref, _ = _reference_loss(BN_ARCH, center, state, x, y, norm)
    assert grid.center_loss == pytest.approx(ref, rel=1e-5)


def test_model_grid_cancelled_after_the_coarse_lattice():
    params, state = _model()
    x, y, norm = _batch(8)
    ev = LandscapeEvaluator(BN_ARCH, params, state, x, y, norm, random_directions(params, 0))
    axis = np.linspace(-1, 1, 9)
    n_coarse = len(coarse_to_fine_order(9, 9)[0][1])
    seen = []
    grid = ev.grid(axis, axis, on_progress=seen.append,
                   should_stop=lambda: bool(seen) and seen[-1].done >= n_coarse)
    assert n_coarse <= grid.n_done < 81 and not grid.complete
    coarse = coarse_to_fine_order(9, 9)[0][1]
    assert np.all(np.isfinite(grid.loss[coarse[:, 0], coarse[:, 1]]))
    assert np.count_nonzero(np.isnan(grid.loss)) == 81 - grid.n_done
    assert grid.loss[4, 4] == pytest.approx(grid.center_loss, rel=1e-6)
