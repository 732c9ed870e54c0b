"""The Feature evolution panel's job (ui/panels/evolution.py): on the panel's ProbeRunner,
read the run's snapshots of the model shown and compute ``probes.evolution`` over them,
with the grid's picture made there too (off the GUI thread)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convscope.probes import evolution_export as exp
from convscope.probes.evolution import Evolution, evolution
from convscope.ui.probe_runner import Cancelled, ProbeContext


@dataclass(frozen=True)
class Request:
    """What one Compute asked for (the tag of its job)."""

    generation: int  # the session's model generation when asked
    run_dir: Path
    layer: str
    channels: tuple[int, ...]
    synthetic: bool


@dataclass(frozen=True)
class Grid:
    """A computed grid: the numbers, its picture (margins off) and what was left out."""

    request: Request
    ev: Evolution
    picture: np.ndarray  # (H, W, 3) uint8: exp.grid_image without its label margins, see framed()
    cell_w: int
    notes: str  # the snapshots left out, and why ("" if none)


def framed(cells: np.ndarray, cell_w: int) -> np.ndarray:
    """``cells`` (exp.grid_image without its margins) with the gaps between cells grey
    and those between a cell's pictures light grey: white gaps melt into white patches
    once the grid is drawn smaller than its pixels."""
    out = cells.copy()
    xs, ys = np.arange(out.shape[1]), np.arange(out.shape[0])
    in_col = xs % (cell_w + exp.GAP)
    between_cells = (in_col >= cell_w)[None, :] | (ys % (exp.CELL + exp.GAP) >= exp.CELL)[:, None]
    between_pictures = (in_col < cell_w) & (in_col % (exp.CELL + 2) >= exp.CELL)
    out[np.broadcast_to(between_pictures[None, :], out.shape[:2])] = 200
    out[between_cells] = 120
    return out


def evolution_job(req: Request, paths: dict[int, Path], arch: Any, images: np.ndarray) -> Any:
    """The worker's job: read the run's snapshots of ``arch``, compute the grid; a Grid,
    or a message saying why not (a str)."""
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    def job(ctx: ProbeContext) -> Grid | str | None:
        snapshots, unreadable, other = [], 0, 0
        for read, path in enumerate(paths.values(), 1):
            ctx.check()
            ctx.report((read - 1, len(paths), f"reading {read} of {len(paths)}"))
            try:
                ckpt = load_checkpoint(path)
            except CheckpointError:
                unreadable += 1
                continue
            if ckpt.arch != arch:
                other += 1
                continue
            snapshots.append(ckpt)
        if not snapshots:
            if other:
                return (f"The snapshots of {req.run_dir.name} are of another architecture than the model shown, "
                        "so its layers do not apply; the timeline moves to this model's run once that has "
                        "snapshots (train a step), then Compute.")
            return f"None of the run's {len(paths)} snapshots can be read."
        ev = evolution(snapshots, req.layer, images, channels=req.channels, synthetic=req.synthetic,
                       progress=lambda i, total: ctx.report((i, total, f"snapshot {i} of {total}")),
                       should_stop=ctx.should_stop)
        if ev is None:
            raise Cancelled
        grid, cell_w = exp.grid_image(ev)
        grid = framed(grid[exp.TOP:, exp.LEFT:], cell_w)
        notes = [f"{k} snapshot{'s' * (k > 1)} {why} left out" for k, why in
                 ((unreadable, "that cannot be read"), (other, "of another architecture")) if k]
        return Grid(req, ev, grid, cell_w, "; ".join(notes))

    return job
