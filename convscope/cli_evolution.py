"""``convscope evolution RUN --layer L [--channels 16] --out DIR``: the feature-evolution
grid of a run (probes/evolution.py) over its snapshots, as PNG, SVG, .npz and JSON.
cli.py parses the arguments and turns ``UsageError`` into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from convscope.cli import UsageError


def _images(cfg: dict[str, Any], arch: Any) -> tuple[Any, str]:
    """The run's validation images (as --resume loads its data), else the built-in digits'."""
    import numpy as np

    from convscope.data.dataset import load_dataset
    from convscope.data.images import fit_image
    from convscope.probes.evolution import SEARCH_IMAGES as MAX_IMAGES
    from convscope.runs.tensorboard import run_validation

    ds, why = run_validation(cfg, arch)
    if ds is not None:
        return np.asarray(ds.x_val[:MAX_IMAGES]), f"{ds.name} validation images"
    digits = load_dataset(None).x_val[:MAX_IMAGES]
    print(f"convscope: {why}; searching the built-in digits' validation images instead", file=sys.stderr)
    return np.stack([fit_image(x, tuple(arch.input_shape)) for x in digits]), "built-in digits"


def cmd_evolution(args: argparse.Namespace) -> int:
    from convscope.runs.reader import checkpoint_steps
    from convscope.runs.resume import ResumeError, read_run_config

    run = Path(args.evolution_run)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    if args.channels < 1:
        raise UsageError(f"--channels must be at least 1, got {args.channels}")
    try:
        cfg = read_run_config(run)
    except ResumeError as e:
        raise UsageError(f"{run}: {e}") from e
    steps = checkpoint_steps(run)
    if not steps:
        raise UsageError(f"{run}: the run has no snapshots (checkpoints/step-*.npz) yet")

    from convscope.probes.evolution import evolution
    from convscope.probes.evolution_export import write
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    snapshots = []
    for step, path in steps.items():
        try:
            snapshots.append(load_checkpoint(path))
        except CheckpointError as e:
            print(f"convscope: snapshot of step {step} left out: {e}", file=sys.stderr)
    if not snapshots:
        raise UsageError(f"{run}: none of its snapshots can be read")
    last_arch = snapshots[-1].arch
    kept = [s for s in snapshots if s.arch == last_arch]  # the model the run ended with
    if len(kept) < len(snapshots):
        print(f"convscope: {len(snapshots) - len(kept)} snapshot(s) of an earlier model left out", file=sys.stderr)
    from convscope.probes.fields import spatial_layers

    if args.layer not in spatial_layers(last_arch):
        raise UsageError(f"--layer {args.layer}: not a spatial layer of the run's model; "
                         f"choose one of {', '.join(spatial_layers(last_arch))}")
    images, source = _images(cfg, last_arch)
    from convscope.shapes import layer_table

    k = next(r.shape[2] for r in layer_table(last_arch) if r.name == args.layer)
    channels = list(range(min(args.channels, k)))
    ev = evolution(kept, args.layer, images, channels=channels, synthetic=not args.no_synthetic,
                   progress=None if args.quiet else
                   (lambda i, n: print(f"  snapshot {i} of {n}", file=sys.stderr, flush=True)))
    assert ev is not None  # only a should_stop() stops it
    try:
        written = write(out, ev, f"{run.name}: {args.layer}, channels 0-{channels[-1]}, patches from {source}")
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from e
    print(f"feature evolution of {args.layer} over {len(ev.steps)} snapshots (steps {int(ev.steps[0])}–"
          f"{int(ev.steps[-1])}), {len(channels)} channels, {ev.seconds:.1f} s")
    for path in written:
        print(f"  {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evolution", help="a layer's channels over a run's snapshots: strongest patch, synthetic input, filter",
        description="Zeiler & Fergus's feature evolution: for each snapshot of the run (checkpoints/step-*.npz: "
        "steps 0, 1, 2, 5, 10, … and every epoch's end) and each channel of LAYER, the validation patch that "
        "excites the channel most, its synthetic preferred input (activation maximization, the same settings "
        "and seed at every step) and, for the first conv block, the filter. Writes evolution.png, "
        "evolution.svg, evolution.npz (the numbers) and evolution.json.",
    )
    p.add_argument("evolution_run", metavar="RUN", help="run directory")
    p.add_argument("--layer", required=True, help="spatial layer, e.g. conv1, act1, pool2")
    p.add_argument("--channels", type=int, default=16, help="the first N channels (default 16)")
    p.add_argument("--no-synthetic", action="store_true", help="leave out the synthetic images (much faster)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--out", required=True, help="directory to write the files into")
