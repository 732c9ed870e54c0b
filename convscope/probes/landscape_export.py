"""``convscope landscape``: a checkpoint's loss landscape written as .npz and .png.

Everything the command does beyond parsing its arguments lives here, so cli.py stays
wiring. Bad input raises LandscapeError (one line, the CLI exits with status 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convscope.probes.landscape import LandscapeError, LandscapeGrid, grid_axis

MAX_EXAMPLES = 10_000


def select_examples(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples drawn without replacement with ``seed`` (all of them if fewer),
    in their original order."""
    if n >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    return x[idx], y[idx]


def export_landscape(checkpoint: str | os.PathLike, out: str | os.PathLike, *, data: str | None = None,
                     resolution: int = 21, span: float = 1.0, examples: int = 256, split: str = "train",
                     seed: int = 0) -> tuple[LandscapeGrid, str]:
    """Compute the landscape of ``checkpoint`` on ``examples`` images of ``split`` and write
    ``out``/landscape.npz and ``out``/landscape.png. Returns (grid, one summary line)."""
    from convscope.data import DataError
    from convscope.data.dataset import load_dataset
    from convscope.probes.landscape_eval import compute_landscape
    from convscope.probes.landscape_io import LandscapeIOError, save_landscape_npz, write_landscape_png
    from convscope.train.checkpoint import CheckpointError, load_checkpoint
    from convscope.train.loop import channel_stats

    grid_axis(resolution, span)  # validates resolution and span before any work
    if not 1 <= examples <= MAX_EXAMPLES:
        raise LandscapeError(f"--examples must be in [1, {MAX_EXAMPLES}], got {examples}")
    if split not in ("train", "val"):
        raise LandscapeError(f"--split must be 'train' or 'val', got {split!r}")
    if not 0 <= seed <= 2**31 - 2:
        raise LandscapeError(f"--seed must be an integer in [0, {2**31 - 2}], got {seed}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LandscapeError(f"--out {out}: exists and is not a directory")
    try:
        ckpt = load_checkpoint(checkpoint)
        dataset = load_dataset(data)
    except (CheckpointError, DataError) as e:
        raise LandscapeError(str(e)) from e
    arch = ckpt.arch
    if tuple(dataset.image_shape) != tuple(arch.input_shape) or dataset.num_classes != arch.num_classes:
        raise LandscapeError(
            f"the checkpoint's model takes {'×'.join(map(str, arch.input_shape))} images in "
            f"{arch.num_classes} classes; {dataset.summary()}")
    xs, ys = (dataset.x_train, dataset.y_train) if split == "train" else (dataset.x_val, dataset.y_val)
    x, y = select_examples(xs, ys, examples, seed)
    # The loop standardises with the training set's statistics when a checkpoint has none.
    norm = ckpt.norm if ckpt.norm is not None else channel_stats(dataset.x_train)
    grid = compute_landscape(arch, ckpt.params, ckpt.state, x, y, norm, resolution=resolution,
                             span=float(span), seed=seed, split=split, step=ckpt.step)
    extra = {"checkpoint": str(checkpoint), "data": dataset.summary(), "arch": arch.to_dict()}
    try:
        out.mkdir(parents=True, exist_ok=True)
        npz = save_landscape_npz(out / "landscape.npz", grid, extra=extra)
        png = write_landscape_png(out / "landscape.png", grid)
    except (OSError, LandscapeIOError) as e:
        raise LandscapeError(str(e) if isinstance(e, LandscapeIOError) else f"--out {out}: cannot write ({e})") from e
    finite = grid.loss[np.isfinite(grid.loss)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (float("nan"), float("nan"))
    line = (f"landscape {resolution}×{resolution} (±{span:g}, random filter-normalised directions, seeds "
            f"{grid.seeds[0]}/{grid.seeds[1]}) on {grid.n_examples} {split} examples at step {grid.step}: "
            f"centre loss {grid.center_loss:.4f} (acc {grid.center_accuracy:.3f}), loss {lo:.4g}–{hi:.4g}; "
            f"{grid.seconds:.1f} s ({grid.examples_per_second:,.0f} ex/s); wrote {npz} and {png}")
    return grid, line
