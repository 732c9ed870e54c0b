"""Small run directories written the way ``convscope.runs.RunWriter`` writes them
(format 1), without training: what the Runs panel tests list, edit and draw."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np


def make_run(root: Path, name: str, *, lr: float = 1e-3, optimizer: str = "adam", batch: int = 64,
             dropout: float = 0.25, augment: bool = True, steps: int = 50, seed: int = 0,
             created: str = "2026-12-01T10:00:00+0000", status: str = "finished", pid: int | None = None,
             tags: tuple[str, ...] = (), start_wall: float = 1.7e9) -> Path:
    """A finished run with a train record every 5 steps and an eval every 10, its
    losses a noisy decay (seeded); returns its directory."""
    d = root / name
    (d / "checkpoints").mkdir(parents=True)
    rng = np.random.default_rng(seed)
    lines, best_acc, best_loss = [], 0.0, 9.0
    last: dict[str, float] = {}
    for step in range(5, steps + 1, 5):
        loss = float(2.3 * np.exp(-step * lr * 20) + 0.1 * rng.random())
        wall = start_wall + 0.5 * step
        lines.append({"kind": "step", "step": step, "epoch": step / 20, "loss": loss, "acc": 1 - loss / 2.5,
                      "lr": lr, "time": 0.4 * step, "examples_per_s": 100.0, "wall": wall})
        if step % 10 == 0:
            last = {"val_loss": loss * 1.1, "val_acc": 1 - loss / 2.4}
            best_acc, best_loss = max(best_acc, last["val_acc"]), min(best_loss, last["val_loss"])
            lines.append({"kind": "eval", "step": step, "epoch": step / 20, **last, "time": 0.4 * step,
                          "wall": wall + 0.1})
    (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    summary = {"steps": steps, "epoch": steps / 20, "params": 1000 + batch, "train_time": 0.4 * steps,
               "best_val_acc": best_acc, "final_val_acc": last.get("val_acc", 0.0),
               "best_val_loss": best_loss, "final_val_loss": last.get("val_loss", 0.0)}
    info = {"format": "convscope-run", "version": 1, "id": name, "name": name, "status": status,
            "created": created, "updated": created, "convscope": "test", "host": socket.gethostname(),
            "pid": pid if pid is not None else os.getpid(), "device": "cpu", "source": "test",
            "data": {"name": "digits"}, "tags": list(tags), "notes": "", "summary": summary}
    config = {"optimizer": optimizer, "learning_rate": lr, "batch_size": batch, "dropout": dropout,
              "weight_decay": 0.0, "momentum": 0.9, "augment": augment, "augment_shift": 2, "seed": seed}
    arch = {"convs": [{"filters": 8, "kernel": 3}], "dense": [16], "activation": "relu"}
    (d / "config.json").write_text(json.dumps({"arch": arch, "config": config, "budget": None}))
    (d / "run.json").write_text(json.dumps(info))
    return d


def metrics(run_dir: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The train and eval records of a run as arrays (what the overlay must draw)."""
    records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    train = {k: np.array([r[k] for r in records if r["kind"] == "step"]) for k in ("step", "epoch", "loss", "wall")}
    val = {k: np.array([r[k] for r in records if r["kind"] == "eval"])
           for k in ("step", "epoch", "val_loss", "val_acc", "wall")}
    return train, val


def damaged_runs(root: Path) -> dict[str, str]:
    """Directories that are not usable runs → a word their reason must contain."""
    (root / "not-a-run").mkdir(parents=True)
    (root / "garbage").mkdir()
    (root / "garbage" / "run.json").write_text("{not json")
    (root / "future").mkdir()
    (root / "future" / "run.json").write_text(json.dumps({"format": "convscope-run", "version": 99}))
    return {"not-a-run": "not a run", "garbage": "cannot be read", "future": "newer"}

