"""Following a run another process writes, and replaying a run's curves.

:class:`RunFollowing` polls a run directory with :class:`convscope.runs.Follower` on a
GUI-thread timer (a poll is a few ``stat`` calls and a read of the bytes appended since
the last one) and hands what is new to the panels **as the live loop's events**, through
``session.bridge.deliver``: metrics records become ``StepMetrics`` / ``EvalMetrics`` /
``HyperParamsChanged``, a new complete ``checkpoints/latest.npz`` becomes a
``Snapshot`` (read off the GUI thread). So where a panel's snapshot comes from stays one
choice, made here and in the loop, and no panel knows which (shared/DESIGN.md).

Nothing the other process does raises: a half-written line waits, a replaced metrics
file replays from the start, a run that ends, diverges or is deleted is a status line.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from convscope import events as ev
from convscope.config import ArchSpec, TrainConfig
from convscope.runs import Follower
from convscope.runs.metrics import Curves
from convscope.runs.resume import ResumeError, read_run_config
from convscope.ui.probe_runner import ProbeRunner

log = logging.getLogger(__name__)

POLL_MS = 500
MAX_POLL_TIMES = 10_000


def _num(v: Any) -> float:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else math.nan


def _step(v: Any) -> int | None:
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def records_to_events(records: Iterable[dict], config: TrainConfig) -> tuple[list[Any], TrainConfig]:
    """The loop's events for ``metrics.jsonl`` records, and the configuration after the
    live changes among them (records that make no sense are skipped)."""
    out: list[Any] = []
    for r in records:
        kind, step = r.get("kind"), _step(r.get("step"))
        if step is None:
            continue
        if kind == "step":
            out.append(ev.StepMetrics(step, _num(r.get("epoch")), _num(r.get("loss")), _num(r.get("acc")),
                                      _num(r.get("lr")), _num(r.get("examples_per_s")), _num(r.get("time"))))
        elif kind == "eval":
            out.append(ev.EvalMetrics(step, _num(r.get("epoch")), _num(r.get("val_loss")), _num(r.get("val_acc")),
                                      _num(r.get("time"))))
        elif kind == "hparams" and isinstance(r.get("changes"), dict):
            pairs = {k: tuple(v) for k, v in r["changes"].items() if isinstance(v, list) and len(v) == 2}
            try:
                config = config.replace(**{k: new for k, (_old, new) in pairs.items()})
            except (TypeError, ValueError):
                pass  # a change this version cannot take: the marker is still drawn
            if pairs:
                out.append(ev.HyperParamsChanged(step, pairs, config))
    return out, config


def curves_to_events(curves: Curves, config: TrainConfig, upto: int | None = None) -> list[Any]:
    """The events that redraw ``curves`` (up to step ``upto``): train, validation, changes."""
    limit = math.inf if upto is None else upto
    t, v = curves.train, curves.val
    out: list[Any] = [ev.StepMetrics(int(s), t["epoch"][i], t["loss"][i], t["acc"][i], t["lr"][i], math.nan,
                                     t["time"][i]) for i, s in enumerate(t["step"]) if s <= limit]
    out += [ev.EvalMetrics(int(s), v["epoch"][i], v["val_loss"][i], v["val_acc"][i], v["time"][i])
            for i, s in enumerate(v["step"]) if s <= limit]
    for step, changes in curves.changes:
        if step <= limit:
            events, config = records_to_events([{"kind": "hparams", "step": step, "changes": changes}], config)
            out += events
    return out


def run_model(run_dir: Path) -> tuple[ArchSpec, TrainConfig, dict[str, Any]]:
    """The run's architecture, starting configuration and config.json (ResumeError with
    the reason when it is not a run this version can read)."""
    cfg = read_run_config(run_dir)
    try:
        return ArchSpec.from_dict(cfg["arch"]), TrainConfig.from_dict(cfg["config"]), cfg
    except (TypeError, ValueError, KeyError) as e:
        raise ResumeError(f"config.json holds no usable model ({e})") from e


def fits(arch: ArchSpec, dataset: Any) -> str:
    """"" when ``arch`` can run on ``dataset``'s images, else why not."""
    shape, classes = tuple(int(v) for v in dataset.image_shape), int(dataset.num_classes)
    if tuple(arch.input_shape) == shape and arch.num_classes == classes:
        return ""
    return (f"its model takes {'×'.join(map(str, arch.input_shape))} images of {arch.num_classes} classes; "
            f"the open data set ({getattr(dataset, 'name', '?')}) has {'×'.join(map(str, shape))} images of "
            f"{classes}: open the run's data set first")


class RunFollowing(QObject):
    """Shows one run directory that another process writes, while :meth:`start`-ed."""

    line_changed = Signal(str)  # "Following <run>: running, step 1,234 …"
    ended = Signal(str)  # the run finished, diverged, was interrupted or deleted: why

    def __init__(self, session: Any, interval_ms: int = POLL_MS) -> None:
        super().__init__(session)
        self.session = session
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self.poll)
        self.loader = ProbeRunner("convscope-follow-checkpoint", self)
        self.loader.finished.connect(self._on_loaded)
        self.loader.errored.connect(lambda _tag, message: self._set_note(f"latest.npz not shown ({message})"))
        session.state_changed.connect(self._on_state)
        self.follower: Follower | None = None
        self.line = ""
        self.snapshot_step: int | None = None  # of the checkpoint shown
        self.poll_seconds: list[tuple[float, int]] = []  # (GUI-thread seconds, records) per poll
        self._config = TrainConfig()
        self._arch: ArchSpec | None = None
        self._note = ""
        self._status = ""
        self._was_ended = False
        self._announced = False
        self._serial = 0

    @property
    def run_dir(self) -> Path | None:
        return None if self.follower is None else self.follower.dir

    def start(self, run_dir: str | Path) -> str:
        """Follow ``run_dir``; returns why it cannot be followed ("" when it is)."""
        run_dir = Path(run_dir)
        try:
            arch, config, _cfg = run_model(run_dir)
        except ResumeError as e:
            return str(e)
        why = fits(arch, self.session.dataset)
        if why:
            return why
        self.stop(resume_training=False)
        self.session.begin_follow(run_dir)
        self._serial += 1
        self.follower = Follower(run_dir)
        self._arch, self._config = arch, config
        self.snapshot_step, self._note, self._status, self._was_ended, self.line = None, "", "", False, ""
        self._announced = False
        self.poll()
        self.timer.start()
        return ""

    def stop(self, resume_training: bool = True) -> None:
        """Stop following; with ``resume_training`` the window goes back to a live loop."""
        if self.follower is None:
            return
        self.timer.stop()
        self.loader.cancel()
        self.follower = None
        self._serial += 1
        self.line = ""
        self.line_changed.emit("")
        if resume_training:
            self.session.end_follow()

    def _on_state(self, state: str) -> None:
        if state != "following" and self.follower is not None:  # e.g. a new data set: training again
            self.stop(resume_training=False)

    # ------------------------------------------------------------------ polling
    def poll(self) -> None:
        f = self.follower
        if f is None:
            return
        t0 = time.perf_counter()
        try:
            up = f.poll()
        except OSError as e:  # the follower tolerates what it expects; anything else is a line too
            self._emit_line(f"Following {f.dir.name}: cannot read it ({e.strerror or e})")
            return
        bridge = self.session.bridge
        first, self._announced = not self._announced, True
        if first or up.restarted or any(r.get("kind") == "resume" for r in up.records):
            self._announce()  # clears the curves; then all of them again, superseded steps gone
            for event in curves_to_events(f.curves, self._config):
                bridge.deliver(event)
        elif up.records:
            events, self._config = records_to_events(up.records, self._config)
            for event in events:
                bridge.deliver(event)
        if up.checkpoint is not None:
            self._load(up.checkpoint)
        self._status = up.status_line
        self._emit_line(self._composed())
        if up.ended and not self._was_ended:
            self.ended.emit(up.status_line)
        self._was_ended = up.ended
        if len(self.poll_seconds) < MAX_POLL_TIMES:
            self.poll_seconds.append((time.perf_counter() - t0, len(up.records)))

    def _announce(self) -> None:
        """A Started for the followed model: the panels take it as a new model."""
        assert self._arch is not None
        from convscope.shapes import total_params

        info = self.follower.info if self.follower is not None else {}
        data = info.get("data") if isinstance(info.get("data"), dict) else {}
        sizes = [v if isinstance(v := data.get(k), int) and not isinstance(v, bool) else 0 for k in ("train", "val")]
        device = str(info.get("device") or "another process")[:80]
        self.session.bridge.deliver(ev.Started(self._arch, self._config, f"followed: {device}",
                                               int(total_params(self._arch)), sizes[0], sizes[1]))

    def _emit_line(self, line: str) -> None:
        if line != self.line:
            self.line = line
            self.line_changed.emit(line)

    def _composed(self) -> str:
        return self._status + (f"; {self._note}" if self._note else "")

    def _set_note(self, note: str) -> None:
        self._note = note
        if self.follower is not None and self._status:
            self._emit_line(self._composed())

    # ------------------------------------------------------------- checkpoints
    def _load(self, path: Path) -> None:
        dataset = self.session.dataset

        def job(_ctx: Any) -> Any:  # on the loader's thread
            from convscope.train.checkpoint import CheckpointError, load_checkpoint

            try:
                ckpt = load_checkpoint(path)
            except CheckpointError as e:
                return str(e)
            why = fits(ckpt.arch, dataset)
            if why:
                return why
            norm = ckpt.norm
            if norm is None:
                from convscope.train.augment import data_norm

                norm = data_norm(dataset.x_train, ckpt.config.normalization)
            return ckpt, ev.Snapshot(ckpt.step, ckpt.arch, ckpt.params, ckpt.state, norm)

        self.loader.submit(self._serial, job)

    def _on_loaded(self, serial: Any, result: Any) -> None:
        if serial != self._serial or self.follower is None:
            return  # stopped, or another run followed since
        if isinstance(result, str):
            self._set_note(f"latest.npz not shown ({result})")
            return
        ckpt, snapshot = result
        if ckpt.arch != self._arch:  # its model changed (another Apply in the writer): a new model
            self._arch, self._config = ckpt.arch, ckpt.config
            self._announce()
            for event in curves_to_events(self.follower.curves, self._config):
                self.session.bridge.deliver(event)
        self.snapshot_step = snapshot.step
        self._set_note("")
        self.session.bridge.deliver(snapshot)
