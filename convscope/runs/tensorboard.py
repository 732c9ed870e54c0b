"""Runs as TensorBoard event files (tensorboardX), exported afterwards or written live.

``<out>/<run directory's name>/events.out.tfevents.*``, one TensorBoard run per run:

* scalars ``train/loss``, ``train/acc``, ``train/learning_rate``, ``val/loss``,
  ``val/acc`` at each logged step, with the record's ``wall`` as wall time;
* the HParams plugin's session of the run: its hyperparameters (:data:`HPARAM_TYPES`:
  the starting configuration, the architecture, parameters and data set) and, as metrics,
  the scalars ``summary/best_val_acc``, ``summary/final_val_acc``, ``summary/best_val_loss``,
  ``summary/final_val_loss`` (``run.json``'s summary) and the last value of each curve;
  its end says finished (success), diverged (failure) or interrupted (unknown);
* images at each history checkpoint's step (``checkpoints/step-*.npz``):
  ``filters/conv<i>`` (the kernels, tiled as the Filters panel tiles them) and
  ``feature_maps/act<i>`` (every conv block's output for one fixed image: the run's
  first validation image, or the built-in digits' when the data cannot be opened),
  drawn by :mod:`convscope.viz.pictures`; ``feature_maps/input`` once, the image itself.

:func:`export_run` writes a finished (or running) run from its directory;
:class:`LiveTensorBoard` is called by ``convscope train --tensorboard DIR`` with each of
the loop's events, on the loop's thread: scalars there (microseconds each), the images
on a worker thread of their own from a host copy of the weights taken at the run
writer's history steps.
JAX is imported inside functions only (the feature maps); nothing here imports Qt.
"""

from __future__ import annotations

import math
import os
import queue
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from convscope.runs import layout as L
from convscope.runs.reader import HPARAMS, arch_summary, checkpoint_steps, read_curves, read_summary

# The hyperparameters of a session and the type each is written as, the same for every
# run (the HParams dashboard takes its columns from the first run it reads).
HPARAM_TYPES: dict[str, type] = {
    "optimizer": str, "learning_rate": float, "batch_size": float, "dropout": float, "weight_decay": float,
    "momentum": float, "augment": bool, "seed": float, "arch": str, "params": float, "data": str,
}
assert set(HPARAMS) <= set(HPARAM_TYPES)
TRAIN_TAGS = {"loss": "train/loss", "acc": "train/acc", "lr": "train/learning_rate"}
VAL_TAGS = {"val_loss": "val/loss", "val_acc": "val/acc"}
SUMMARY_TAGS = {k: f"summary/{k}" for k in ("best_val_acc", "final_val_acc", "best_val_loss", "final_val_loss")}
METRIC_TAGS = (*SUMMARY_TAGS.values(), *VAL_TAGS.values(), "train/loss", "train/acc")
END_STATUS = {"finished": "STATUS_SUCCESS", "stopped": "STATUS_SUCCESS", "diverged": "STATUS_FAILURE",
              "interrupted": "STATUS_UNKNOWN"}
EVENT_GLOB = "events.out.tfevents.*"


class ExportError(Exception):
    """A run that cannot be exported (one line: why)."""


# --------------------------------------------------------------------- summaries
def hparam_values(config: dict[str, Any], arch: dict[str, Any] | None, params: int, data: str) -> dict[str, Any]:
    """A run's hyperparameters, each of its :data:`HPARAM_TYPES` type (absent if unknown)."""
    raw = {k: config.get(k) for k in HPARAMS}
    raw.update(arch=arch_summary(arch) if isinstance(arch, dict) else "", params=params, data=data)
    out: dict[str, Any] = {}
    for key, kind in HPARAM_TYPES.items():
        v = raw.get(key)
        if kind is float and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out[key] = float(v)
        elif kind is bool and isinstance(v, bool):
            out[key] = v
        elif kind is str and v is not None:
            out[key] = str(v)
    return out


def _plugin_summary(tag: str, **data: Any) -> Any:
    from tensorboardX.proto.plugin_hparams_pb2 import HParamsPluginData
    from tensorboardX.proto.summary_pb2 import Summary, SummaryMetadata

    content = HParamsPluginData(version=0, **data).SerializeToString()
    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="hparams", content=content))
    return Summary(value=[Summary.Value(tag=tag, metadata=meta)])


def session_start(hparams: dict[str, Any], start: float) -> list[Any]:
    """The HParams plugin's experiment (columns) and session-start summaries of a run."""
    from tensorboardX.proto.api_pb2 import DataType, Experiment, HParamInfo, MetricInfo, MetricName
    from tensorboardX.proto.plugin_hparams_pb2 import SessionStartInfo

    kinds = {str: "DATA_TYPE_STRING", float: "DATA_TYPE_FLOAT64", bool: "DATA_TYPE_BOOL"}
    infos = [HParamInfo(name=k, type=DataType.Value(kinds[t])) for k, t in HPARAM_TYPES.items()]
    experiment = Experiment(hparam_infos=infos, metric_infos=[MetricInfo(name=MetricName(tag=t)) for t in METRIC_TAGS])
    ssi = SessionStartInfo(start_time_secs=start)
    for key, v in hparams.items():
        if isinstance(v, bool):
            ssi.hparams[key].bool_value = v
        elif isinstance(v, float):
            ssi.hparams[key].number_value = v
        else:
            ssi.hparams[key].string_value = v
    return [_plugin_summary("_hparams_/experiment", experiment=experiment),
            _plugin_summary("_hparams_/session_start_info", session_start_info=ssi)]


def session_end(status: str, end: float) -> Any | None:
    """The session-end summary for a run's status (None while it is running or paused)."""
    from tensorboardX.proto.api_pb2 import Status
    from tensorboardX.proto.plugin_hparams_pb2 import SessionEndInfo

    if status not in END_STATUS:
        return None
    sei = SessionEndInfo(status=Status.Value(END_STATUS[status]), end_time_secs=end)
    return _plugin_summary("_hparams_/session_end_info", session_end_info=sei)


# ------------------------------------------------------------------------ images
def builtin_image(shape: tuple[int, ...]) -> np.ndarray:
    """The built-in digits' first validation image, fitted to a model input ``shape``."""
    from convscope.data.dataset import load_dataset
    from convscope.data.images import fit_image

    return fit_image(load_dataset(None).x_val[0], tuple(shape))  # type: ignore[arg-type]


def run_validation(config: dict[str, Any], arch: Any) -> tuple[Any, str]:
    """The validation set of the data a run trained on (as ``--resume`` loads it), or
    (None, why not)."""
    from convscope.data import DataError
    from convscope.data.dataset import load_dataset

    origin = config.get("data_origin") or ""
    if not origin:
        return None, "the run does not say where its data came from"
    split = config.get("val_split") or [config.get("config", {}).get("val_fraction", 0.1), 0]
    h, w = arch.input_shape[:2]
    try:
        ds = load_dataset(origin, val_fraction=float(split[0]), seed=int(split[1]), image_size=h if h == w else None)
    except (DataError, OSError, ValueError, TypeError, IndexError) as e:
        return None, f"its data {origin} cannot be opened ({e})"
    if tuple(ds.image_shape) != tuple(arch.input_shape) or not len(ds.x_val):
        return None, f"its data {origin} has no validation images of the model's input {arch.input_shape}"
    return ds, ""


def run_image(config: dict[str, Any], arch: Any) -> tuple[np.ndarray | None, str]:
    """The first validation image of the data a run trained on, or (None, why not)."""
    ds, why = run_validation(config, arch)
    return (np.array(ds.x_val[0]), "") if ds is not None else (None, why)


def checkpoint_images(ckpt: Any, image: np.ndarray) -> dict[str, np.ndarray]:
    """``filters/conv<i>`` and ``feature_maps/act<i>`` pictures of a checkpoint (uint8 HWC)."""
    from convscope.probes.inspect import Inspector
    from convscope.viz.pictures import filter_picture, maps_picture

    out: dict[str, np.ndarray] = {}
    n = len(ckpt.arch.convs)
    for i in range(1, n + 1):
        out[f"filters/conv{i}"] = filter_picture(ckpt.params[f"conv{i}"]["w"])
    if n:
        taps = Inspector(ckpt.arch).run(ckpt.params, ckpt.state, ckpt.norm, image).taps
        for i in range(1, n + 1):
            out[f"feature_maps/act{i}"] = maps_picture(taps[f"act{i}"])
    return out


# ------------------------------------------------------------------------ writing
def prepare_dir(path: Path, *, replace: bool) -> None:
    """Create ``path``; with ``replace``, remove the event files an earlier export left
    there (and nothing else), so the run is not shown twice."""
    path.mkdir(parents=True, exist_ok=True)
    if replace:
        for old in path.glob(EVENT_GLOB):
            old.unlink()


def open_writer(path: Path, purge_step: int | None = None, flush_secs: int = 120) -> Any:
    from tensorboardX import SummaryWriter

    return SummaryWriter(logdir=str(path), purge_step=purge_step, flush_secs=flush_secs)


def _add_summary(tb: Any, summary: Any, step: int, wall: float) -> None:
    tb.file_writer.add_summary(summary, step, wall)


def _finite(v: float) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _iso_time(text: str) -> float | None:
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except (TypeError, ValueError):
        return None


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike,
               image_for: Callable[[dict[str, Any], Any], tuple[np.ndarray, str]] | None = None) -> dict[str, Any]:
    """Write the run at ``run_dir`` as event files into ``out_dir`` (replacing an earlier
    export there). ExportError if the run is damaged. Returns what was written:
    ``{"scalars": n, "images": n, "steps": [history steps], "notes": [lines]}``."""
    from convscope.config import ArchSpec
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    summary = read_summary(run_dir)
    if summary.damaged:
        raise ExportError(summary.damaged)
    try:
        arch = ArchSpec.from_dict(summary.config.get("arch"))  # type: ignore[arg-type]
    except (TypeError, ValueError, KeyError, AttributeError) as e:
        raise ExportError(f"config.json has no valid architecture ({e})") from e
    try:
        curves = read_curves(run_dir)
    except OSError as e:
        raise ExportError(f"metrics.jsonl cannot be read ({e.strerror or e})") from e
    walls = [w for w in curves.train["wall"] + curves.val["wall"] if _finite(w)]
    start = _iso_time(summary.created) or (min(walls) if walls else time.time())
    end = max(walls) if walls else start
    notes: list[str] = []
    prepare_dir(Path(out_dir), replace=True)
    tb = open_writer(Path(out_dir))
    written = {"scalars": 0, "images": 0, "steps": [], "notes": notes}
    try:
        hp = hparam_values(summary.config["config"], summary.config.get("arch"), summary.params, summary.data)
        for s in session_start(hp, start):
            _add_summary(tb, s, 0, start)
        for table, tags in ((curves.train, TRAIN_TAGS), (curves.val, VAL_TAGS)):
            for i, step in enumerate(table["step"]):
                wall = table["wall"][i] if _finite(table["wall"][i]) else start
                for key, tag in tags.items():
                    tb.add_scalar(tag, table[key][i], int(step), walltime=wall)
                    written["scalars"] += 1
        last = curves.last_step
        for key, tag in SUMMARY_TAGS.items():
            if _finite(summary.metrics.get(key)):
                tb.add_scalar(tag, float(summary.metrics[key]), last, walltime=end)
                written["scalars"] += 1
        history = checkpoint_steps(run_dir)
        image, why = (image_for or fixed_image)(summary.config, arch)
        if why and history:
            notes.append(f"feature maps of the built-in digits' first validation image: {why}")
        first = True
        for step, path in history.items():
            try:
                pictures = checkpoint_images(load_checkpoint(path), image)
            except (CheckpointError, ValueError) as e:  # ValueError: not this run's architecture
                notes.append(f"no images at step {step:,}: {e}")
                continue
            wall = _wall_at(curves, step, path)
            if first:
                from convscope.viz.pictures import image_picture

                pictures["feature_maps/input"] = image_picture(image)
                first = False
            for tag, picture in pictures.items():
                tb.add_image(tag, picture, step, walltime=wall, dataformats="HWC")
                written["images"] += 1
            written["steps"].append(step)
        sei = session_end(summary.status, end)
        if sei is not None:
            _add_summary(tb, sei, last, end)
    finally:
        tb.close()
    return written


def fixed_image(config: dict[str, Any], arch: Any) -> tuple[np.ndarray, str]:
    image, why = run_image(config, arch)
    return (image, "") if image is not None else (builtin_image(arch.input_shape), why)


def _wall_at(curves: Any, step: int, path: Path) -> float:
    """When the checkpoint of ``step`` was written: the wall time of the first record at
    or after it, else the file's modification time."""
    best = None
    for table in (curves.train, curves.val):
        for s, w in zip(table["step"], table["wall"], strict=True):
            if s >= step and _finite(w) and (best is None or (s, w) < best):
                best = (s, w)
    if best is not None:
        return float(best[1])
    try:
        return path.stat().st_mtime
    except OSError:
        return time.time()


# --------------------------------------------------------------------------- live
class LiveTensorBoard:
    """``convscope train --tensorboard DIR``: the run written live into ``DIR/<run>``.

    :meth:`observe` is called with each loop event on the loop's thread, beside the run
    writer's own ``observe``; :meth:`close` when training ended. A problem with the
    images is kept in :attr:`failure` (one line); scalars and training go on.
    """

    def __init__(self, out_dir: Path, run_writer: Any, flush_secs: int = 5) -> None:
        self.run_writer = run_writer
        self.dir = Path(out_dir) / Path(run_writer.dir).name
        self.dir.mkdir(parents=True, exist_ok=True)  # OSError: the caller says it cannot write there
        self.flush_secs = flush_secs
        self.failure = ""
        self._tb: Any = None
        self._image: np.ndarray | None = None
        self._snapshots = L.SnapshotSchedule()
        self._queue: queue.Queue[tuple[int, Path, float] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._first_image = True
        self._start = time.time()

    def observe(self, event: object, loop: Any) -> None:
        from convscope import events as ev

        if isinstance(event, ev.Started):
            self._started(event, loop)
        elif self._tb is None:
            return
        elif isinstance(event, ev.StepMetrics):
            now = time.time()
            for tag, value in (("train/loss", event.loss), ("train/acc", event.acc), ("train/learning_rate", event.lr)):
                self._tb.add_scalar(tag, value, event.step, walltime=now)
            self._maybe_images(event.step, loop)
        elif isinstance(event, ev.EvalMetrics):
            now = time.time()
            self._tb.add_scalar("val/loss", event.val_loss, event.step, walltime=now)
            self._tb.add_scalar("val/acc", event.val_acc, event.step, walltime=now)

    def _started(self, event: Any, loop: Any) -> None:
        if self._tb is None:
            # A resumed run: what an earlier writer logged after the checkpoint's step is
            # hidden, as the run's own "resume" record supersedes it (a new one: all of it).
            purge = event.step + 1 if event.step else 0
            self._tb = open_writer(self.dir, purge_step=purge, flush_secs=self.flush_secs)
            config = event.config.to_dict()
            data = getattr(loop.dataset, "name", "")
            hp = hparam_values(config, event.arch.to_dict(), event.num_params, data)
            for s in session_start(hp, self._start):
                _add_summary(self._tb, s, event.step, self._start)
            x_val = getattr(loop.dataset, "x_val", None)
            self._image = np.array(x_val[0]) if x_val is not None and len(x_val) else None
        self._snapshots = L.SnapshotSchedule(event.step, event.epoch)
        self._maybe_images(event.step, loop)

    def _maybe_images(self, step: int, loop: Any) -> None:
        """At the run writer's snapshot steps (the same rule: layout.SnapshotSchedule),
        a host copy of the weights (``loop.snapshot()``, ~1 ms) goes to the image thread;
        the writer's own snapshot file may still be on its way to the disk."""
        if not self._snapshots.due(step, loop.epoch):
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._work, name="convscope-tensorboard", daemon=True)
            self._worker.start()
        self._queue.put((step, loop.snapshot(), time.time()))

    def _work(self) -> None:
        from convscope.viz.pictures import image_picture

        while (item := self._queue.get()) is not None:
            step, ckpt, wall = item  # a Snapshot: arch, params, state, norm, as a checkpoint has
            try:
                if self._image is None or tuple(self._image.shape) != tuple(ckpt.arch.input_shape):
                    self._image = builtin_image(ckpt.arch.input_shape)
                pictures = checkpoint_images(ckpt, self._image)
                if self._first_image:
                    pictures["feature_maps/input"] = image_picture(self._image)
                    self._first_image = False
            except Exception as e:  # noqa: BLE001 — pictures are a side show: training goes on, the reason is kept
                why = str(e) if isinstance(e, (OSError, ValueError)) else f"{type(e).__name__}: {e}"
                self.failure = self.failure or f"no TensorBoard images at step {step:,}: {why}"
                continue
            for tag, picture in pictures.items():
                self._tb.add_image(tag, picture, step, walltime=wall, dataformats="HWC")

    def close(self, loop: Any) -> None:
        """Wait for the images still being drawn, write the summary metrics and the
        session's end, and close the event file."""
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
        if self._tb is None:
            return
        info = self.run_writer.info
        summary, now = info.get("summary", {}), time.time()
        step = int(getattr(loop, "step", summary.get("steps", 0)) or 0)
        for key, tag in SUMMARY_TAGS.items():
            if _finite(summary.get(key)):
                self._tb.add_scalar(tag, float(summary[key]), step, walltime=now)
        sei = session_end(str(info.get("status", "")), now)
        if sei is not None:
            _add_summary(self._tb, sei, step, now)
        self._tb.close()
        self._tb = None
