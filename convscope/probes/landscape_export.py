"""``convscope landscape``: a checkpoint's loss landscape written as .npz, .png and .svg
(and, with ``line="direction"``, the loss along the first random direction for the
training and validation batches, into the .npz and landscape_line.png).

PCA directions are not offered: they are the principal components of the training
trajectory, and a checkpoint holds one point of it (the panel keeps the trajectory).

Everything the command does beyond parsing its arguments lives here, so cli.py stays
wiring. Bad input raises LandscapeError (one line, the CLI exits with status 2).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from convscope.probes.landscape import LandscapeError, LandscapeGrid, grid_axis

MAX_EXAMPLES = 10_000
RESOLUTIONS = (3, 101)  # odd values only, so the checkpoint's weights are the centre grid point
LINES = ("direction",)
DIRECTIONS = ("random", "pca")
PCA_REFUSED = ("--directions pca needs the training trajectory (many snapshots of the weights); a checkpoint "
               "holds one, so use random directions here, or the GUI's Loss landscape panel while training")


def select_examples(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples drawn without replacement with ``seed`` (all of them if fewer),
    in their original order."""
    if n >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    return x[idx], y[idx]


def export_landscape(checkpoint: str | os.PathLike, out: str | os.PathLike, *, data: str | None = None,
                     resolution: int = 21, span: float = 1.0, examples: int = 256, split: str = "train",
                     seed: int = 0, log: bool = True, line: str | None = None,
                     directions: str = "random") -> tuple[LandscapeGrid, str]:
    """Compute the landscape of ``checkpoint`` on ``examples`` images of ``split`` and write
    ``out``/landscape.npz, landscape.png and landscape.svg (colours of log₁₀ loss if
    ``log``). ``line="direction"``: also the loss along direction 1 (seed ``seed``, the
    grid's α axis) on ``examples`` images of each non-empty split, into the .npz and
    ``out``/landscape_line.png. Returns (grid, one summary line)."""
    from convscope.data import DataError
    from convscope.probes.landscape_eval import compute_landscape, direction_line
    from convscope.probes.landscape_io import (
        LandscapeIOError,
        save_landscape_npz,
        write_landscape_png,
        write_line_png,
    )
    from convscope.probes.landscape_svg import write_landscape_svg
    from convscope.train.augment import channel_stats
    from convscope.train.checkpoint import CheckpointError, load_checkpoint
    from convscope.train.trained_on import load_training_data

    lo, hi = RESOLUTIONS
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not lo <= resolution <= hi \
            or resolution % 2 == 0:
        raise LandscapeError(f"--resolution must be an odd integer in [{lo}, {hi}] (so the checkpoint's weights "
                             f"are the centre grid point), got {resolution!r}")
    if directions not in DIRECTIONS:
        raise LandscapeError(f"--directions must be one of {', '.join(DIRECTIONS)}, got {directions!r}")
    if directions == "pca":
        raise LandscapeError(PCA_REFUSED)
    if line is not None and line not in LINES:
        raise LandscapeError(f"--line must be one of {', '.join(LINES)}, got {line!r}")
    grid_axis(resolution, span)  # validates span before any work
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
        # The set it was trained on, split as it was trained: "val" is never training images.
        dataset = load_training_data(ckpt, data).dataset
    except (CheckpointError, DataError, ValueError) as e:
        raise LandscapeError(str(e)) from e
    arch = ckpt.arch
    if tuple(dataset.image_shape) != tuple(arch.input_shape) or dataset.num_classes != arch.num_classes:
        raise LandscapeError(
            f"the checkpoint's model takes {'×'.join(map(str, arch.input_shape))} images in "
            f"{arch.num_classes} classes; {dataset.summary()}")
    splits = {"train": (dataset.x_train, dataset.y_train), "val": (dataset.x_val, dataset.y_val)}
    if len(splits[split][0]) == 0:
        raise LandscapeError(f"{dataset.summary()}: no {'training' if split == 'train' else 'validation'} images")
    x, y = select_examples(*splits[split], examples, seed)
    # The loop standardises with the training set's statistics when a checkpoint has none.
    norm = ckpt.norm if ckpt.norm is not None else channel_stats(dataset.x_train)
    grid = compute_landscape(arch, ckpt.params, ckpt.state, x, y, norm, resolution=resolution,
                             span=float(span), seed=seed, split=split, step=ckpt.step)
    one_d = None
    if line == "direction":  # the grid's α axis, so its centre row is this line on ``split``
        batches = {name: select_examples(xs, ys, examples, seed) for name, (xs, ys) in splits.items() if len(xs)}
        one_d = direction_line(arch, ckpt.params, ckpt.state, batches, norm, seed=seed, ts=grid.alphas)
    extra = {"checkpoint": str(checkpoint), "data": dataset.summary(), "arch": arch.to_dict(),
             "log_colours": bool(log)}  # fmt: skip
    title = f"{Path(checkpoint).name}, step {ckpt.step}: {grid.n_examples} {split} images, seeds {seed}, {seed + 1}"
    written = []
    try:
        out.mkdir(parents=True, exist_ok=True)
        npz = save_landscape_npz(out / "landscape.npz", grid, one_d, extra=extra)
        written += [npz, write_landscape_png(out / "landscape.png", grid, log=log),
                    write_landscape_svg(out / "landscape.svg", grid, log=log, title=title)]  # fmt: skip
        if one_d is not None:
            written.append(write_line_png(out / "landscape_line.png", one_d))
    except (OSError, LandscapeIOError) as e:
        raise LandscapeError(str(e) if isinstance(e, LandscapeIOError) else f"--out {out}: cannot write ({e})") from e
    finite = grid.loss[np.isfinite(grid.loss)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (float("nan"), float("nan"))
    line = (f"landscape {resolution}×{resolution} (±{span:g}, random filter-normalised directions, seeds "
            f"{grid.seeds[0]}/{grid.seeds[1]}) on {grid.n_examples} {split} examples at step {grid.step}: "
            f"centre loss {grid.center_loss:.4f} (acc {grid.center_accuracy:.3f}), loss {lo:.4g}–{hi:.4g}; "
            f"{grid.seconds:.1f} s ({grid.examples_per_second:,.0f} ex/s); wrote "
            f"{', '.join(p.name for p in written[:-1])} and {written[-1].name} to {out}")
    return grid, line
