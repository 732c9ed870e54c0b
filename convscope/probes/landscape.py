"""The loss landscape (Li et al. 2018, "Visualizing the Loss Landscape of Neural Nets"):
directions, trajectory projection, and the grid engine. NumPy only.

The model-specific evaluator that feeds the engine lives in ``landscape_eval`` (JAX);
saving, loading and drawing in ``landscape_io``. The engine takes the loss as a plain
function of the grid coordinates, so it is tested on an analytic surface.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope.viz.landscape_display import lattice_indices  # noqa: F401 - also this module's API

HostParams = dict[str, dict[str, np.ndarray]]
PointFn = Callable[[np.ndarray, np.ndarray], tuple[Any, Any]]

KINDS = ("random", "pca")
ZERO_LEAVES = ("b", "gamma", "beta")  # zeroed in a direction, as in the paper
LEVEL_STRIDES = (4, 2, 1)  # coarse-to-fine lattices of the grid


class LandscapeError(ValueError):
    """Bad input to a landscape computation; the message is one readable line."""


# ------------------------------------------------------------------ directions
def _leaves(params: Mapping[str, Mapping[str, Any]]) -> Iterable[tuple[str, str, np.ndarray]]:
    """(layer, name, array) in a fixed order: sorted layers, sorted names."""
    for layer in sorted(params):
        for name in sorted(params[layer]):
            yield layer, name, np.asarray(params[layer][name])


def flatten_params(params: Mapping[str, Mapping[str, Any]]) -> np.ndarray:
    """All leaves as one float64 vector (sorted layer, then sorted name)."""
    parts = [a.astype(np.float64).ravel() for _, _, a in _leaves(params)]
    return np.concatenate(parts) if parts else np.zeros(0)


def unflatten_params(vec: np.ndarray, like: Mapping[str, Mapping[str, Any]]) -> HostParams:
    """Inverse of :func:`flatten_params`: float32 arrays shaped like ``like``."""
    out: HostParams = {}
    pos = 0
    for layer, name, a in _leaves(like):
        out.setdefault(layer, {})[name] = np.asarray(vec[pos : pos + a.size], np.float32).reshape(a.shape)
        pos += a.size
    if pos != len(vec):
        raise LandscapeError(f"vector has {len(vec)} entries, the parameters {pos}")
    return out


def filter_normalized_direction(params: Mapping[str, Mapping[str, Any]], seed: int) -> HostParams:
    """A Gaussian direction whose every filter has the norm of the weights' filter.

    A filter is an output channel of a conv kernel (HWIO: ``w[..., k]``) or an output
    unit of a dense kernel (``w[:, k]``): all axes but the last. Biases and batch-norm
    parameters get zero, as in the paper. Draws in the fixed leaf order from ``seed``.
    """
    rng = np.random.default_rng(seed)
    out: HostParams = {}
    for layer, name, w in _leaves(params):
        w = w.astype(np.float32)
        if name in ZERO_LEAVES or w.ndim < 2:
            d = np.zeros_like(w)
        else:
            d = rng.standard_normal(w.shape).astype(np.float32)
            axes = tuple(range(w.ndim - 1))
            w_norm = np.sqrt(np.sum(np.square(w, dtype=np.float64), axis=axes))
            d_norm = np.sqrt(np.sum(np.square(d, dtype=np.float64), axis=axes))
            scale = np.divide(w_norm, d_norm, out=np.zeros_like(w_norm), where=d_norm > 0)
            d = (d * scale).astype(np.float32)
        out.setdefault(layer, {})[name] = d
    return out


@dataclass(frozen=True)
class Directions:
    """The two directions spanning the plane, and where they came from."""

    d1: HostParams
    d2: HostParams
    kind: str  # "random" | "pca"
    seeds: tuple[int, int] | None = None  # random: the seeds of d1 and d2
    explained: tuple[float, float] | None = None  # pca: explained variance ratios

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")


def random_directions(params: Mapping[str, Mapping[str, Any]], seed: int) -> Directions:
    """Two filter-normalised directions drawn from ``seed`` and ``seed + 1``."""
    return Directions(filter_normalized_direction(params, seed), filter_normalized_direction(params, seed + 1),
                      "random", seeds=(int(seed), int(seed) + 1))


def _trajectory_matrix(trajectory: Sequence[Mapping], center: Mapping) -> np.ndarray:
    c = flatten_params(center)
    rows = [flatten_params(p) - c for p in trajectory]
    if any(len(r) != len(c) for r in rows):
        raise LandscapeError("trajectory snapshots do not have the shape of the centre parameters")
    return np.stack(rows) if rows else np.zeros((0, len(c)))


def pca_directions(trajectory: Sequence[Mapping], center: Mapping) -> Directions:
    """The first two principal components of the trajectory relative to ``center``.

    Rows θ_t − centre, mean-centred (standard PCA, as Li et al.'s code does with
    sklearn); unit vectors in the flattened parameter space, sign fixed so that each
    one's largest-magnitude entry is positive; ``explained`` = s_i² / Σ s².
    """
    m = _trajectory_matrix(trajectory, center)
    if len(m) < 2:
        raise LandscapeError(f"PCA directions need at least 2 trajectory snapshots, got {len(m)}")
    m = m - m.mean(axis=0)
    _, s, vt = np.linalg.svd(m, full_matrices=False)
    total = float(np.sum(s**2))
    if total == 0.0 or len(s) < 2 or s[1] == 0.0:
        raise LandscapeError("the trajectory does not span two directions (snapshots identical?)")
    comps = []
    for v in vt[:2]:
        v = v * (1.0 if v[np.argmax(np.abs(v))] >= 0 else -1.0)
        comps.append(unflatten_params(v, center))
    ratios = (float(s[0] ** 2 / total), float(s[1] ** 2 / total))
    return Directions(comps[0], comps[1], "pca", explained=ratios)


def project_trajectory(trajectory: Sequence[Mapping], center: Mapping, d1: Mapping, d2: Mapping) -> np.ndarray:
    """(T, 2) least-squares coordinates (α, β) of each θ_t − centre in the plane of d1, d2.

    One snapshot at a time through a QR factorisation of the (P, 2) basis, so no
    (T, P) matrix is built (P is every weight of the model); the same minimum-norm
    solution as ``np.linalg.lstsq(basis, θ_t − centre)``, also for directions that are
    not orthogonal (random ones) or not independent.
    """
    c = flatten_params(center)
    basis = np.stack([flatten_params(d1), flatten_params(d2)], axis=1)
    if basis.shape[0] != len(c):
        raise LandscapeError("directions do not have the shape of the centre parameters")
    q, r = np.linalg.qr(basis)
    rows = []
    for p in trajectory:
        delta = flatten_params(p)
        if len(delta) != len(c):
            raise LandscapeError("trajectory snapshots do not have the shape of the centre parameters")
        rows.append(q.T @ (delta - c))
    if not rows:
        return np.zeros((0, 2))
    coords, *_ = np.linalg.lstsq(r, np.stack(rows, axis=1), rcond=None)
    return coords.T


# ------------------------------------------------------------------ grid engine
def grid_axis(resolution: int, span: float) -> np.ndarray:
    """``resolution`` evenly spaced coefficients from −span to +span."""
    if not isinstance(resolution, int) or isinstance(resolution, bool) or not 2 <= resolution <= 201:
        raise LandscapeError(f"resolution must be an integer in [2, 201], got {resolution!r}")
    if not (isinstance(span, (int, float)) and math.isfinite(span) and span > 0):
        raise LandscapeError(f"span must be a positive number, got {span!r}")
    return np.linspace(-span, span, resolution)


def fit_axes(coords: Any, resolution: int, margin: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(alphas, betas) covering the centre (0, 0) and every (α, β) in ``coords`` with a
    ``margin`` (fraction of the extent) on each side, ``resolution`` points per axis."""
    c = np.asarray(coords, np.float64).reshape(-1, 2)
    if not np.all(np.isfinite(c)):
        raise LandscapeError("trajectory coordinates must be finite")
    axes = []
    for k in range(2):
        lo, hi = min(0.0, float(c[:, k].min(initial=0.0))), max(0.0, float(c[:, k].max(initial=0.0)))
        pad = margin * (hi - lo) if hi > lo else 1.0
        axes.append(np.linspace(lo - pad, hi + pad, resolution))
    grid_axis(resolution, 1.0)  # the same resolution rule as a square grid
    return axes[0], axes[1]


def coarse_to_fine_order(n_rows: int, n_cols: int) -> list[tuple[int, np.ndarray]]:
    """[(stride, (P, 2) array of (row, col))]: every 4th point, then every 2nd, then all.

    Each point appears once, in the coarsest lattice holding it; row-major in a level.
    """
    seen = np.zeros((n_rows, n_cols), bool)
    levels = []
    for stride in LEVEL_STRIDES:
        rows, cols = lattice_indices(n_rows, stride), lattice_indices(n_cols, stride)
        ii, jj = np.meshgrid(rows, cols, indexing="ij")
        pts = np.stack([ii.ravel(), jj.ravel()], axis=1)
        pts = pts[~seen[pts[:, 0], pts[:, 1]]]
        seen[pts[:, 0], pts[:, 1]] = True
        if len(pts):
            levels.append((stride, pts))
    return levels


@dataclass(frozen=True)
class LandscapeProgress:
    """A partial grid: NaN where not computed yet. Arrays are copies the caller may keep."""

    done: int
    total: int
    level: int  # stride of the lattice being filled: 4, 2, then 1
    loss: np.ndarray  # (len(betas), len(alphas))
    accuracy: np.ndarray


def _axis(name: str, values: Any) -> np.ndarray:
    a = np.asarray(values, np.float64)
    if a.ndim != 1 or len(a) < 1 or not np.all(np.isfinite(a)):
        raise LandscapeError(f"{name} must be a non-empty 1-D array of finite numbers")
    return a


def run_grid(
    point_fn: PointFn,
    alphas: Any,
    betas: Any,
    *,
    batch: int = 1,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[LandscapeProgress], None] | None = None,
    chunk_seconds: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Evaluate ``point_fn`` at every (alphas[j], betas[i]), coarse to fine.

    ``point_fn(a, b)`` takes two (batch,) float32 arrays and returns (loss, accuracy),
    each (batch,); they may be JAX arrays still being computed: points are dispatched in
    chunks of about ``chunk_seconds`` of work with one chunk in flight, and only then
    read back. ``should_stop`` is checked before each chunk, ``on_progress`` is called
    after each. Returns (loss, accuracy, points done); NaN where not computed.
    """
    alphas, betas = _axis("alphas", alphas), _axis("betas", betas)
    if batch < 1:
        raise LandscapeError(f"batch must be at least 1, got {batch}")
    loss = np.full((len(betas), len(alphas)), np.nan)
    acc = np.full_like(loss, np.nan)
    levels = coarse_to_fine_order(len(betas), len(alphas))
    total = sum(len(p) for _, p in levels)
    done = 0
    n_calls = 1  # the first chunk is one call: it times the rest (and may compile)
    inflight: tuple[int, np.ndarray, list] | None = None
    t_last = time.perf_counter()

    def dispatch(pts: np.ndarray) -> list:
        calls = []
        for k in range(0, len(pts), batch):
            sub = pts[k : k + batch]
            pad = np.concatenate([sub, np.repeat(sub[-1:], batch - len(sub), axis=0)])
            a = alphas[pad[:, 1]].astype(np.float32)
            b = betas[pad[:, 0]].astype(np.float32)
            calls.append((len(sub), point_fn(a, b)))
        return calls

    def collect(level: int, pts: np.ndarray, calls: list) -> None:
        nonlocal done, t_last, n_calls
        values = [(m, np.asarray(lo, np.float64).reshape(-1), np.asarray(ac, np.float64).reshape(-1))
                  for m, (lo, ac) in calls]
        lo = np.concatenate([v[1][: v[0]] for v in values])
        ac = np.concatenate([v[2][: v[0]] for v in values])
        loss[pts[:, 0], pts[:, 1]] = lo
        acc[pts[:, 0], pts[:, 1]] = ac
        done += len(pts)
        now = time.perf_counter()
        per_call = (now - t_last) / max(len(calls), 1)
        t_last = now
        n_calls = int(max(1, min(chunk_seconds / max(per_call, 1e-6), 256)))
        if on_progress is not None:
            on_progress(LandscapeProgress(done, total, level, loss.copy(), acc.copy()))

    stopped = False
    for level, pts in levels:
        pos = 0
        while pos < len(pts) and not stopped:
            stopped = should_stop is not None and bool(should_stop())
            if stopped:
                break
            chunk = pts[pos : pos + n_calls * batch]
            pos += len(chunk)
            calls = dispatch(chunk)  # queued behind the chunk in flight, then read that one
            if inflight is not None:
                collect(*inflight)
            inflight = (level, chunk, calls)
        if stopped:
            break
    if inflight is not None:
        collect(*inflight)
    return loss, acc, done


# ------------------------------------------------------------------ results
def _check_count(name: str, value: Any, lo: int) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")


@dataclass(frozen=True)
class LandscapeGrid:
    """Loss and accuracy on the plane θ + α·d1 + β·d2; ``loss[i, j]`` is at (alphas[j], betas[i])."""

    alphas: np.ndarray  # (A,)
    betas: np.ndarray  # (B,)
    loss: np.ndarray  # (B, A), NaN where not computed (cancelled)
    accuracy: np.ndarray  # (B, A)
    center_loss: float  # the plain loss at the current weights
    center_accuracy: float
    kind: str  # "random" | "pca"
    seeds: tuple[int, int] | None
    explained: tuple[float, float] | None
    n_examples: int
    split: str  # "train" | "val" | "" (unknown)
    step: int  # training step of the centre weights
    seconds: float  # wall time of the grid
    trajectory: np.ndarray | None = None  # (T, 2) (α, β) of trajectory snapshots
    trajectory_steps: np.ndarray | None = None  # (T,) their steps

    def __post_init__(self) -> None:
        for name in ("alphas", "betas"):
            a = np.asarray(getattr(self, name), np.float64)
            if a.ndim != 1 or len(a) < 1 or not np.all(np.isfinite(a)):
                raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers")
            object.__setattr__(self, name, a)
        shape = (len(self.betas), len(self.alphas))
        for name in ("loss", "accuracy"):
            a = np.asarray(getattr(self, name), np.float64)
            if a.shape != shape:
                raise ValueError(f"{name} must have shape {shape} (len(betas), len(alphas)), got {a.shape}")
            object.__setattr__(self, name, a)
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("seeds", "explained"):
            v = getattr(self, name)
            if v is not None:
                if len(v) != 2:
                    raise ValueError(f"{name} must be a pair or None, got {v!r}")
                object.__setattr__(self, name, tuple(int(x) if name == "seeds" else float(x) for x in v))
        _check_count("n_examples", self.n_examples, 1)
        _check_count("step", self.step, 0)
        if self.split not in ("train", "val", ""):
            raise ValueError(f"split must be 'train', 'val' or '', got {self.split!r}")
        if not (math.isfinite(self.seconds) and self.seconds >= 0):
            raise ValueError(f"seconds must be a finite number >= 0, got {self.seconds!r}")
        if self.trajectory is not None:
            t = np.asarray(self.trajectory, np.float64)
            if t.ndim != 2 or t.shape[1] != 2:
                raise ValueError(f"trajectory must have shape (T, 2), got {t.shape}")
            object.__setattr__(self, "trajectory", t)
            steps = self.trajectory_steps
            if steps is not None:
                steps = np.asarray(steps, np.int64)
                if steps.shape != (len(t),):
                    raise ValueError(f"trajectory_steps must have shape ({len(t)},), got {steps.shape}")
                object.__setattr__(self, "trajectory_steps", steps)
        elif self.trajectory_steps is not None:
            raise ValueError("trajectory_steps given without a trajectory")

    @property
    def n_points(self) -> int:
        return int(self.loss.size)

    @property
    def n_done(self) -> int:
        return int(np.count_nonzero(~np.isnan(self.accuracy)))

    @property
    def complete(self) -> bool:
        return self.n_done == self.n_points

    @property
    def examples_per_second(self) -> float:
        """Forward passes per second: points done × examples / seconds."""
        return self.n_done * self.n_examples / self.seconds if self.seconds > 0 else float("nan")
