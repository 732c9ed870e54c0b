"""The exporting subcommands of ``convscope``: ``inspect`` (every layer's output for one
image, optionally deep visualization), ``evaluate`` (a checkpoint measured on a whole
split) and ``landscape`` (the loss around a checkpoint). cli.py parses the arguments and
turns ``UsageError`` into one line and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from convscope.cli import UsageError
from convscope.config import ArchSpec

PNG_MIN_SIDE = 256  # layer PNGs are enlarged (nearest neighbour, integer factor) to about this
PNG_MAX_ZOOM = 16


def _write_png(path: Path, rgba: np.ndarray) -> None:
    from PIL import Image

    h, w = rgba.shape[:2]
    zoom = int(min(PNG_MAX_ZOOM, max(1, PNG_MIN_SIDE // max(h, w, 1))))
    if zoom > 1:
        rgba = rgba.repeat(zoom, axis=0).repeat(zoom, axis=1)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[rgba.shape[2]]
    Image.fromarray(rgba if rgba.shape[2] > 1 else rgba[..., 0], mode).save(path, format="PNG")


def cmd_inspect(args: argparse.Namespace) -> int:
    """Write input.npy/.png, <layer>.npy and <layer>.png for every tap, prediction.json."""
    from convscope.data.images import ImageError, fit_image, load_image

    if args.seed < 0 or args.seed > 2**31 - 1:
        raise UsageError(f"--seed must be an integer in [0, {2**31 - 1}], got {args.seed}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    try:
        original = load_image(args.image)
    except ImageError as e:
        raise UsageError(str(e)) from e

    import jax

    from convscope.model.network import init
    from convscope.probes.inspect import Inspector, default_norm
    from convscope.train.checkpoint import CheckpointError, load_checkpoint
    from convscope.viz.colormaps import colorize, diverging_lut, sequential_lut
    from convscope.viz.tiles import map_grid, vector_grid

    ckpt_path = args.inspect_checkpoint
    if ckpt_path is not None:
        try:
            ckpt = load_checkpoint(ckpt_path)
        except CheckpointError as e:
            raise UsageError(str(e)) from e
        arch, params, state, step = ckpt.arch, ckpt.params, ckpt.state, ckpt.step
        norm = ckpt.norm if ckpt.norm is not None else default_norm(arch.input_shape[2])
        seed = None
        source = f"checkpoint {ckpt_path} (step {step})"
    else:
        arch = ArchSpec()
        params, state = jax.device_get(init(arch, args.seed))
        norm = default_norm(arch.input_shape[2])
        seed, step = args.seed, 0
        source = f"a freshly initialised (untrained) default model, seed {seed}"

    if args.deepvis is not None:
        from convscope.probes.deepvis import spatial_row

        try:
            spatial_row(arch, args.deepvis, "--deepvis")
        except ValueError as e:
            raise UsageError(str(e)) from e
    pool = None  # the images top-k chooses from; None: the built-in digits
    data_names: list[str] = []  # --data's class names
    if args.inspect_data is not None:
        from convscope.data import DataError
        from convscope.data.dataset import load_dataset

        if args.deepvis is None:
            raise UsageError("--data is used only with --deepvis")
        try:
            data = load_dataset(args.inspect_data)
        except DataError as e:
            raise UsageError(str(e)) from e
        if tuple(data.image_shape) != tuple(arch.input_shape):
            raise UsageError(f"--data {args.inspect_data}: {data.summary()}, but the model takes "
                             f"{'×'.join(map(str, arch.input_shape))} images")
        pool = (data.x_val, f"{data.name} validation split")
        data_names = [str(n) for n in data.class_names]
    # The checkpoint's class names (older files: --data's, else the indices).
    classes = [str(i) for i in range(arch.num_classes)]
    if ckpt_path is not None and ckpt.class_names is not None:
        classes = list(ckpt.class_names)
    elif len(data_names) == arch.num_classes:
        classes = data_names
    target = None  # the class saliency explains; None: the predicted one
    if args.inspect_class is not None:
        from convscope.probes.evaluate_export import resolve_class

        if args.deepvis is None and not args.saliency:
            raise UsageError("--class is used only with --deepvis or --saliency")
        try:
            target = resolve_class(args.inspect_class, classes)
        except ValueError as e:
            raise UsageError(str(e)) from e
    image = fit_image(original, arch.input_shape)
    result = Inspector(arch).run(params, state, norm, image)
    top = int(np.argmax(result.probs))
    prediction = {
        "classes": classes,
        "probabilities": [float(p) for p in result.probs],
        "top": classes[top],
        "top_index": top,
        "checkpoint": str(ckpt_path) if ckpt_path is not None else None,
        "seed": seed,
        "step": step,
        "image": str(args.image),
        "input_shape": list(arch.input_shape),
        "norm": np.asarray(norm, np.float64).tolist(),
        "layers": list(result.taps),
    }
    diverging, sequential = diverging_lut(), sequential_lut()
    try:
        out.mkdir(parents=True, exist_ok=True)
        np.save(out / "input.npy", result.input)
        _write_png(out / "input.png", image)
        for name, values in result.taps.items():
            np.save(out / f"{name}.npy", values)
            mosaic, levels = map_grid(values) if values.ndim == 3 else vector_grid(values)
            lut = diverging if levels[0] < 0 < levels[1] else sequential
            _write_png(out / f"{name}.png", colorize(mosaic, levels, lut))
        (out / "prediction.json").write_text(json.dumps(prediction, indent=2) + "\n", encoding="utf-8")
        if args.deepvis is not None:
            from convscope.data import DataError
            from convscope.probes.deepvis_export import export_deepvis

            try:
                extra = export_deepvis(out, arch, params, state, norm, args.deepvis, image, _write_png,
                                       images=pool, target_class=target)
            except DataError as e:
                raise UsageError(str(e)) from e
            print(f"deepvis {args.deepvis}: wrote {len(extra)} more files (synthetic images, top-k, saliency)")
        elif args.saliency:
            from convscope.probes.deepvis_export import export_saliency

            extra, summary = export_saliency(out, arch, params, state, norm, image, _write_png, target)
            (out / "saliency.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
            print(f"saliency: wrote {len(extra) + 1} more files ({', '.join(summary)}) for class "
                  f"{classes[summary['vanilla']['target_class']]}")
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from e
    print(f"model: {source}")
    print(f"image: {args.image} {original.shape[1]}×{original.shape[0]} → input {'×'.join(map(str, arch.input_shape))}")
    print(f"top class {classes[top]} (p = {result.probs[top]:.3f}); "
          f"wrote {2 * len(result.taps) + 3} files to {out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Evaluate a checkpoint on a split; the files are ``probes.evaluate_export``'s."""
    from convscope.data import DataError

    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError(f"--threshold must be in [0, 1], got {args.threshold}")
    if args.gallery < 0:
        raise UsageError(f"--gallery must be 0 or more, got {args.gallery}")
    if len(args.eval_checkpoint) > 1:
        from convscope.cli_ensemble import cmd_evaluate_ensemble

        return cmd_evaluate_ensemble(args)
    args.eval_checkpoint = args.eval_checkpoint[0]
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    from convscope.probes import evaluate as evl
    from convscope.probes import evaluate_export as export
    from convscope.probes.inspect import default_norm
    from convscope.train.checkpoint import CheckpointError, load_checkpoint
    from convscope.train.trained_on import load_training_data

    try:
        ckpt = load_checkpoint(args.eval_checkpoint)
        trained_on = load_training_data(ckpt, args.eval_data, val_fraction=args.val_fraction,
                                        split_seed=args.split_seed, image_size=args.image_size)
    except (CheckpointError, DataError, ValueError) as e:
        raise UsageError(str(e)) from e
    dataset = trained_on.dataset
    val_fraction, split_seed, split_from = trained_on.val_fraction, trained_on.split_seed, trained_on.split_from
    arch = ckpt.arch
    if tuple(dataset.image_shape) != tuple(arch.input_shape) or dataset.num_classes != arch.num_classes:
        raise UsageError(
            f"the checkpoint expects {'×'.join(map(str, arch.input_shape))} images and {arch.num_classes} "
            f"classes; {dataset.summary()}")
    x, y = (dataset.x_val, dataset.y_val) if args.split == "val" else (dataset.x_train, dataset.y_train)
    norm = ckpt.norm if ckpt.norm is not None else default_norm(arch.input_shape[2])
    t0 = time.perf_counter()
    result = evl.evaluate_probs(evl.predict_probs(arch, ckpt.params, ckpt.state, norm, x), y)
    seconds = time.perf_counter() - t0
    names = list(dataset.class_names)
    try:
        cls = result.worst_class() if args.eval_class is None else export.resolve_class(args.eval_class, names)
    except ValueError as e:
        raise UsageError(str(e)) from e
    ranking = evl.ClassRanking(result.probs, y, cls)
    meta = {"checkpoint": str(args.eval_checkpoint), "step": ckpt.step, "data": dataset.summary(),
            "data_from": trained_on.data_from,
            "split": args.split, "val_fraction": val_fraction, "split_seed": split_seed,
            "split_from": split_from if dataset.val_split is not None else "the data set's own test split",
            "class_chosen_by": "--class" if args.eval_class is not None else "lowest F1"}
    try:
        files = export.write_report(out, result, ranking, args.threshold, x, names, meta, args.gallery)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from e
    print(export.summary_line(result, ranking.at(args.threshold), ranking, names, args.split))
    print(f"predicted in {seconds:.1f} s (compilation included); wrote {len(files)} files to {out}")
    return 0


def cmd_landscape(args: argparse.Namespace) -> int:
    from convscope.probes.landscape import LandscapeError
    from convscope.probes.landscape_export import export_landscape

    try:
        _, line = export_landscape(
            args.landscape_checkpoint, args.out, data=args.landscape_data, resolution=args.resolution,
            span=args.span, examples=args.examples, split=args.split, seed=args.seed, log=args.log,
            line=args.line, directions=args.directions)
    except LandscapeError as e:
        raise UsageError(str(e)) from e
    print(line)
    return 0
