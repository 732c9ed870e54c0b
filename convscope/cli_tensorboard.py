"""``convscope export-tensorboard RUN... --out DIR``: runs as TensorBoard event files.

Each RUN (a run directory, or a runs root: every run in it) becomes ``DIR/<its
directory's name>`` (:mod:`convscope.runs.tensorboard` says what is written). A damaged
run is skipped with one line on stderr and the others are exported (exit status 1 then);
a RUN that does not exist or an ``--out`` that cannot be written is a usage error
(exit status 2), found before anything is written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from convscope.cli import UsageError


def writable_dir(path: Path, flag: str) -> None:
    """Check that tensorboardX is installed, create ``path`` if needed and check that
    files can be written in it (UsageError)."""
    try:
        import tensorboardX  # noqa: F401
    except ImportError as e:
        raise UsageError(f"{flag} needs tensorboardX: pip install tensorboardX ({e})") from e
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UsageError(f"{flag} {path}: cannot write there ({e.strerror or e})") from e


def _expand(paths: list[str], out: Path) -> list[Path]:
    """The run directories asked for: a runs root stands for every directory in it (but
    ``out``, should it be one of them)."""
    from convscope.runs import layout as L

    runs: list[Path] = []
    for text in paths:
        p = Path(text)
        if not p.exists():
            raise UsageError(f"no such run: {p}")
        if p.is_dir() and not (p / L.RUN_JSON).exists():
            children = sorted(c for c in p.iterdir() if c.is_dir() and not c.name.startswith(".")
                              and c.resolve() != out.resolve())
            if any((c / L.RUN_JSON).exists() for c in children):
                runs += children
                continue
        runs.append(p)
    return runs


def _names(runs: list[Path]) -> list[str]:
    """Each run's folder name under --out: its directory's name, made unique."""
    seen: dict[str, int] = {}
    names = []
    for run in runs:
        base = run.resolve().name or "run"
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base}-{seen[base]}")
    return names


def cmd_export_tensorboard(args: argparse.Namespace) -> int:
    from convscope.runs.tensorboard import ExportError, export_run, fixed_image

    out = Path(args.out)
    runs = _expand(args.tb_runs, out)
    writable_dir(out, "--out")
    images: dict[tuple, Any] = {}

    def image_for(config: dict[str, Any], arch: Any) -> tuple[Any, str]:
        key = (config.get("data_origin"), str(config.get("val_split")), tuple(arch.input_shape))
        if key not in images:  # runs of one data set load it once
            images[key] = fixed_image(config, arch)
        return images[key]

    done = skipped = 0
    for run, name in zip(runs, _names(runs), strict=True):
        try:
            result = export_run(run, out / name, image_for=image_for)
        except ExportError as e:
            print(f"convscope: skipped {run}: {e}", file=sys.stderr)
            skipped += 1
            continue
        except OSError as e:
            raise UsageError(f"--out {out / name}: cannot write ({e.strerror or e})") from e
        for note in result["notes"]:
            print(f"convscope: {run}: {note}", file=sys.stderr)
        steps = ", ".join(f"{s:,}" for s in result["steps"]) or "none"
        print(f"{out / name}: {result['scalars']:,} scalars, {result['images']:,} images (checkpoints at steps {steps})")
        done += 1
    if not done:
        print(f"convscope: no run exported ({skipped} skipped)", file=sys.stderr)
        return 1
    print(f"wrote {done} run{'s' if done != 1 else ''} into {out}; view with: tensorboard --logdir {out}")
    return 1 if skipped else 0
