"""``convscope evaluate --checkpoint A B C …``: an ensemble (issue 16) evaluated as one
model — the mean of the members' softmax — with each member's metrics beside it.

The files are those of one checkpoint's evaluation (``probes.evaluate_export``) for
the ensemble, plus ``members.csv`` (each member, the mean and the vote: accuracy,
balanced accuracy, loss), ``disagreements.csv`` (the images the members do not agree on,
with each one's prediction) and ``ensemble.json``. The members must take the same images
and classes, and have been trained on the same data with the same validation split:
otherwise one member's validation images may be another's training images, and the
ensemble's score would be inflated.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path
from typing import Any

from convscope.cli import UsageError


def _members(paths: list[str]) -> list[Any]:
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    members = []
    for path in paths:
        try:
            members.append(load_checkpoint(path))
        except CheckpointError as e:
            raise UsageError(str(e)) from e
    first = members[0]
    for path, ckpt in zip(paths[1:], members[1:], strict=True):
        if tuple(ckpt.arch.input_shape) != tuple(first.arch.input_shape) or ckpt.arch.num_classes != first.arch.num_classes:
            raise UsageError(
                f"{path} takes {'×'.join(map(str, ckpt.arch.input_shape))} images of {ckpt.arch.num_classes} classes, "
                f"{paths[0]} {'×'.join(map(str, first.arch.input_shape))} of {first.arch.num_classes}: "
                "an ensemble's members must answer the same question")
    return members


def _same_training_data(paths: list[str], members: list[Any], args: argparse.Namespace) -> None:
    from convscope.train.trained_on import training_split

    if args.eval_data is None:
        origins = {(m.data.origin if m.data is not None else "") for m in members}
        if len(origins) > 1:
            raise UsageError("the members were trained on different data sets "
                             f"({', '.join(sorted(o or 'unrecorded' for o in origins))}); give the one to "
                             "evaluate on with --data")  # fmt: skip
    if args.val_fraction is None and args.split_seed is None:
        splits = [training_split(m)[:2] for m in members]
        for path, split in zip(paths[1:], splits[1:], strict=True):
            if split != splits[0]:
                raise UsageError(
                    f"{path} was trained with validation split {split[0]:g} (seed {split[1]}), {paths[0]} with "
                    f"{splits[0][0]:g} (seed {splits[0][1]}): one member's validation images would be another's "
                    "training images. Give --val-fraction and --split-seed to evaluate on one split anyway")


def cmd_evaluate_ensemble(args: argparse.Namespace) -> int:
    from convscope.data import DataError
    from convscope.probes import evaluate as evl
    from convscope.probes import evaluate_export as export
    from convscope.probes.ensemble import combine
    from convscope.probes.inspect import default_norm
    from convscope.train.trained_on import load_training_data

    paths = list(args.eval_checkpoint)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    members = _members(paths)
    _same_training_data(paths, members, args)
    first = members[0]
    try:
        trained_on = load_training_data(first, args.eval_data, val_fraction=args.val_fraction,
                                        split_seed=args.split_seed, image_size=args.image_size)  # fmt: skip
    except (DataError, ValueError) as e:
        raise UsageError(str(e)) from e
    dataset, arch = trained_on.dataset, first.arch
    if tuple(dataset.image_shape) != tuple(arch.input_shape) or dataset.num_classes != arch.num_classes:
        raise UsageError(f"the members expect {'×'.join(map(str, arch.input_shape))} images and "
                         f"{arch.num_classes} classes; {dataset.summary()}")  # fmt: skip
    x, y = (dataset.x_val, dataset.y_val) if args.split == "val" else (dataset.x_train, dataset.y_train)
    t0 = time.perf_counter()
    import numpy as np

    probs = np.stack([evl.predict_probs(m.arch, m.params, m.state,
                                        m.norm if m.norm is not None else default_norm(arch.input_shape[2]), x)
                      for m in members])  # fmt: skip
    result = combine(probs, y)
    seconds = time.perf_counter() - t0
    names = list(dataset.class_names)
    try:
        cls = result.evaluation.worst_class() if args.eval_class is None else export.resolve_class(args.eval_class, names)
    except ValueError as e:
        raise UsageError(str(e)) from e
    ranking = evl.ClassRanking(result.evaluation.probs, y, cls)
    meta = {"ensemble": paths, "combined_by": "mean of softmax", "data": dataset.summary(),
            "data_from": trained_on.data_from, "split": args.split, "val_fraction": trained_on.val_fraction,
            "split_seed": trained_on.split_seed,
            "class_chosen_by": "--class" if args.eval_class is not None else "lowest F1"}  # fmt: skip
    try:
        files = export.write_report(out, result.evaluation, ranking, args.threshold, x, names, meta, args.gallery)
        files += _write_ensemble(out, paths, members, result, names, meta)
    except OSError as e:
        raise UsageError(f"--out {out}: cannot write ({e.strerror or e})") from e
    for path, m, loss in zip(paths, result.members, result.member_losses, strict=True):
        print(f"member {path}: accuracy {m.accuracy:.2%}, loss {loss:.4f}")
    e = result.evaluation
    print(f"ensemble of {result.size} (mean of softmax): accuracy {e.accuracy:.2%}, balanced {e.balanced_accuracy:.2%}, "
          f"loss {result.loss:.4f}; majority vote {result.vote_accuracy:.2%}; the members disagree on "
          f"{len(result.disagreements):,} of {len(y):,} images")  # fmt: skip
    print(f"predicted in {seconds:.1f} s (compilation included); wrote {len(files)} files to {out}")
    return 0


def _write_ensemble(out: Path, paths: list[str], members: list[Any], result: Any, names: list[str],
                    meta: dict[str, Any]) -> list[Path]:
    rows = [("member", p, m.step, r.accuracy, r.balanced_accuracy, loss)
            for p, m, r, loss in zip(paths, members, result.members, result.member_losses, strict=True)]
    e = result.evaluation
    rows.append(("ensemble (mean of softmax)", "", "", e.accuracy, e.balanced_accuracy, result.loss))
    rows.append(("ensemble (majority vote)", "", "", result.vote_accuracy, "", ""))
    members_csv, disagree_csv, summary = out / "members.csv", out / "disagreements.csv", out / "ensemble.json"
    with members_csv.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "checkpoint", "step", "accuracy", "balanced_accuracy", "loss"])
        w.writerows(rows)
    with disagree_csv.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "true", "ensemble", *[f"member_{i + 1}" for i in range(len(paths))]])
        label = (lambda k: names[k]) if names else str  # noqa: E731
        for i in result.disagreements.tolist():
            preds = result.member_predictions(i).tolist()
            w.writerow([i, label(int(e.y_true[i])), label(int(e.y_pred[i])), *[label(p) for p in preds]])
    summary.write_text(json.dumps({
        **meta,
        "members": [{"checkpoint": p, "step": m.step, "accuracy": r.accuracy, "loss": loss}
                    for p, m, r, loss in zip(paths, members, result.members, result.member_losses, strict=True)],
        "accuracy": e.accuracy, "balanced_accuracy": e.balanced_accuracy, "loss": result.loss,
        "vote_accuracy": result.vote_accuracy, "disagreements": len(result.disagreements),
    }, indent=2) + "\n")  # fmt: skip
    return [members_csv, disagree_csv, summary]
