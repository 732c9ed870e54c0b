"""What the Loss landscape panel asks its probe thread to compute, and the trajectory
it keeps. No Qt here: a :class:`LandscapeRequest` is built on the GUI thread from the
controls and the latest snapshot, and :func:`landscape_job` runs it on the panel's
``ProbeRunner`` thread (the numerics are ``convscope.probes.landscape*``).

A job computes the directions (random filter-normalised, or PCA of the kept
trajectory), projects the kept trajectory onto their plane, computes the two 1D lines
(reported at once, as :class:`LinesReady`: 2 × 25 points per batch, drawn while the
grid is still coarse), then the grid coarse to fine (each finished chunk reported as a
partial result).

The plane goes through the *current* weights (the latest snapshot), as Li et al.'s goes
through the final ones: the path is every kept snapshot's θ_t − θ_now, least squares on
the two directions, so it ends at the centre (0, 0) and is re-projected with every new
grid. On random directions the path mostly collapses near the centre: in millions of
dimensions two random directions are nearly orthogonal to any path (Li et al. §7), which
is what the PCA plane is for. ``coarse_only`` lets "follow training" stop after the
coarsest lattice when a newer snapshot is already waiting, so the view keeps up with
training instead of refining a grid that is already out of date.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convscope import events as ev
from convscope.probes.jobs import Job, ProbeContext

PATH_MARGIN = 0.25  # PCA plane: the path's extent plus this × span on each side
MAX_KEPT = 50  # trajectory snapshots kept; beyond that every other one is dropped
LINE_POINTS = 25  # points of each 1D line
BATCH_SEED = 0  # the evaluation batch is a fixed, seeded sample of the split
SPLITS = {"train": ("x_train", "y_train"), "val": ("x_val", "y_val")}


class TrajectoryBuffer:
    """A bounded, evenly thinned record of the snapshots seen while training.

    Every ``stride``-th snapshot is kept; when ``capacity`` are kept, every other one is
    dropped and the stride doubles, so the kept points always cover the whole run from
    the first snapshot, at most ``capacity`` of them. The latest snapshot is held apart
    (``points()`` ends with it) so the path reaches the current weights.
    """

    def __init__(self, capacity: int = MAX_KEPT) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be at least 2, got {capacity}")
        self.capacity = capacity
        self.clear()

    def clear(self) -> None:
        self.kept: list[tuple[int, Any]] = []  # (step, params)
        self.latest: tuple[int, Any] | None = None
        self.stride = 1
        self._seen = 0

    def add(self, step: int, params: Any) -> None:
        """Record a snapshot (a re-sent one at the same step only refreshes ``latest``)."""
        if self.latest is not None and step == self.latest[0]:
            self.latest = (step, params)
            return
        self.latest = (step, params)
        if self._seen % self.stride == 0:
            self.kept.append((step, params))
            if len(self.kept) > self.capacity - 1:  # one place stays free for ``latest``
                self.kept = self.kept[::2]
                self.stride *= 2
        self._seen += 1

    def points(self) -> list[tuple[int, Any]]:
        """Kept snapshots in order of step, ending with the latest."""
        pts = list(self.kept)
        if self.latest is not None and (not pts or pts[-1][0] != self.latest[0]):
            pts.append(self.latest)
        return pts

    def __len__(self) -> int:
        return len(self.points())


@dataclass(frozen=True)
class LandscapeRequest:
    """One computation: the plane, the grid, the batch, and the lines."""

    snapshot: ev.Snapshot  # the centre
    origin: ev.Snapshot | None  # the first snapshot seen: the 1D interpolation starts there
    kind: str  # "random" | "pca"
    seed: int
    resolution: int
    span: float
    split: str  # "train" | "val"
    x: np.ndarray  # the evaluation batch of ``split``
    y: np.ndarray
    line_batches: dict[str, tuple[np.ndarray, np.ndarray]]  # {"train": (x, y), "val": (x, y)}
    trajectory: tuple[tuple[int, Any], ...] = ()  # (step, params): the path, and PCA's data
    coarse_only: threading.Event = field(default_factory=threading.Event, compare=False)

    def axes(self, trajectory: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(alphas, betas). Random directions: ±span each. PCA directions are unit
        vectors in parameter space, so the plane is fitted to the projected path instead
        (``landscape.fit_axes``), with a margin of span × 25% of its extent."""
        from convscope.probes.landscape import fit_axes, grid_axis

        if self.kind != "pca" or trajectory is None or len(trajectory) == 0:
            axis = grid_axis(self.resolution, self.span)
            return axis, axis
        return fit_axes(trajectory, self.resolution, margin=PATH_MARGIN * self.span)


@dataclass(frozen=True)
class Plane:
    """The grid's plane in flat parameter space, to place later snapshots on it live."""

    center: np.ndarray  # flattened centre parameters
    pinv: np.ndarray  # (2, P): least-squares coordinates (α, β) = pinv @ (θ − centre)
    step: int

    def project(self, params: Any) -> np.ndarray:
        from convscope.probes.landscape import flatten_params

        flat = flatten_params(params)
        if flat.shape != self.center.shape:
            raise ValueError("the snapshot does not have the parameters of the plane")
        return self.pinv @ (flat - self.center)


@dataclass(frozen=True)
class LandscapeResult:
    grid: Any  # probes.landscape.LandscapeGrid
    lines: dict[str, Any]  # {"interpolation": LandscapeLine, "direction": LandscapeLine}
    plane: Plane | None  # where later snapshots fall (None: no path to draw)


@dataclass(frozen=True)
class LinesReady:
    """The 1D lines of ``request``, reported before its grid starts."""

    request: LandscapeRequest
    lines: dict[str, Any]  # as LandscapeResult.lines


@dataclass(frozen=True)
class GridProgress:
    """A partial grid for the GUI thread (``progress`` is a LandscapeProgress)."""

    request: LandscapeRequest
    alphas: np.ndarray
    betas: np.ndarray
    progress: Any
    coarse_done: bool  # the coarsest lattice is all in: the picture is whole, if coarse
    trajectory: np.ndarray | None  # the path on the new plane (None: fewer than 2 snapshots)


def describe_grid(g: Any) -> str:
    """The panel's heading for a finished grid: where, on what, and the loss at the centre."""
    if g.kind == "pca" and g.explained is not None:
        where = f"PCA of the path ({100 * g.explained[0]:.0f}% + {100 * g.explained[1]:.0f}% of its variance)"
    else:
        where = f"random directions (seeds {g.seeds[0]}, {g.seeds[1]})" if g.seeds else "random directions"
    split = "training" if g.split == "train" else "validation"
    loss = f"{g.center_loss:.3g}"
    return f"Step {g.step:,} · {where} · {g.n_examples} {split} images · loss here {loss} ({100 * g.center_accuracy:.0f}% right)"


def describe_request(r: LandscapeRequest) -> str:
    """The panel's heading while a grid is being computed."""
    where = "PCA of the path" if r.kind == "pca" else f"random directions (seeds {r.seed}, {r.seed + 1})"
    split = "training" if r.split == "train" else "validation"
    return f"Step {r.snapshot.step:,} · {where} · {len(r.x)} {split} images · computing…"


def line_json(line: Any) -> dict[str, Any]:
    """A LandscapeLine as plain JSON data (for the "extra" of a saved landscape)."""
    return {"kind": line.kind, "label": line.label, "ts": line.ts.tolist(),
            "loss": {k: v.tolist() for k, v in line.loss.items()},
            "accuracy": {k: v.tolist() for k, v in line.accuracy.items()}}  # fmt: skip


def split_size(dataset: Any, split: str) -> int:
    """How many images ``split`` ("train" | "val") of ``dataset`` holds."""
    return len(getattr(dataset, SPLITS[split][0]))


def eval_batch(dataset: Any, split: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, seeded sample of ``size`` examples of ``split`` (the whole split if
    smaller): sets stored sorted by class still give every class its share."""
    xs, ys = SPLITS[split]
    x, y = np.asarray(getattr(dataset, xs)), np.asarray(getattr(dataset, ys))
    if len(x) == 0:
        raise ValueError(f"the data set has no {'training' if split == 'train' else 'validation'} images")
    if size >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(BATCH_SEED).choice(len(x), size, replace=False))
    return x[idx], y[idx]


@functools.cache
def paced_evaluator() -> type:
    """``LandscapeEvaluator`` whose points are read back before it returns.

    ``run_grid`` keeps one chunk in flight (JAX dispatches asynchronously) and calls
    ``should_stop`` meanwhile; the runner's CPU-share pause happens in ``should_stop``,
    so the chunk in flight would compute right through the pause and the share would not
    hold (measured on a loaded 2-core machine at a 25% share: 45% of the grid's
    full-speed CPU time, 33% paced, Python and drawing included). Reading each point
    back keeps the computing inside the time the runner counts, at the cost of the
    overlap of one dispatch with the previous point.
    """
    from convscope.probes.landscape_eval import LandscapeEvaluator

    class PacedEvaluator(LandscapeEvaluator):
        def points(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            lo, ac = super().points(a, b)
            return np.asarray(lo), np.asarray(ac)

    return PacedEvaluator


def _minus(a: Any, b: Any) -> dict[str, dict[str, np.ndarray]]:
    return {layer: {k: np.asarray(v, np.float32) - np.asarray(b[layer][k], np.float32) for k, v in leaves.items()}
            for layer, leaves in a.items()}  # fmt: skip


def paced_line(
    snap: ev.Snapshot,
    center: Any,
    state: Any,
    direction: Any,
    dstate: Any,
    batches: dict,
    ts: np.ndarray,
    kind: str,
    label: str,
    should_stop: Callable[[], bool],
) -> Any:
    """``landscape_eval.interpolate_line`` / ``direction_line`` on the paced evaluator:
    loss along θ(t) = centre + t·direction (BN statistics + t·dstate) per batch."""
    from convscope.probes.landscape import Directions
    from convscope.probes.landscape_eval import LandscapeLine

    t0 = time.perf_counter()
    zero = {
        layer: {k: np.zeros(np.shape(v), np.float32) for k, v in leaves.items()}
        for layer, leaves in center.items()
    }
    directions = Directions(direction, zero, "random")
    losses, accuracies = {}, {}
    for name, (x, y) in batches.items():
        evaluator = paced_evaluator()(snap.arch, center, state, x, y, snap.norm, directions, dstate=dstate)
        loss, acc, _ = evaluator.run(ts, [0.0], should_stop=should_stop)
        losses[name], accuracies[name] = loss[0], acc[0]
    return LandscapeLine(ts, losses, accuracies, kind, label, time.perf_counter() - t0)


def landscape_job(request: LandscapeRequest) -> Job:
    """The job for ``ProbeRunner.submit``: directions, grid (progress reported), lines."""

    def job(ctx: ProbeContext) -> LandscapeResult | None:
        from convscope.probes import landscape as ls

        snap = request.snapshot
        plane = None
        trajectory = steps = None
        params = [p for _s, p in request.trajectory]
        if request.kind == "pca":
            dirs = ls.pca_directions(params, snap.params)
        else:
            dirs = ls.random_directions(snap.params, request.seed)
        if len(params) >= 2:
            trajectory = ls.project_trajectory(params, snap.params, dirs.d1, dirs.d2)
            steps = np.array([s for s, _p in request.trajectory], np.int64)
            basis = np.stack([ls.flatten_params(dirs.d1), ls.flatten_params(dirs.d2)], axis=1)
            plane = Plane(ls.flatten_params(snap.params), np.linalg.pinv(basis), snap.step)
        if ctx.should_stop():
            return None
        lines = {}
        # The lines first: they are a few dozen points, the grid is hundreds. Newer weights
        # already waiting (follow training): coarser lines, like the grid.
        n = LINE_POINTS if not request.coarse_only.is_set() else LINE_POINTS // 2 + 1
        origin = request.origin
        if origin is not None and origin.step != snap.step:
            lines["interpolation"] = paced_line(
                snap, origin.params, origin.state, _minus(snap.params, origin.params),
                _minus(snap.state, origin.state), request.line_batches, np.linspace(-0.25, 1.25, n),
                "interpolation", f"step {origin.step:,} → step {snap.step:,}", ctx.should_stop,
            )  # fmt: skip
        if ctx.cancelled():
            return None
        reach = request.span if request.kind == "random" else 1.0  # PCA: span is the path's margin
        lines["direction"] = paced_line(
            snap, snap.params, snap.state, ls.filter_normalized_direction(snap.params, request.seed), None,
            request.line_batches, np.linspace(-reach, reach, n), "direction", f"seed {request.seed}",
            ctx.should_stop,
        )  # fmt: skip
        if ctx.cancelled():
            return None
        ctx.report(LinesReady(request, lines))
        alphas, betas = request.axes(trajectory)
        n_coarse = len(ls.coarse_to_fine_order(len(betas), len(alphas))[0][1])
        coarse_done = [False]

        def on_progress(p: Any) -> None:
            coarse_done[0] = p.done >= n_coarse
            ctx.report(GridProgress(request, alphas, betas, p, coarse_done[0], trajectory))

        def stop_grid() -> bool:
            # Follow mode: once the coarse lattice is in, a newer snapshot takes over.
            return ctx.should_stop() or (request.coarse_only.is_set() and coarse_done[0])

        evaluator = paced_evaluator()(
            snap.arch, snap.params, snap.state, request.x, request.y, snap.norm, dirs
        )
        grid = evaluator.grid(alphas, betas, should_stop=stop_grid, on_progress=on_progress,
                              split=request.split, step=snap.step, trajectory=trajectory,
                              trajectory_steps=steps)  # fmt: skip
        if ctx.cancelled():
            return None
        return LandscapeResult(grid, lines, plane)

    return job
