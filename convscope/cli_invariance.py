"""``convscope invariance IMAGE [--checkpoint C] --out DIR``: Zeiler & Fergus's
invariance curves for one image (probes/invariance.py) as CSV, .npz and PNG plots.
cli.py parses the arguments and turns ``UsageError`` into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from convscope.cli import UsageError
from convscope.config import ArchSpec


def cmd_invariance(args: argparse.Namespace) -> int:
    from convscope.data.images import ImageError, fit_image, load_image

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    kinds = [k.strip() for k in args.transforms.split(",") if k.strip()]
    try:
        original = load_image(args.image)
    except ImageError as e:
        raise UsageError(str(e)) from e

    import jax

    from convscope.model.network import init
    from convscope.probes import invariance as inv
    from convscope.probes.evaluate_export import resolve_class
    from convscope.probes.inspect import default_norm
    from convscope.probes.invariance_export import write
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    unknown = [k for k in kinds if k not in inv.KINDS]
    if unknown or not kinds:
        raise UsageError(f"--transforms: unknown {unknown[0] if unknown else '(none given)'!r}; "
                         f"choose from {','.join(inv.KINDS)}")
    if args.invariance_checkpoint is not None:
        try:
            ckpt = load_checkpoint(args.invariance_checkpoint)
        except CheckpointError as e:
            raise UsageError(str(e)) from e
        arch, params, state = ckpt.arch, ckpt.params, ckpt.state
        norm = ckpt.norm if ckpt.norm is not None else default_norm(arch.input_shape[2])
        classes = list(ckpt.class_names) if ckpt.class_names is not None else None
        source = f"checkpoint {args.invariance_checkpoint} (step {ckpt.step})"
    else:
        arch = ArchSpec()
        params, state = jax.device_get(init(arch, 0))
        norm, classes = default_norm(arch.input_shape[2]), None
        source = "a freshly initialised (untrained) default model, seed 0"
    classes = classes or [str(i) for i in range(arch.num_classes)]
    label = None
    if args.invariance_class is not None:
        try:
            label = resolve_class(args.invariance_class, classes)
        except ValueError as e:
            raise UsageError(str(e)) from e
    image = fit_image(original, arch.input_shape)
    layers = None
    if args.layers:
        layers = [n.strip() for n in args.layers.split(",") if n.strip()]
        missing = [n for n in layers if n not in inv.feature_layers(arch)]
        if missing:
            raise UsageError(f"--layers: the model has no layer {missing[0]!r}; "
                             f"it has {', '.join(inv.feature_layers(arch))}")
    sweeps = inv.sweeps(arch, params, state, norm, image, label=label, kinds=kinds, layers=layers)
    try:
        written = write(out, sweeps, classes, Path(args.image).name)
        summary = {
            "image": str(args.image), "model": source, "class": classes[next(iter(sweeps.values())).target],
            "class_is_label": label is not None,
            "transforms": {k: {"values": s.values.tolist(), "p_class": s.target_probs.tolist(),
                               "seconds": round(s.seconds, 4)} for k, s in sweeps.items()},
        }
        (out / "invariance.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from e
    first = next(iter(sweeps.values()))
    print(f"invariance of {args.image} under {', '.join(kinds)} ({source}); class {classes[first.target]}, "
          f"p at the identity {float(first.target_probs[first.identity]):.3f}")
    for path in [*written, out / "invariance.json"]:
        print(f"  {path}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    from convscope.probes.invariance_kinds import KINDS

    p = sub.add_parser(
        "invariance", help="how the layers' features and the prediction change as the image moves (CSV, PNG)",
        description="Zeiler & Fergus's invariance curves: the image shifted horizontally and vertically "
        "(± half the input), scaled (0.5–1.5) and rotated (±180°); per layer the distance of the moved "
        "image's features from the original's, divided by the original's norm, and the probability of the "
        "class. Writes invariance.csv, invariance.npz, invariance_<transform>.png and invariance.json.",
    )
    p.add_argument("image", help="PNG, JPEG, BMP, GIF (first frame), TIFF or WebP file")
    p.add_argument("--checkpoint", dest="invariance_checkpoint",
                   help="checkpoint (.npz); default: a freshly initialised default model")
    p.add_argument("--class", dest="invariance_class", metavar="K",
                   help="the image's true class (index or name), whose probability is plotted; "
                        "default: the class predicted for the original")
    p.add_argument("--transforms", default=",".join(KINDS),
                   help=f"comma-separated, from {','.join(KINDS)} (default: all)")
    p.add_argument("--layers", help="comma-separated layer names (default: every layer)")
    p.add_argument("--out", required=True, help="directory to write the files into")
