"""``convscope runs``: the runs under a root as a table, JSON rows or CSV."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

from convscope.cli import UsageError

COLUMNS = ("name", "status", "data", "start", "arch", "params", "optimizer", "learning_rate", "batch_size", "dropout",
           "weight_decay", "augment", "steps", "best_val_acc", "final_val_acc", "best_val_loss", "final_val_loss",
           "train_time", "tags", "notes", "created", "host", "id", "damaged", "dir")


def cmd_runs(args: argparse.Namespace) -> int:
    from convscope.runs import default_root, list_runs

    root = Path(args.root) if args.root else default_root()
    if not root.is_dir():
        if args.root:
            raise UsageError(f"{root}: no such runs folder")
        rows = []  # the default folder appears with the first run
    else:
        rows = [r.as_row() for r in list_runs(root)]
    if args.json:
        json.dump([{k: _plain(v) for k, v in row.items()} for row in rows], sys.stdout, indent=1)
        print()
        return 0
    if args.csv:
        return _write_csv(rows, args.csv)
    print(table(rows) if rows else f"no runs in {root} yet (convscope train and the window write them there)")
    return 0


def _plain(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def write_csv_text(rows: list[dict[str, Any]], columns: tuple[str, ...] = COLUMNS) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for row in rows:
        w.writerow({k: "" if row.get(k) is None else row.get(k) for k in columns})
    return buf.getvalue()


def _write_csv(rows: list[dict[str, Any]], dest: str) -> int:
    text = write_csv_text(rows)
    if dest == "-":
        sys.stdout.write(text)
        return 0
    try:
        Path(dest).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"--csv {dest}: cannot write ({e.strerror or e})") from e
    print(f"wrote {len(rows)} run(s) to {dest}")
    return 0


def _cell(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if v is None or v == "":
        return ""
    if key in ("best_val_acc", "final_val_acc"):
        return f"{100 * v:.2f}%"
    if key in ("best_val_loss", "final_val_loss"):
        return f"{v:.4f}"
    if key == "learning_rate":
        return f"{v:g}"
    if key == "train_time":
        return f"{v:.0f} s"
    if key == "params":
        return f"{v:,}"
    return str(v)


def table(rows: list[dict[str, Any]]) -> str:
    cols = ("name", "status", "data", "start", "arch", "optimizer", "learning_rate", "batch_size", "steps",
            "best_val_acc", "final_val_loss", "train_time")
    heads = ("name", "status", "data", "start", "architecture", "opt", "lr", "batch", "steps", "best val acc",
             "val loss", "time")
    cells = [[_cell(r, c) if not (c == "status" and r.get("damaged")) else f"damaged: {r['damaged']}"
              for c in cols] for r in rows]
    widths = [min(max(len(h), *(len(c[i]) for c in cells)), 60) for i, h in enumerate(heads)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    lines += ["  ".join(c[:w].ljust(w) for c, w in zip(cell, widths, strict=True)).rstrip() for cell in cells]
    return "\n".join(lines)
