"""The ``convscope`` command: the GUI by default, ``train`` for a headless run,
``inspect`` to export what every layer does with one image, ``evaluate`` to measure a
checkpoint on a whole split (confusion matrix, per-class metrics, PR curve, galleries),
``landscape`` to export a checkpoint's loss landscape.

Bad arguments end with one readable line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from convscope.cli_scale import add_scale_arguments
from convscope.config import ArchSpec, TrainConfig, parse_assignment

EXIT_USAGE = 2
# convscope train's budget without --steps/--epochs: where the README's measured run of the
# default model on the built-in digits has passed 97% (9.7 epochs) and reached ~98% (17.7).
DEFAULT_EPOCHS = 20.0
EXIT_DIVERGED = 1  # train: the loss or weights became non-finite (last good weights saved)

# --set keys that shape the architecture (passed to ArchSpec.uniform); the rest are
# TrainConfig fields.
ARCH_KEYS = {
    "blocks", "filters", "double", "kernel", "stride", "padding", "pool", "pool_size",
    "activation", "batch_norm", "init", "dense",
}


IMAGE_SIZE_HELP = ("image folders (and any set whose images exceed 256 px a side): resize every image "
                   "to N×N (4..256); default: the most common size, its longer side capped at 64")


RUNS_HELP = ("record every training as a run directory under DIR (default: the Runs Folder preference, "
             "else $CONVSCOPE_RUNS, else 'runs' in the application-data folder)")
FOLLOW_HELP = "open a run another process writes (a convscope train) and follow it live"


class UsageError(Exception):
    """A problem with what the user asked for; printed as one line."""


def build_configs(assignments: Sequence[str], base_arch: ArchSpec | None = None,
                  base_config: TrainConfig | None = None) -> tuple[ArchSpec, TrainConfig]:
    """Apply ``key=value`` overrides to the default (or given) architecture and config."""
    arch_changes: dict[str, Any] = {}
    cfg_changes: dict[str, Any] = {}
    cfg_fields = set(TrainConfig().to_dict())
    for text in assignments:
        try:
            key, value = parse_assignment(text)
        except ValueError as e:
            raise UsageError(str(e)) from e
        if key in ARCH_KEYS:
            arch_changes[key] = value
        elif key in cfg_fields:
            cfg_changes[key] = value
        else:
            known = ", ".join(sorted(ARCH_KEYS | cfg_fields))
            raise UsageError(f"unknown setting {key!r}; known settings: {known}")
    try:
        config = (base_config or TrainConfig()).replace(**cfg_changes)
        arch = base_arch or ArchSpec()
        if arch_changes:
            arch = arch_from_uniform(arch, arch_changes)
    except (ValueError, TypeError) as e:
        raise UsageError(str(e)) from e
    return arch, config


def arch_from_uniform(base: ArchSpec, changes: dict[str, Any]) -> ArchSpec:
    """A uniform spec like ``base`` (its first block's settings) with ``changes`` applied."""
    first = base.convs[0] if base.convs else None
    kw: dict[str, Any] = {
        "blocks": len(base.convs),
        "filters": first.filters if first else 32,
        "double": len(base.convs) > 1 and base.convs[1].filters == 2 * base.convs[0].filters,
        "kernel": first.kernel if first else 3,
        "stride": first.stride if first else 1,
        "padding": first.padding if first else "same",
        "pool": first.pool if first else "max",
        "pool_size": first.pool_size if first else 2,
        "activation": base.activation,
        "batch_norm": base.batch_norm,
        "init": base.init,
        "input_shape": base.input_shape,
        "num_classes": base.num_classes,
        "dense": base.dense,
    }
    kw.update(changes)
    if isinstance(kw["dense"], int):
        kw["dense"] = (kw["dense"],) if kw["dense"] > 0 else ()
    return ArchSpec.uniform(**kw)


class _ArgumentError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ArgumentError(message)


def _parser() -> argparse.ArgumentParser:
    from convscope import __version__

    ap = _Parser(prog="convscope", description="See inside a CNN while it learns.")
    ap.add_argument("--version", action="version", version=f"convscope {__version__}")
    ap.add_argument("--data", help="data set to open: builtin:mnist, builtin:colors, an MNIST-family IDX folder, "
                    "CIFAR-10/100 (folder or .tar.gz), an image folder or an .npz; default: built-in digits")
    ap.add_argument("--checkpoint", help="checkpoint (.npz) to open in the GUI")
    ap.add_argument("--image-size", type=int, metavar="N", help=IMAGE_SIZE_HELP)
    ap.add_argument("--runs", dest="top_runs", metavar="DIR", help=RUNS_HELP)
    ap.add_argument("--follow", dest="top_follow", metavar="RUN", help=FOLLOW_HELP)
    sub = ap.add_subparsers(dest="command", parser_class=_Parser)
    gui = sub.add_parser("gui", help="open the window (the default)")
    gui.add_argument("--data", dest="gui_data")
    gui.add_argument("--checkpoint", dest="gui_checkpoint")
    gui.add_argument("--image-size", dest="gui_image_size", type=int, metavar="N", help=IMAGE_SIZE_HELP)
    gui.add_argument("--runs", dest="gui_runs", metavar="DIR", help=RUNS_HELP)
    gui.add_argument("--follow", dest="gui_follow", metavar="RUN", help=FOLLOW_HELP)
    tr = sub.add_parser("train", help="train headless into a run directory")
    tr.add_argument("--data", dest="train_data", help="data set (default: built-in digits)")
    tr.add_argument("--image-size", dest="train_image_size", type=int, metavar="N", help=IMAGE_SIZE_HELP)
    tr.add_argument("--split-seed", type=int, default=0,
                    help="seed of the validation split of sets without a test split (default 0; its "
                         "share is the val_fraction setting); recorded in the checkpoint for evaluate")
    budget = tr.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, help="number of training steps")
    budget.add_argument("--epochs", type=float,
                        help=f"number of epochs (default {DEFAULT_EPOCHS:g}: the default model's ~97-98%% on the digits)")
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a setting, e.g. learning_rate=3e-4, optimizer=sgd, blocks=3, activation=tanh")
    where = tr.add_mutually_exclusive_group()
    where.add_argument("--out", metavar="RUN_DIR", help="the run directory to write (new or empty)")
    where.add_argument("--runs", metavar="ROOT", help="write a new run directory under ROOT "
                       "(default: $CONVSCOPE_RUNS, else the runs folder the GUI uses)")
    where.add_argument("--resume", metavar="RUN_DIR", help="go on with this run from its newest checkpoint, "
                       "exactly (optimizer moments, random streams, data order); --steps/--epochs: that many "
                       "more, else up to the run's own budget; --set may change live settings only")
    tr.add_argument("--init-from", metavar="CHECKPOINT",
                    help="start from a checkpoint trained on another data set: layers whose shapes fit are "
                         "copied, a grey/colour first layer adapted, the classifier rebuilt for these classes; "
                         "the model is the checkpoint's (--set may change training settings)")
    frz = tr.add_mutually_exclusive_group()
    frz.add_argument("--freeze", metavar="LAYERS",
                     help="comma-separated layers that receive no update (conv1,conv2,…,dense1,…,logits; a "
                          "conv block's batch norm with it)")
    frz.add_argument("--freeze-through", metavar="LAYER",
                     help="freeze every layer from the first up to and including LAYER (e.g. conv2)")
    tr.add_argument("--name", help="the run's name (default: from the model and optimizer)")
    tr.add_argument("--checkpoint-every", type=float, metavar="SECONDS",
                    help="write checkpoints/latest.npz at most this often (default 30)")
    tr.add_argument("--tensorboard", metavar="DIR", help="also write TensorBoard event files into DIR, live")
    tr.add_argument("--quiet", action="store_true", help="print only the final line")
    add_scale_arguments(tr)
    rl = sub.add_parser("runs", help="list the runs under a runs root (a table, --json or --csv)")
    rl.add_argument("root", nargs="?", help="runs root (default: $CONVSCOPE_RUNS, else the GUI's runs folder)")
    fmt = rl.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="one JSON list of rows on stdout")
    fmt.add_argument("--csv", metavar="FILE", help="write the comparison as CSV to FILE ('-': stdout)")
    ins = sub.add_parser("inspect", help="write every layer's output for one image (.npy and .png)")
    ins.add_argument("image", help="PNG, JPEG, BMP, GIF (first frame), TIFF or WebP file")
    ins.add_argument("--checkpoint", dest="inspect_checkpoint",
                     help="checkpoint (.npz) to use; default: a freshly initialised default model")
    ins.add_argument("--seed", type=int, default=0,
                     help="seed of the fresh model when there is no checkpoint (default 0)")
    ins.add_argument("--out", required=True, help="directory to write the files into")
    ins.add_argument("--deepvis", metavar="LAYER",
                     help="also write synthetic images, top-k patches and saliency maps for this layer")
    ins.add_argument("--data", dest="inspect_data", metavar="PATH",
                     help="with --deepvis: the data set whose validation images give the top-k patches "
                          "(default: the built-in digits, fitted to the model's input)")
    ins.add_argument("--saliency", action="store_true",
                     help="also write saliency maps of the image for every method (saliency_<method>.png, "
                          "_overlay.png, .npy, _raw.npy, saliency.json), without --deepvis's synthetic images "
                          "and top-k")
    ins.add_argument("--class", dest="inspect_class", metavar="K",
                     help="with --saliency or --deepvis: the class the saliency maps explain, an index "
                          "0..classes-1 or a class name; default: the predicted class")
    eva = sub.add_parser("evaluate", help="confusion matrix, per-class metrics, PR curve and galleries")
    eva.add_argument("--checkpoint", dest="eval_checkpoint", required=True, nargs="+", metavar="C",
                     help="checkpoint (.npz) to evaluate; several: their ensemble (mean of softmax), with each "
                          "member's metrics and the majority vote beside it")
    eva.add_argument("--data", dest="eval_data", help="data set (default: built-in digits)")
    eva.add_argument("--split", choices=("val", "train"), default="val", help="split to evaluate (default val)")
    eva.add_argument("--val-fraction", type=float, help="validation share of sets without a test split "
                     "(default: the checkpoint's training config, so validation never overlaps training)")
    eva.add_argument("--split-seed", type=int, help="seed of that split (default: the checkpoint's)")
    eva.add_argument("--image-size", type=int, metavar="N",
                     help="image folders: resize images to N×N (default: the model's input size, as in training)")
    eva.add_argument("--class", dest="eval_class", metavar="CLASS",
                     help="class (name or index) for the one-vs-rest files; default: the lowest F1")
    eva.add_argument("--threshold", type=float, default=0.5, help="p(class) threshold (default 0.5)")
    eva.add_argument("--gallery", type=int, default=32, help="images per gallery PNG (default 32)")
    eva.add_argument("--out", required=True, help="directory to write the files into")
    ls = sub.add_parser(
        "landscape", help="write a checkpoint's loss landscape (.npz, .png, .svg)",
        description="The loss on the plane through a checkpoint's weights spanned by two random "
        "filter-normalised directions (Li et al. 2018), as the GUI's Loss landscape panel computes it: "
        "landscape.npz (the grid, readable with plain NumPy), landscape.png and landscape.svg (contours and "
        "axes as vectors, the colour map an embedded image). PCA directions need the training trajectory, "
        "which a checkpoint does not hold: use the panel while training for those.",
    )  # fmt: skip
    ls.add_argument("--checkpoint", dest="landscape_checkpoint", required=True, metavar="PATH", help="checkpoint (.npz)")
    ls.add_argument("--data", dest="landscape_data", metavar="PATH", help="data set (default: built-in digits)")
    ls.add_argument("--resolution", type=int, default=21,
                    help="grid points per side: odd (the checkpoint is the centre point), 3 to 101 (default 21)")
    ls.add_argument("--span", type=float, default=1.0, help="grid from -span to +span (default 1.0)")
    ls.add_argument("--examples", type=int, default=256, help="examples evaluated per point (default 256)")
    ls.add_argument("--split", choices=("train", "val"), default="train", help="split to draw them from")
    ls.add_argument("--seed", type=int, default=0, help="seed of the directions and the examples (default 0)")
    ls.add_argument("--directions", choices=("random", "pca"), default="random",
                    help="random (the default, and the only one here: pca needs the training trajectory, "
                    "which one checkpoint does not hold)")
    ls.add_argument("--line", choices=("direction",),
                    help="also the loss along direction 1 on training and validation examples, into the "
                    ".npz and landscape_line.png")
    ls.add_argument("--log", action=argparse.BooleanOptionalAction, default=True,
                    help="colours of log10 loss, as the panel's default (--no-log: of the loss)")
    ls.add_argument("--out", required=True, help="directory to write the files into")
    from convscope.cli_invariance import add_parser as add_invariance

    add_invariance(sub)
    from convscope.cli_evolution import add_parser as add_evolution

    add_evolution(sub)
    etb = sub.add_parser("export-tensorboard", help="write runs as TensorBoard event files (scalars, hparams, images)")
    etb.add_argument("tb_runs", nargs="+", metavar="RUN", help="run directory, or a runs root (every run in it)")
    etb.add_argument("--out", required=True, metavar="DIR", help="TensorBoard log directory: one folder per run")
    return ap


def main(argv: Sequence[str] | None = None) -> int:
    ap = _parser()
    try:
        args = ap.parse_args(argv)
    except _ArgumentError as e:
        print(f"convscope: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.command in ("train", "inspect", "evaluate", "landscape", "evolution", "invariance"):  # they compile
        from convscope.train.compile_cache import enable  # (the GUI: in run_gui)

        enable()
    try:
        if args.command == "train":
            from convscope.cli_train import cmd_train

            return cmd_train(args)
        if args.command == "runs":
            from convscope.cli_runs import cmd_runs

            return cmd_runs(args)
        if args.command in ("inspect", "evaluate", "landscape"):
            from convscope import cli_exports

            return {"inspect": cli_exports.cmd_inspect, "evaluate": cli_exports.cmd_evaluate,
                    "landscape": cli_exports.cmd_landscape}[args.command](args)
        if args.command == "evolution":
            from convscope.cli_evolution import cmd_evolution

            return cmd_evolution(args)
        if args.command == "invariance":
            from convscope.cli_invariance import cmd_invariance

            return cmd_invariance(args)
        if args.command == "export-tensorboard":
            from convscope.cli_tensorboard import cmd_export_tensorboard

            return cmd_export_tensorboard(args)
        data = getattr(args, "gui_data", None) or args.data
        ckpt = getattr(args, "gui_checkpoint", None) or args.checkpoint
        image_size = getattr(args, "gui_image_size", None)
        image_size = args.image_size if image_size is None else image_size
        options = _load_options(0.1, 0, image_size)
        if ckpt:
            _check_checkpoint(ckpt)
        runs = getattr(args, "gui_runs", None) or args.top_runs
        follow = getattr(args, "gui_follow", None) or args.top_follow
        if runs:
            _check_runs_root(runs)
        if follow:
            _check_run(follow)
        from convscope.ui.app import run_gui

        return run_gui(data, ckpt, options, runs=runs, follow=follow)
    except UsageError as e:
        print(f"convscope: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("convscope: interrupted", file=sys.stderr)
        return 130


def _load_options(val_fraction: float, seed: int, image_size: int | None) -> Any:
    """LoadOptions, with a bad value as a UsageError naming the flag."""
    from convscope.data.dataset import LoadOptions

    if not 0.0 < val_fraction <= 0.9:
        raise UsageError(f"val_fraction must be in (0, 0.9], got {val_fraction!r}")
    if not 0 <= seed < 2**31:
        raise UsageError(f"--split-seed must be an integer in 0..2^31-1, got {seed}")
    if image_size is not None and not 4 <= image_size <= 256:
        raise UsageError(f"--image-size must be an integer in 4..256, got {image_size}")
    return LoadOptions(val_fraction, seed, image_size)


def _check_checkpoint(path: str) -> None:
    """Refuse an unreadable or hostile checkpoint before the window opens (UsageError)."""
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    try:
        load_checkpoint(path)
    except CheckpointError as e:
        raise UsageError(str(e)) from e


def _check_runs_root(path: str) -> None:
    from pathlib import Path

    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UsageError(f"--runs {path}: exists and is not a directory")


def _check_run(path: str) -> None:
    """Refuse a --follow that is not a run before the window opens (UsageError)."""
    from convscope.runs.resume import ResumeError, read_run_config

    try:
        read_run_config(path)
    except ResumeError as e:
        raise UsageError(f"--follow {path}: {e}") from e


def _fit_to_data(arch: ArchSpec, dataset: Any) -> ArchSpec:
    """Adapt the input shape and class count of ``arch`` to the data set."""
    if tuple(arch.input_shape) == tuple(dataset.image_shape) and arch.num_classes == dataset.num_classes:
        return arch
    d = arch.to_dict()
    d["input_shape"] = list(dataset.image_shape)
    d["num_classes"] = dataset.num_classes
    try:
        return ArchSpec.from_dict(d)
    except ValueError as e:
        raise UsageError(f"the architecture does not fit the data set: {e}") from e


if __name__ == "__main__":
    sys.exit(main())
