"""The model's loss on a plane (or a line) through parameter space, fast.

One jitted function evaluates the loss at θ + a·d1 + b·d2 for scalars (a, b): the
centre, both directions and the evaluation batch (uint8) stay on the device, and the
perturbation is computed inside the jit, so a grid point costs one dispatch and no
host transfer. Points are dispatched asynchronously (``landscape.run_grid``).

Two strategies: "loop" (one call per point) and "batched" (``vmap`` over a few points
per call). On XLA:CPU a batched call turns every conv into a grouped conv: measured with
benchmarks/bench_landscape.py (2 shared cores, 11×11 grid, 256 examples), the loop ran
at 0.9-1.5× the plain evaluation throughput, the batched calls at 0.3-0.7× (1.7-3.3×
slower than the loop). "auto" picks per backend from ``AUTO_STRATEGY``; backends not
measured yet (no GPU was available) get the loop too, the one that never grows memory.

The per-example loss of the logits is a parameter (``example_loss``, default the
classifier's cross-entropy), so the whole path (perturbation, network, batch chunks,
grid) can be checked on a loss whose surface is known in closed form.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from convscope.config import ArchSpec
from convscope.model.arrays import to_device
from convscope.model.network import apply, preprocess
from convscope.probes.chunked import CHUNK, padded
from convscope.probes.landscape import (
    Directions,
    LandscapeError,
    LandscapeGrid,
    LandscapeProgress,
    filter_normalized_direction,
    fit_axes,
    grid_axis,
    pca_directions,
    project_trajectory,
    random_directions,
    run_grid,
)

STRATEGIES = ("loop", "batched")
AUTO_STRATEGY = {"cpu": "loop"}  # measured (see above); unmeasured backends: "loop"
EVAL_CHUNK = CHUNK  # examples per call (probes.chunked's); a smaller batch is one chunk of its own size


def auto_strategy(backend: str | None = None) -> str:
    """The faster strategy for ``backend`` (default: jax.default_backend())."""
    return AUTO_STRATEGY.get(backend or jax.default_backend(), "loop")


ExampleLoss = Callable[[jax.Array, jax.Array], jax.Array]  # (logits (N, K), labels (N,)) → (N,)


def cross_entropy(logits: jax.Array, y: jax.Array) -> jax.Array:
    """The loss the models are trained on: softmax cross-entropy per example."""
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)


@functools.lru_cache(maxsize=8)
def _point_functions(arch: ArchSpec, example_loss: ExampleLoss = cross_entropy) -> tuple[Callable, Callable]:
    """Jitted (loop, batched) functions of ``arch``; jit caches per batch shape."""

    def point(center, d1, d2, state, dstate, x, y, valid, norm, scale, a, b):
        params = jax.tree.map(lambda c, u, v: c + a * u + b * v, center, d1, d2)
        st = {layer: {k: s + a * dstate[layer][k] for k, s in leaves.items()} for layer, leaves in state.items()}
        # An interpolated variance may cross zero outside [0, 1]: keep it a variance.
        st = {layer: {k: jnp.maximum(v, 0.0) if k == "var" else v for k, v in leaves.items()}
              for layer, leaves in st.items()}
        logits, _, _ = apply(arch, params, st, preprocess(x, norm[0], norm[1]), train=False)
        losses = example_loss(logits, y)
        correct = (logits.argmax(-1) == y).astype(jnp.float32)
        return jnp.sum(losses * valid) * scale, jnp.sum(correct * valid) * scale

    def loop(center, d1, d2, state, dstate, x, y, valid, norm, scale, a, b):
        lo, ac = point(center, d1, d2, state, dstate, x, y, valid, norm, scale, a[0], b[0])
        return lo[None], ac[None]

    batched = jax.vmap(point, in_axes=(None,) * 10 + (0, 0))
    return jax.jit(loop), jax.jit(batched)


def _device_tree(tree: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, jax.Array]]:
    return {layer: {k: jnp.asarray(v, jnp.float32) for k, v in leaves.items()} for layer, leaves in tree.items()}


def _check_data(arch: ArchSpec, x: Any, y: Any, norm: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, y, norm = np.asarray(x), np.asarray(y), np.asarray(norm, np.float32)
    if x.dtype != np.uint8 or x.ndim != 4 or tuple(x.shape[1:]) != tuple(arch.input_shape):
        raise LandscapeError(f"images must be uint8 (N, {', '.join(map(str, arch.input_shape))}), "
                             f"got {x.dtype} {x.shape}")
    if len(x) == 0:
        raise LandscapeError("the evaluation batch is empty")
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise LandscapeError(f"labels must be {len(x)} integers, got {y.dtype} {y.shape}")
    if y.min() < 0 or y.max() >= arch.num_classes:
        raise LandscapeError(f"labels must lie in [0, {arch.num_classes - 1}]")
    if norm.shape != (2, arch.input_shape[2]):
        raise LandscapeError(f"norm must have shape {(2, arch.input_shape[2])}, got {norm.shape}")
    return x, y.astype(np.int32), norm


class LandscapeEvaluator:
    """Loss and accuracy of ``arch`` on one batch at θ + a·d1 + b·d2 (BN in eval mode).

    ``dstate`` (optional) moves the batch-norm running statistics along with ``a``
    (used by the interpolation between two snapshots); by default they stay fixed.
    ``example_loss`` replaces the cross-entropy (a module-level function, so the
    compiled functions are cached per (arch, loss)).
    """

    def __init__(self, arch: ArchSpec, params: Mapping, state: Mapping, x: Any, y: Any, norm: Any,
                 directions: Directions, *, strategy: str = "auto", batch_points: int = 4,
                 chunk: int = EVAL_CHUNK, dstate: Mapping | None = None,
                 example_loss: ExampleLoss = cross_entropy) -> None:
        if strategy == "auto":
            strategy = auto_strategy()
        if strategy not in STRATEGIES:
            raise LandscapeError(f"strategy must be 'auto' or one of {STRATEGIES}, got {strategy!r}")
        if not 1 <= batch_points <= 64 or not 1 <= chunk:
            raise LandscapeError("batch_points must be in [1, 64] and chunk >= 1")
        x, y, norm = _check_data(arch, x, y, norm)
        self.arch, self.directions, self.strategy = arch, directions, strategy
        self.batch_points = batch_points if strategy == "batched" else 1
        self.n_examples = len(x)
        self._loop, self._batched = _point_functions(arch, example_loss)
        self._center = _device_tree(params)
        self._d1, self._d2 = _device_tree(directions.d1), _device_tree(directions.d2)
        self._state = _device_tree(state)
        zero_state = {layer: {k: np.zeros_like(v) for k, v in leaves.items()} for layer, leaves in state.items()}
        self._dstate = _device_tree(dstate if dstate is not None else zero_state)
        self._norm = to_device(norm)
        self._scale = jnp.float32(1.0 / len(x))
        # Fixed-size chunks (the last one padded and masked) so one compilation serves all.
        size = min(chunk, len(x))
        self._chunks = []
        for start in range(0, len(x), size):
            xb, yb = x[start : start + size], y[start : start + size]
            m = len(xb)
            valid = np.zeros(size, np.float32)
            valid[:m] = 1.0
            xb, yb = padded(xb, size), padded(yb, size)
            self._chunks.append((to_device(xb), to_device(yb), to_device(valid)))

    def points(self, a: np.ndarray, b: np.ndarray) -> tuple[jax.Array, jax.Array]:
        """Loss and accuracy at the ``batch_points`` points (a[k], b[k]); not yet read back."""
        fn = self._loop if self.strategy == "loop" else self._batched
        a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
        total = None
        for xb, yb, valid in self._chunks:
            out = fn(self._center, self._d1, self._d2, self._state, self._dstate,
                     xb, yb, valid, self._norm, self._scale, a, b)
            total = out if total is None else (total[0] + out[0], total[1] + out[1])
        assert total is not None
        return total

    def point(self, a: float, b: float) -> tuple[float, float]:
        """(loss, accuracy) at one point, read back."""
        n = self.batch_points
        lo, ac = self.points(np.full(n, a, np.float32), np.full(n, b, np.float32))
        return float(np.asarray(lo)[0]), float(np.asarray(ac)[0])

    def run(self, alphas: Any, betas: Any, *, should_stop: Callable[[], bool] | None = None,
            on_progress: Callable[[LandscapeProgress], None] | None = None) -> tuple[np.ndarray, np.ndarray, float]:
        """The raw grid (loss, accuracy, seconds) through ``landscape.run_grid``."""
        t0 = time.perf_counter()
        loss, acc, _ = run_grid(self.points, alphas, betas, batch=self.batch_points,
                                should_stop=should_stop, on_progress=on_progress)
        return loss, acc, time.perf_counter() - t0

    def grid(self, alphas: Any, betas: Any, *, should_stop: Callable[[], bool] | None = None,
             on_progress: Callable[[LandscapeProgress], None] | None = None, split: str = "",
             step: int = 0, trajectory: np.ndarray | None = None,
             trajectory_steps: np.ndarray | None = None) -> LandscapeGrid:
        """The full :class:`LandscapeGrid`; the centre loss is computed first, always."""
        t0 = time.perf_counter()
        center_loss, center_acc = self.point(0.0, 0.0)
        loss, acc, _ = self.run(alphas, betas, should_stop=should_stop, on_progress=on_progress)
        d = self.directions
        return LandscapeGrid(np.asarray(alphas), np.asarray(betas), loss, acc, center_loss, center_acc,
                             d.kind, d.seeds, d.explained, self.n_examples, split, int(step),
                             time.perf_counter() - t0, trajectory, trajectory_steps)


def compute_landscape(arch: ArchSpec, params: Mapping, state: Mapping, x: Any, y: Any, norm: Any, *,
                      resolution: int = 21, span: float = 1.0, seed: int = 0,
                      directions: Directions | None = None, split: str = "", step: int = 0,
                      should_stop: Callable[[], bool] | None = None,
                      on_progress: Callable[[LandscapeProgress], None] | None = None,
                      strategy: str = "auto") -> LandscapeGrid:
    """A square grid on ±span around ``params``: random filter-normalised directions
    (seeds ``seed``, ``seed + 1``) unless ``directions`` are given."""
    axis = grid_axis(resolution, span)
    directions = directions if directions is not None else random_directions(params, seed)
    ev = LandscapeEvaluator(arch, params, state, x, y, norm, directions, strategy=strategy)
    return ev.grid(axis, axis, should_stop=should_stop, on_progress=on_progress, split=split, step=step)


def pca_landscape(arch: ArchSpec, trajectory: list[Mapping], trajectory_steps: Any, params: Mapping,
                  state: Mapping, x: Any, y: Any, norm: Any, *, resolution: int = 21, margin: float = 0.25,
                  split: str = "", step: int = 0, should_stop: Callable[[], bool] | None = None,
                  on_progress: Callable[[LandscapeProgress], None] | None = None,
                  strategy: str = "auto") -> LandscapeGrid:
    """The plane of the first two principal components of the trajectory (snapshots'
    params, e.g. every Snapshot so far) around ``params``, axes fitted to the projected
    trajectory, which the result carries (α, β per snapshot, and their steps)."""
    directions = pca_directions(trajectory, params)
    coords = project_trajectory(trajectory, params, directions.d1, directions.d2)
    alphas, betas = fit_axes(coords, resolution, margin)
    ev = LandscapeEvaluator(arch, params, state, x, y, norm, directions, strategy=strategy)
    return ev.grid(alphas, betas, should_stop=should_stop, on_progress=on_progress, split=split, step=step,
                   trajectory=coords, trajectory_steps=np.asarray(trajectory_steps))


# ------------------------------------------------------------------ 1D
@dataclass(frozen=True)
class LandscapeLine:
    """Loss along a line θ(t), per named batch (e.g. "train", "val")."""

    ts: np.ndarray  # (T,)
    loss: dict[str, np.ndarray]  # {batch name: (T,)}
    accuracy: dict[str, np.ndarray]
    kind: str  # "interpolation" | "direction"
    label: str
    seconds: float

    def __post_init__(self) -> None:
        ts = np.asarray(self.ts, np.float64)
        if ts.ndim != 1 or len(ts) < 1:
            raise ValueError("ts must be a non-empty 1-D array")
        object.__setattr__(self, "ts", ts)
        if self.kind not in ("interpolation", "direction"):
            raise ValueError(f"kind must be 'interpolation' or 'direction', got {self.kind!r}")
        for name in ("loss", "accuracy"):
            d = {k: np.asarray(v, np.float64) for k, v in getattr(self, name).items()}
            if any(v.shape != ts.shape for v in d.values()):
                raise ValueError(f"every {name} curve must have shape {ts.shape}")
            object.__setattr__(self, name, d)
        if set(self.loss) != set(self.accuracy):
            raise ValueError("loss and accuracy must name the same batches")


Batches = Mapping[str, tuple[Any, Any]]


def _line(arch: ArchSpec, center: Mapping, state: Mapping, direction: Mapping, dstate: Mapping | None,
          batches: Batches, norm: Any, ts: Any, kind: str, label: str,
          should_stop: Callable[[], bool] | None) -> LandscapeLine:
    t0 = time.perf_counter()
    ts = np.asarray(ts, np.float64)
    zero = {layer: {k: np.zeros(np.shape(v), np.float32) for k, v in leaves.items()} for layer, leaves in center.items()}
    dirs = Directions(direction, zero, "random")
    losses, accs = {}, {}
    for name, (x, y) in batches.items():
        ev = LandscapeEvaluator(arch, center, state, x, y, norm, dirs, dstate=dstate)
        loss, acc, _ = ev.run(ts, [0.0], should_stop=should_stop)
        losses[name], accs[name] = loss[0], acc[0]
    return LandscapeLine(ts, losses, accs, kind, label, time.perf_counter() - t0)


def _minus(a: Mapping, b: Mapping) -> dict[str, dict[str, np.ndarray]]:
    try:
        return {layer: {k: np.asarray(v, np.float32) - np.asarray(b[layer][k], np.float32)
                        for k, v in leaves.items()} for layer, leaves in a.items()}
    except (KeyError, ValueError) as e:
        raise LandscapeError(f"the two snapshots do not have the same parameters ({e})") from e


def interpolate_line(arch: ArchSpec, params_a: Mapping, state_a: Mapping, params_b: Mapping,
                     state_b: Mapping, batches: Batches, norm: Any, *,
                     ts: Any = None, label: str = "",
                     should_stop: Callable[[], bool] | None = None) -> LandscapeLine:
    """Loss along θ(t) = (1−t)·θa + t·θb per batch; batch-norm running statistics are
    interpolated alike (variances clamped at zero). ``ts`` default: 31 from −0.25 to 1.25."""
    ts = np.linspace(-0.25, 1.25, 31) if ts is None else ts
    return _line(arch, params_a, state_a, _minus(params_b, params_a), _minus(state_b, state_a),
                 batches, norm, ts, "interpolation", label, should_stop)


def direction_line(arch: ArchSpec, params: Mapping, state: Mapping, batches: Batches, norm: Any, *,
                   seed: int = 0, ts: Any = None,
                   should_stop: Callable[[], bool] | None = None) -> LandscapeLine:
    """Loss along θ + t·d for one random filter-normalised direction d (``seed``);
    ``ts`` default: 31 from −1 to 1."""
    ts = np.linspace(-1.0, 1.0, 31) if ts is None else ts
    d = filter_normalized_direction(params, seed)
    return _line(arch, params, state, d, None, batches, norm, ts, "direction", f"seed {seed}", should_stop)
