"""``metrics.jsonl``: appended one line at a time, read back whatever happened to it.

Every line is one JSON object with a ``kind``:

* ``step``: ``step, epoch, loss, acc, lr, time`` (training seconds), ``examples_per_s``, ``wall``
  (Unix time); the loss and accuracy are means over the steps since the previous record;
* ``eval``: ``step, epoch, val_loss, val_acc, time, wall``;
* ``hparams``: ``step, epoch, changes: {name: [old, new]}, wall`` — a live change;
* ``status``: ``step, status, reason, wall`` — paused, running again, finished, diverged…;
* ``resume``: ``step, wall`` — training went on from the checkpoint of ``step``: earlier
  records of later steps (written after that checkpoint, before a crash) are superseded.

Non-finite numbers are written as ``null``. A reader skips a line that is not a JSON
object (counting it) and never takes a last line without its newline: the writer may
be in the middle of it.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from convscope.runs.layout import json_safe

MAX_LINE = 1 << 20  # a longer "line" is garbage, skipped without being parsed


class MetricsLog:
    """Appends records to ``metrics.jsonl``: each line written and flushed at once, so a
    killed process loses nothing it logged (the OS keeps what was flushed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._f: IO[str] | None = open(path, "a", encoding="utf-8", newline="\n")  # noqa: SIM115
        self._heal()

    def _heal(self) -> None:
        """A torn last line (the previous writer died inside it) gets its newline, so the
        next record starts a line of its own (the torn one is then skipped as garbage)."""
        size = self.path.stat().st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    self.write_raw("\n")

    def write_raw(self, text: str) -> None:
        assert self._f is not None
        self._f.write(text)
        self._f.flush()

    def append(self, record: dict[str, Any]) -> None:
        self.write_raw(json.dumps(json_safe(record), separators=(",", ":")) + "\n")

    def fsync(self) -> None:
        if self._f is not None:
            self._f.flush()
            os.fsync(self._f.fileno())

    def close(self) -> None:
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None


def read_records(path: Path, offset: int = 0, *, complete: bool = False) -> tuple[list[dict], int, int]:
    """Records of ``path`` from byte ``offset``: ``(records, next_offset, skipped)``.

    Only whole lines are taken: a last line without its newline is left for the next
    call (``next_offset`` stops before it), unless ``complete`` (the writer is gone), when
    it is parsed if it can be and skipped if not. ``skipped`` counts lines that are not
    JSON objects."""
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read()
    end = data.rfind(b"\n") + 1
    body, tail = data[:end], data[end:]
    records: list[dict] = []
    skipped = 0
    lines = body.split(b"\n")[:-1] if body else []
    if complete and tail.strip():
        lines.append(tail)
        end = len(data)
    for line in lines:
        if not line.strip():
            continue
        if len(line) > MAX_LINE:
            skipped += 1
            continue
        try:
            rec = json.loads(line)
        except (ValueError, RecursionError):
            skipped += 1
            continue
        if isinstance(rec, dict):
            records.append(rec)
        else:
            skipped += 1
    return records, offset + end, skipped


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else math.nan


def _int(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


TRAIN_KEYS = ("step", "epoch", "loss", "acc", "lr", "time", "wall")
EVAL_KEYS = ("step", "epoch", "val_loss", "val_acc", "time", "wall")


@dataclass
class Curves:
    """A run's curves, built from its records (in order; ``add`` may be called again with
    the records that follow, as a follower reads them)."""

    train: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in TRAIN_KEYS})
    val: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in EVAL_KEYS})
    changes: list[tuple[int, dict[str, list]]] = field(default_factory=list)  # (step, {name: [old, new]})
    statuses: list[tuple[int, str, str]] = field(default_factory=list)  # (step, status, reason)
    skipped: int = 0  # records with a kind or fields that make no sense

    def add(self, records: Iterable[dict]) -> None:
        for r in records:
            kind, step = r.get("kind"), _int(r.get("step"))
            if kind is None:  # written before kinds existed (convscope ≤ 0.x): tell by fields
                kind = "eval" if "val_loss" in r else "step" if "loss" in r else None
            if step is None or kind not in ("step", "eval", "hparams", "status", "resume"):
                self.skipped += 1
                continue
            if kind == "step":
                self._append(self.train, TRAIN_KEYS, r)
            elif kind == "eval":
                self._append(self.val, EVAL_KEYS, r)
            elif kind == "hparams" and isinstance(r.get("changes"), dict):
                self.changes.append((step, r["changes"]))
            elif kind == "status" and isinstance(r.get("status"), str):
                self.statuses.append((step, r["status"], str(r.get("reason", ""))))
            elif kind == "resume":
                self._truncate(step)

    @staticmethod
    def _append(table: dict[str, list[float]], keys: tuple[str, ...], r: dict) -> None:
        for k in keys:
            table[k].append(_num(r.get(k)))

    def _truncate(self, step: int) -> None:
        for table in (self.train, self.val):
            keep = [i for i, s in enumerate(table["step"]) if s <= step]
            for k, values in table.items():
                table[k] = [values[i] for i in keep]
        self.changes = [c for c in self.changes if c[0] <= step]
        self.statuses = [s for s in self.statuses if s[0] <= step]

    def arrays(self, which: str = "train") -> dict[str, np.ndarray]:
        table = self.train if which == "train" else self.val
        return {k: np.asarray(v, np.float64) for k, v in table.items()}

    @property
    def last_step(self) -> int:
        steps = self.train["step"] + self.val["step"]
        return int(max(steps)) if steps else 0
