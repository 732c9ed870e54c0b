"""The run directory format (version 1), its names, and where runs live by default.

::

    <runs root>/<run id>/
      run.json        what the run is: {"format": "convscope-run", "version": 1, "id", "name",
                      "status", "created", "updated", "convscope", "host", "pid", "device",
                      "source", "data", "tags", "notes", "summary"}
      config.json     {"arch": ArchSpec, "config": TrainConfig at the start, "data", "data_origin",
                      "val_split", "budget": {"steps"| "epochs"} or null}
      metrics.jsonl   one JSON object per line, appended and flushed as they happen
      checkpoints/    latest.npz, final.npz, step-NNNNNNNN.npz (log-spaced history)

``status`` is one of :data:`STATUSES`. A run whose writer died without saying so (a
crash, ``kill -9``, a power cut) still says "running" in ``run.json``; readers on the
same host see that its process is gone and report it as "interrupted" (and mark it so
when they open it for writing).

Standard library only: listing runs must not import JAX.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any

from convscope.atomic import atomic_write_bytes

FORMAT = "convscope-run"
VERSION = 1
STATUSES = ("running", "paused", "finished", "diverged", "interrupted", "stopped")
RUN_JSON, CONFIG_JSON, METRICS, CHECKPOINTS = "run.json", "config.json", "metrics.jsonl", "checkpoints"
LATEST, FINAL = "latest.npz", "final.npz"
MAX_JSON_BYTES = 4 << 20  # run.json / config.json larger than this are damaged, not read


def default_root() -> Path:
    """The runs root when none is given: ``$CONVSCOPE_RUNS``, else ``runs`` in the
    platform's application-data folder, the folder Qt's
    ``QStandardPaths.AppDataLocation`` names for the app "ConvScope" (checked by a test):
    ``$XDG_DATA_HOME/ConvScope`` (``~/.local/share/ConvScope``) on Linux,
    ``~/Library/Application Support/ConvScope`` on macOS, ``%APPDATA%/ConvScope`` on Windows."""
    env = os.environ.get("CONVSCOPE_RUNS")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "ConvScope" / "runs"


def history_steps(limit: int) -> list[int]:
    """The steps whose checkpoints a run keeps for good, up to ``limit``: 0, then 1-2-5 per
    decade (1, 2, 5, 10, 20, 50, …): dense at the start, where features change fastest."""
    steps, base = [0], 1
    while base <= limit:
        steps += [m * base for m in (1, 2, 5) if m * base <= limit]
        base *= 10
    return steps


def next_history_step(step: int) -> int:
    """The first history step after ``step``."""
    base = 1
    while True:
        for m in (1, 2, 5):
            if m * base > step:
                return m * base
        base *= 10


EPOCH_EPS = 1e-9  # an epoch of 4,000 examples in batches of 128 ends at 4,000.000…


class SnapshotSchedule:
    """When a run keeps a snapshot of its weights: at the history steps and at the end
    of every epoch. The run writer and the live TensorBoard writer follow one schedule
    each; the training loop ends a chunk of steps at each such step."""

    def __init__(self, step: int = 0, epoch: float = 0.0) -> None:
        self.next_step = next_history_step(step) if step else 0  # a run from 0 keeps step 0
        self.epoch = math.floor(epoch + EPOCH_EPS)

    def due(self, step: int, epoch: float) -> bool:
        """Whether ``step`` (at ``epoch``) gets a snapshot; if so the schedule moves past it."""
        whole = math.floor(epoch + EPOCH_EPS)
        if step < self.next_step and whole <= self.epoch:
            return False
        self.next_step, self.epoch = next_history_step(step), whole
        return True


def history_name(step: int) -> str:
    return f"step-{step:08d}.npz"


HISTORY_RE = re.compile(r"step-(\d{8,})\.npz")


def new_run_id(name: str, now: float | None = None) -> str:
    """``YYYYMMDD-HHMMSS-<name>-<4 hex>``: sorts by creation time, unique, filesystem-safe."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[:40] or "run"
    return f"{stamp}-{slug}-{secrets.token_hex(2)}"


def host() -> str:
    return socket.gethostname()


def iso_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def read_json(path: Path) -> Any:
    """The JSON value in ``path``; OSError/ValueError if unreadable, too large or invalid."""
    with open(path, "rb") as f:
        data = f.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_JSON_BYTES >> 20} MiB")
    try:
        return json.loads(data)
    except RecursionError as e:
        raise ValueError(f"{path.name} is nested too deeply") from e


def json_safe(value: Any) -> Any:
    """``value`` with non-finite floats as None (JSON has no NaN or infinity)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, value: Any) -> None:
    """Write ``value`` to ``path`` as indented JSON, atomically (OSError if it cannot)."""
    atomic_write_bytes(path, (json.dumps(json_safe(value), indent=1) + "\n").encode())


def process_alive(pid: object) -> bool:
    """Whether process ``pid`` exists on this host (True when it cannot be told)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    if pid == os.getpid() or sys.platform == "win32":  # os.kill(pid, 0) would end it there
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True
