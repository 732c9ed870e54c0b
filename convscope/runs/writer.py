"""Writing one run directory while a TrainingLoop runs (layout: :mod:`convscope.runs.layout`).

:class:`RunWriter` is called with each of the loop's events on the loop's own thread
(``observe(event, loop)``), between steps, so it may read the loop's weights and
optimizer state without a lock. What it writes, and when:

* a metrics line per StepMetrics / EvalMetrics / live change / status change, flushed at once;
* ``checkpoints/latest.npz`` at most every ``checkpoint_every_s`` seconds (at an
  evaluation or when training pauses), and whenever training pauses or ends;
* ``checkpoints/step-NNNNNNNN.npz``, the run's snapshots: the weights (float16) without
  the optimizer state, at the log-spaced history steps (0, 1, 2, 5, 10, …) and at the end
  of every epoch (the loop ends a chunk of steps there, so each is of exactly that step);
* ``checkpoints/final.npz`` when training ends (``last_good.npz`` when it diverged);
* ``run.json`` (status and summary) when the status changes, and at most every
  ``summary_every_s`` seconds after an evaluation.

Every checkpoint and JSON file is written atomically (:mod:`convscope.atomic`). A write
that fails (a full disk, a folder removed) never stops training: the writer stops
writing, and :attr:`failure` says, in one line, what failed and what was kept.

Checkpoints are captured on the loop's thread (a copy of the weights and optimizer
state to the host: ~2 ms for the default model) and written by a thread of the
writer's own (~40–90 ms for its 10 MB, most of it the write and fsync), so training
does not wait for the disk. A newer ``latest.npz`` replaces one still waiting to be
written; :meth:`flush` (and :meth:`finish`) wait until everything asked for is on disk.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from convscope import __version__
from convscope import events as ev
from convscope.runs import layout as L
from convscope.runs.metrics import MetricsLog

NON_FINITE = "non-finite loss"  # the loop's reason for the pause that divergence causes


def default_name(arch: Any, config: Any) -> str:
    convs = "-".join(str(c.filters) for c in arch.convs) or "mlp"
    return f"cnn{convs}-{config.optimizer}-lr{config.learning_rate:g}"


class RunWriter:
    """One run directory being written. Create with :meth:`create` or :meth:`reopen`."""

    def __init__(self, run_dir: Path, info: dict[str, Any], *, checkpoint_every_s: float = 30.0,
                 summary_every_s: float = 2.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.dir = Path(run_dir)
        self.info = info
        self.checkpoint_every_s = checkpoint_every_s
        self.summary_every_s = summary_every_s
        self.clock = clock
        self.failure = ""  # one line once a write failed; nothing more is written then
        self.latest_step: int | None = None  # of the newest latest.npz asked for
        self.latest_saved: int | None = None  # of the newest latest.npz on disk
        self._saves: queue.Queue = queue.Queue()
        self._saver: threading.Thread | None = None
        self._lock = threading.Lock()
        self._latest_ckpt: Any = None  # the latest.npz waiting to be written
        self._last_latest = clock()
        self._last_summary = -1e9
        self._snapshots = L.SnapshotSchedule()
        self._step = int(info.get("summary", {}).get("steps", 0) or 0)
        self._epoch = 0.0
        self._metrics: MetricsLog | None = None
        self._clean_temp_files()
        self._metrics = MetricsLog(self.dir / L.METRICS)

    # ------------------------------------------------------------------ creation
    @classmethod
    def create(cls, root: str | os.PathLike, *, arch: Any, config: Any, dataset: Any, name: str | None = None,
               source: str = "cli", budget: dict[str, float] | None = None, device: str = "",
               run_dir: str | os.PathLike | None = None, init_from: dict[str, Any] | None = None,
               **kw: Any) -> RunWriter:
        """A new run under ``root`` (or exactly at ``run_dir``, which must not hold a run);
        ``init_from``: where its weights started (train/transfer.py's record), kept in
        run.json and config.json."""
        name = name or default_name(arch, config)
        path = Path(run_dir) if run_dir is not None else Path(root) / L.new_run_id(name)
        if holds_run(path):
            raise FileExistsError(f"{path} already holds a run; resume it or choose another directory")
        (path / L.CHECKPOINTS).mkdir(parents=True, exist_ok=True)
        split = list(dataset.val_split) if getattr(dataset, "val_split", None) is not None else None
        data = {"name": dataset.name, "summary": dataset.summary(), "origin": getattr(dataset, "origin", ""), "val_split": split,
                "train": len(dataset.y_train), "val": len(dataset.y_val), "classes": dataset.num_classes}
        now = L.iso_now()
        info = {"format": L.FORMAT, "version": L.VERSION, "id": path.name, "name": name, "status": "running",
                "created": now, "updated": now, "convscope": __version__, "host": socket.gethostname(),
                "pid": os.getpid(), "device": device, "source": source, "data": data, "tags": [], "notes": "",
                "summary": {"steps": 0, "epoch": 0.0, "params": _params(arch)},
                **({"init_from": init_from} if init_from else {})}
        L.write_json(path / L.CONFIG_JSON,
            {"arch": arch.to_dict(), "config": config.to_dict(), "data": dataset.summary(),
             "data_origin": getattr(dataset, "origin", ""), "val_split": split, "budget": budget,
             **({"init_from": init_from} if init_from else {})})
        L.write_json(path / L.RUN_JSON, info)  # last: a run exists once it does
        return cls(path, info, **kw)

    @classmethod
    def reopen(cls, run_dir: str | os.PathLike, step: int, **kw: Any) -> RunWriter:
        """Go on writing ``run_dir`` from its checkpoint of ``step``: a ``resume`` record
        supersedes what was logged after that step before the run stopped."""
        path = Path(run_dir)
        info = L.read_json(path / L.RUN_JSON)
        info.update(status="running", pid=os.getpid(), host=socket.gethostname(), updated=L.iso_now())
        w = cls(path, info, **kw)
        w._step = step
        w._snapshots = L.SnapshotSchedule(step, float(info.get("summary", {}).get("epoch", 0.0) or 0.0))
        w.latest_step = w.latest_saved = step
        w._append({"kind": "resume", "step": step})
        w._write_info()
        return w

    # ------------------------------------------------------------------- events
    def observe(self, event: object, loop: Any) -> None:
        """Record one of ``loop``'s events (call on the loop's thread, as it yields it)."""
        if self.failure:
            return
        if isinstance(event, ev.Started):
            self._step, self._epoch = event.step, event.epoch
            self.info["device"] = event.device
            self.info["summary"]["params"] = event.num_params
            self._snapshots = L.SnapshotSchedule(event.step, event.epoch)
            self._maybe_history(loop)
        elif isinstance(event, ev.StepMetrics):
            if self.info["status"] != "running":
                self.set_status("running")
            self._step, self._epoch = event.step, event.epoch
            self._append({"kind": "step", "step": event.step, "epoch": round(event.epoch, 6), "loss": event.loss,
                          "acc": event.acc, "lr": event.lr, "time": round(event.time, 4),
                          "examples_per_s": round(event.examples_per_s, 1)})
            self._maybe_history(loop)
        elif isinstance(event, ev.EvalMetrics):
            self._append({"kind": "eval", "step": event.step, "epoch": round(event.epoch, 6),
                          "val_loss": event.val_loss, "val_acc": event.val_acc, "time": round(event.time, 4)})
            self._summarise(event)
            if self.clock() - self._last_latest >= self.checkpoint_every_s:
                self.save_latest(loop)
        elif isinstance(event, ev.HyperParamsChanged):
            self._append({"kind": "hparams", "step": event.step, "epoch": round(self._epoch, 6),
                          "changes": {k: list(v) for k, v in event.changes.items()}})
        elif isinstance(event, ev.Paused):
            status = "diverged" if event.reason == NON_FINITE else "paused"
            self.set_status(status, event.reason)
            if self.latest_step != loop.step:
                self.save_latest(loop)
            self.flush()  # a pause is when a person looks: what it saved (or failed to) is known now

    def _maybe_history(self, loop: Any) -> None:
        if self._snapshots.due(loop.step, loop.epoch):
            self._checkpoint(loop, L.history_name(loop.step), snapshot=True)

    # ------------------------------------------------------------------ writing
    def save_latest(self, loop: Any) -> None:
        if self._checkpoint(loop, L.LATEST):
            self.latest_step = loop.step
            self._last_latest = self.clock()

    def finish(self, status: str, loop: Any | None = None, reason: str = "") -> None:
        """End the run with ``status``; with ``loop``, save its final checkpoint
        (``final.npz``; ``last_good.npz`` when it diverged; only ``latest.npz`` when
        interrupted) first. Returns once everything is on disk."""
        if loop is not None and not self.failure:
            last = {"finished": L.FINAL, "stopped": L.FINAL, "diverged": "last_good.npz"}.get(status)
            if last is not None:  # written once; latest.npz becomes a link to it (a window closes sooner)
                if self._checkpoint(loop, last, also_latest=self.latest_step != loop.step):
                    self.latest_step = loop.step
            elif self.latest_step != loop.step:
                self.save_latest(loop)
        self.flush()
        if not self.failure:
            self.set_status(status, reason)
            if self._metrics is not None:
                try:
                    self._metrics.fsync()
                except OSError as e:
                    self._fail("metrics.jsonl", e)
        self.close()

    def flush(self) -> None:
        """Wait until every checkpoint asked for is written (or has failed)."""
        if self._saver is not None:
            self._saves.join()

    def set_status(self, status: str, reason: str = "") -> None:
        assert status in L.STATUSES, status
        self.info["status"] = status
        self._append({"kind": "status", "step": self._step, "status": status, "reason": reason})
        self._write_info()

    def close(self) -> None:
        self.flush()
        if self._saver is not None:
            self._saves.put(None)
            self._saver = None
        if self._metrics is not None:
            try:
                self._metrics.close()
            except OSError as e:
                self._fail("metrics.jsonl", e)
            self._metrics = None

    def _checkpoint(self, loop: Any, name: str, also_latest: bool = False, snapshot: bool = False) -> bool:
        """Capture the loop's state now and have the saver thread write it as ``name``
        (and, with ``also_latest``, make ``latest.npz`` the same file). ``snapshot``: the
        weights alone, as float16 (a tenth of a resumable checkpoint of the default model)."""
        if self.failure or self._gone():
            return False
        ckpt = loop.checkpoint()
        if snapshot:
            ckpt = dataclasses.replace(ckpt, resume=None)
        if self._saver is None:
            self._saver = threading.Thread(target=self._save_forever, name="convscope-run-writer", daemon=True)
            self._saver.start()
        if name == L.LATEST:
            with self._lock:
                queued, self._latest_ckpt = self._latest_ckpt is not None, ckpt
            if queued:
                return True  # the one waiting is replaced by this newer one
            self._saves.put((name, None, False, False))
        else:
            self._saves.put((name, ckpt, also_latest, snapshot))
        return True

    def _save_forever(self) -> None:
        from convscope.train.checkpoint import CheckpointError, save_checkpoint

        while True:
            item = self._saves.get()
            try:
                if item is None:
                    return
                name, ckpt, also_latest, half = item
                if ckpt is None:
                    with self._lock:
                        ckpt, self._latest_ckpt = self._latest_ckpt, None
                if ckpt is None or self.failure:
                    continue
                try:
                    save_checkpoint(self.dir / L.CHECKPOINTS / name, ckpt, half=half)
                except CheckpointError as e:
                    self._fail(f"checkpoints/{name}", e)
                    continue
                if also_latest:
                    try:
                        _same_file(self.dir / L.CHECKPOINTS / name, self.dir / L.CHECKPOINTS / L.LATEST)
                    except OSError as e:
                        self._fail(f"checkpoints/{L.LATEST}", e)
                        continue
                if name == L.LATEST or also_latest:
                    self.latest_saved = ckpt.step
            finally:
                self._saves.task_done()

    def _append(self, record: dict[str, Any]) -> None:
        if self.failure or self._metrics is None:
            return
        record["wall"] = round(time.time(), 3)
        try:
            self._metrics.append(record)
        except OSError as e:
            self._fail("metrics.jsonl", e)

    def _summarise(self, e: ev.EvalMetrics) -> None:
        s = self.info["summary"]
        s.update(steps=e.step, epoch=round(e.epoch, 4), final_val_loss=e.val_loss, final_val_acc=e.val_acc,
                 train_time=round(e.time, 2))
        if e.val_acc == e.val_acc and e.val_acc >= s.get("best_val_acc", -1.0):
            s["best_val_acc"], s["best_step"] = e.val_acc, e.step
        if e.val_loss == e.val_loss and e.val_loss <= s.get("best_val_loss", float("inf")):
            s["best_val_loss"] = e.val_loss
        if self.clock() - self._last_summary >= self.summary_every_s:
            self._write_info()

    def _gone(self) -> bool:
        """The run directory was deleted (or moved) under the writer: it stops, rather
        than let the atomic writes create a new directory beside lost metrics."""
        if self.dir.is_dir():
            return False
        self._fail(".", FileNotFoundError(2, "the run directory was deleted or moved"))
        return True

    def _write_info(self) -> None:
        if self.failure or self._gone():
            return
        self.info["updated"] = L.iso_now()
        self.info["summary"]["steps"] = max(self._step, int(self.info["summary"].get("steps", 0) or 0))
        try:
            L.write_json(self.dir / L.RUN_JSON, self.info)
        except OSError as e:
            self._fail("run.json", e)
        self._last_summary = self.clock()

    def _fail(self, what: str, e: BaseException) -> None:
        if self.failure:
            return
        if threading.current_thread() is not self._saver:
            self.flush()  # what is being written lands first, so "Kept" is what is on disk
        cause = e.__cause__ if isinstance(e.__cause__, OSError) else e
        why = getattr(cause, "strerror", None) or str(cause)
        kept = (f"checkpoints/latest.npz of step {self.latest_saved}" if self.latest_saved is not None
                else "no checkpoint")
        self.failure = (f"cannot write {self.dir / what} ({why}); the run is no longer recorded. Kept: the metrics "
                        f"up to step {self._step} and {kept}")

    def _clean_temp_files(self) -> None:
        """Temporary files a killed writer left behind (``.<name>.*.tmp``) go."""
        for folder in (self.dir, self.dir / L.CHECKPOINTS):
            if folder.is_dir():
                for tmp in folder.glob(".*.tmp"):
                    tmp.unlink(missing_ok=True)


def _same_file(src: Path, dst: Path) -> None:
    """Make ``dst`` the file ``src`` is, atomically: a hard link (no copy), or a copy
    where the file system has none; then renamed over ``dst``."""
    import secrets
    import shutil

    tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    try:
        os.replace(tmp, dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def holds_run(path: Path) -> bool:
    """Whether ``path`` holds a run (of this format, or a ``convscope train`` directory of
    before it: metrics or checkpoints); a lone config.json is a creation that was cut short."""
    ckpts = path / L.CHECKPOINTS
    return ((path / L.RUN_JSON).exists() or (path / L.METRICS).exists()
            or (ckpts.is_dir() and any(p.suffix == ".npz" for p in ckpts.iterdir())))


def _params(arch: Any) -> int:
    from convscope.shapes import total_params

    return int(total_params(arch))
