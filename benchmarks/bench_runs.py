"""How long the Runs panel takes to list a thousand runs.

Generates ``--runs`` run directories (format 1: run.json, config.json, a metrics.jsonl
of a few hundred lines, an annotations.json on some; ``--damaged`` of them damaged in
the ways a root really gets damaged), then times, each ``--repeats`` times, the best
kept: ``list_runs`` (the Qt-free reading), a Runs panel filled from them (offscreen
Qt: reading + the table model + the first sort), a poll when nothing changed, and
typing a filter word. Usage::

    python benchmarks/bench_runs.py [--runs 1000] [--damaged 20] [--repeats 3] [--keep DIR]

Target (issue 12): the panel lists 1,000 runs in under a second.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's convscope
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def generate(root: Path, count: int, damaged: int, lines: int = 300) -> None:
    """``count`` runs under ``root``, the last ``damaged`` of them damaged."""
    import numpy as np

    rng = np.random.default_rng(0)
    optimizers = ("adam", "sgd", "momentum", "rmsprop")
    for i in range(count):
        d = root / f"20261201-{i:06d}-cnn-run-{i:04x}"
        (d / "checkpoints").mkdir(parents=True)
        lr = float(10 ** rng.uniform(-4.5, -1))
        created = time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(1.76e9 + 600 * i))
        records, wall = [], 1.76e9 + 600 * i
        for k in range(lines):
            step = 10 * (k + 1)
            wall += 0.3
            loss = 2.3 * np.exp(-step * lr) + 0.05 * rng.random()
            if k % 5 == 4:
                records.append({"kind": "eval", "step": step, "epoch": step / 31.25, "val_loss": loss * 1.1,
                                "val_acc": 1 - loss / 2.5, "time": wall - 1.76e9, "wall": round(wall, 3)})
            else:
                records.append({"kind": "step", "step": step, "epoch": step / 31.25, "loss": loss,
                                "acc": 1 - loss / 2.4, "lr": lr, "time": wall - 1.76e9,
                                "examples_per_s": 4000.0, "wall": round(wall, 3)})
        (d / "metrics.jsonl").write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        config = {"optimizer": optimizers[i % 4], "learning_rate": lr, "batch_size": int(2 ** rng.integers(5, 9)),
                  "dropout": round(float(rng.uniform(0, 0.5)), 2), "weight_decay": float(rng.choice([0, 1e-4, 1e-3])),
                  "momentum": 0.9, "augment": bool(i % 3), "augment_shift": 2, "seed": i}
        arch = {"convs": [{"filters": 16 * (1 + i % 3), "kernel": 3}, {"filters": 32, "kernel": 3}],
                "dense": [128], "activation": "relu", "batch_norm": bool(i % 2)}
        (d / "config.json").write_text(json.dumps({"arch": arch, "config": config, "data": "MNIST", "budget": None},
                                                  indent=1))
        info = {"format": "convscope-run", "version": 1, "id": d.name, "name": f"run {i}", "status": "finished",
                "created": created, "updated": created, "convscope": "bench", "host": "bench-host", "pid": 1,
                "device": "cpu", "source": "cli", "data": {"name": "MNIST", "train": 54000, "val": 6000},
                "tags": ["sweep"] if i % 7 == 0 else [], "notes": "",
                "summary": {"steps": 10 * lines, "params": 100_000 + i, "train_time": 0.3 * lines,
                            "best_val_acc": 0.9, "final_val_acc": 0.89, "best_val_loss": 0.3, "final_val_loss": 0.31}}
        (d / "run.json").write_text(json.dumps(info, indent=1))
        if i % 10 == 0:
            (d / "annotations.json").write_text(json.dumps({"name": f"renamed {i}", "tags": ["keep"]}))
    # The damaged ones, replaced in place: every kind the reader reports.
    kinds = ["garbage", "newer", "no-config", "truncated", "not-a-run"]
    for j in range(damaged):
        d = root / f"20261201-{count - 1 - j:06d}-cnn-run-{count - 1 - j:04x}"
        kind = kinds[j % len(kinds)]
        if kind == "garbage":
            (d / "run.json").write_text('{"format": "convscope-run", "vers')
        elif kind == "newer":
            (d / "run.json").write_text(json.dumps({"format": "convscope-run", "version": 9}))
        elif kind == "no-config":
            (d / "config.json").unlink()
        elif kind == "truncated":
            (d / "checkpoints" / "latest.npz").write_bytes(b"PK\x03\x04" + b"\0" * 500)
        else:
            (d / "run.json").unlink()
            (d / "metrics.jsonl").unlink()


def best(f, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--damaged", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="generate into (or reuse) this folder and keep it")
    args = parser.parse_args()

    root = args.keep or Path(tempfile.mkdtemp(prefix="convscope-bench-runs-"))
    try:
        if not (root.is_dir() and any(root.iterdir())):
            root.mkdir(parents=True, exist_ok=True)
            t = time.perf_counter()
            generate(root, args.runs, args.damaged)
            print(f"generated {args.runs} runs ({args.damaged} damaged) in {time.perf_counter() - t:.1f} s: {root}")
        from convscope.runs import list_runs

        t_list, runs = best(lambda: list_runs(root), args.repeats)
        damaged = sum(1 for r in runs if r.damaged)  # type: ignore[union-attr]
        print(f"list_runs: {len(runs)} runs ({damaged} damaged) in {1000 * t_list:.0f} ms")  # type: ignore[arg-type]

        from PySide6.QtCore import QObject
        from PySide6.QtWidgets import QApplication

        app = QApplication.instance() or QApplication([])
        from convscope.ui.panels.runs_panel import RunsPanel

        owners = []

        def fill() -> RunsPanel:
            owner = QObject()
            owners.append(owner)
            panel = RunsPanel(owner, root=root)
            panel.resize(1400, 500)
            panel.show()
            app.processEvents()  # laid out and painted once
            return panel

        t_fill, panel = best(fill, args.repeats)
        assert panel.proxy.rowCount() == len(runs)  # type: ignore[union-attr,arg-type]
        print(f"Runs panel filled and shown: {panel.proxy.rowCount()} rows in {1000 * t_fill:.0f} ms "  # type: ignore[union-attr]
              f"(target < 1000 ms)")
        t_poll, _ = best(panel.poll, args.repeats)  # type: ignore[union-attr]
        print(f"poll with nothing changed: {1000 * t_poll:.1f} ms (every 3 s)")

        def filter_word() -> int:
            panel.filter_edit.setText("")  # type: ignore[union-attr]
            panel.filter_edit.setText("sweep")  # type: ignore[union-attr]
            return panel.proxy.rowCount()  # type: ignore[union-attr]

        t_filter, shown = best(filter_word, args.repeats)
        print(f"filter 'sweep': {shown} rows in {1000 * t_filter:.1f} ms (cleared and typed)")
        panel.filter_edit.setText("")  # type: ignore[union-attr]

        def sort_column() -> None:
            from PySide6.QtCore import Qt

            from convscope.ui.panels.runs_table import COLUMN

            panel.view.sortByColumn(COLUMN["learning_rate"], Qt.SortOrder.AscendingOrder)  # type: ignore[union-attr]
            panel.view.sortByColumn(COLUMN["created"], Qt.SortOrder.DescendingOrder)  # type: ignore[union-attr]

        t_sort, _ = best(sort_column, args.repeats)
        print(f"sort by learning rate, then back by date: {1000 * t_sort:.1f} ms")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
