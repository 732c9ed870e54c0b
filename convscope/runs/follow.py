"""Following a run that another process writes (on this machine, or on another one into a
shared or synced folder), by polling: each :meth:`Follower.poll` reads only the bytes
appended to ``metrics.jsonl`` since the last one, and stats ``run.json`` and
``checkpoints/latest.npz`` (a few system calls when nothing changed). Polling rather than
a file watcher because watchers miss changes on network and synced folders, where
following from another machine happens.

Nothing here raises for what the other process does: a half-written last line waits for
its newline, a truncated or replaced metrics file is read again from the start, a run
that finishes, diverges or is deleted is a :attr:`FollowUpdate.status_line`.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convscope.runs import layout as L
from convscope.runs.metrics import Curves, read_records
from convscope.runs.reader import _zip_complete, effective_status

ENDED = ("finished", "diverged", "interrupted", "stopped")


@dataclass
class FollowUpdate:
    records: list[dict] = field(default_factory=list)  # new metrics records, in order
    restarted: bool = False  # the metrics file was replaced: ``records`` are all of it again
    checkpoint: Path | None = None  # a new complete latest.npz to show
    status: str = ""  # the run's status ("" if unknown)
    status_line: str = ""  # for people: what the followed run is doing
    gone: bool = False  # the run directory no longer exists
    ended: bool = False  # finished, diverged, interrupted or stopped


class Follower:
    """Yields what is new in one run directory at each :meth:`poll`."""

    def __init__(self, run_dir: str | os.PathLike, clock: Any = time.time) -> None:
        self.dir = Path(run_dir)
        self.clock = clock
        self.curves = Curves()
        self.skipped = 0
        self._offset = 0
        self._inode: int | None = None
        self._ckpt_sig: tuple[int, int, int] | None = None
        self._info_sig: tuple[int, int] | None = None
        self.info: dict[str, Any] = {}

    def poll(self) -> FollowUpdate:
        up = FollowUpdate()
        if not self.dir.is_dir():
            up.gone, up.ended = True, True
            up.status_line = f"{self.dir.name}: the run directory is gone (deleted or moved)"
            return up
        self._poll_info(up)
        self._poll_metrics(up)
        self._poll_checkpoint(up)
        up.status = effective_status(self.info) if self.info else ""
        up.ended = up.status in ENDED
        up.status_line = self._describe(up)
        return up

    def _poll_info(self, up: FollowUpdate) -> None:
        path = self.dir / L.RUN_JSON
        try:
            st = path.stat()
        except OSError:
            return
        sig = (st.st_mtime_ns, st.st_size)
        if sig == self._info_sig:
            return
        try:
            info = L.read_json(path)
        except (OSError, ValueError):
            return  # replaced between stat and read, or being replaced: next poll
        if isinstance(info, dict):
            self.info, self._info_sig = info, sig

    def _poll_metrics(self, up: FollowUpdate) -> None:
        path = self.dir / L.METRICS
        try:
            st = path.stat()
        except OSError:
            return
        if st.st_ino != self._inode or st.st_size < self._offset:
            if self._inode is not None:
                up.restarted = True
            self._inode, self._offset, self.curves = st.st_ino, 0, Curves()
        if st.st_size == self._offset:
            return
        try:
            records, self._offset, skipped = read_records(path, self._offset)
        except OSError:
            return
        self.skipped += skipped
        self.curves.add(records)
        up.records = records

    def _poll_checkpoint(self, up: FollowUpdate) -> None:
        path = self.dir / L.CHECKPOINTS / L.LATEST
        try:
            st = path.stat()
        except OSError:
            return
        sig = (st.st_ino, st.st_mtime_ns, st.st_size)
        if sig != self._ckpt_sig and _zip_complete(path):
            self._ckpt_sig = sig
            up.checkpoint = path

    def _describe(self, up: FollowUpdate) -> str:
        name = str(self.info.get("name", self.dir.name))
        step = self.curves.last_step
        what = {"running": "running", "paused": "paused", "finished": "finished", "diverged": "diverged",
                "interrupted": "interrupted (its writer stopped without finishing)",
                "stopped": "stopped"}.get(up.status, up.status or "waiting for run.json")
        line = f"Following {name}: {what}, step {step:,}"
        try:
            age = self.clock() - (self.dir / L.METRICS).stat().st_mtime
        except OSError:
            age = None
        if up.status == "running" and age is not None and age > 60:
            line += f"; nothing new for {age / 60:.0f} min"
        if self.skipped:
            line += f"; {self.skipped} unreadable line{'s' if self.skipped > 1 else ''} skipped"
        return line
