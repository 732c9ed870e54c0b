"""Reading run directories, whatever state they are in, and the user's edits to them.

:func:`list_runs` reads only each run's small JSON files (never its metrics or
checkpoints), so a root of 1,000 runs lists in well under a second
(``benchmarks/bench_runs.py``). A directory that is not a run, or a damaged one, is
listed with the reason in :attr:`RunSummary.damaged`, never raised.

The user's name, tags and notes live in ``annotations.json`` beside ``run.json``, a file
the writer never touches, so editing them while another process trains cannot race with
the writer's own updates of ``run.json``.
"""

from __future__ import annotations

import os
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from convscope.runs import layout as L
from convscope.runs.metrics import Curves, read_records

ANNOTATIONS = "annotations.json"
# The hyperparameters a comparison shows, from config.json's "config" (TrainConfig).
HPARAMS = ("optimizer", "learning_rate", "batch_size", "dropout", "weight_decay", "momentum", "augment", "seed")
METRICS = ("best_val_acc", "final_val_acc", "best_val_loss", "final_val_loss", "steps", "train_time")


@dataclass
class RunSummary:
    """One row of a comparison: what ``run.json``, ``config.json`` and ``annotations.json`` say."""

    dir: Path
    id: str
    name: str = ""
    status: str = ""  # effective: a dead writer's "running" reads "interrupted"
    damaged: str = ""  # why the run cannot be used; "" when it can
    created: str = ""
    updated: str = ""
    host: str = ""
    source: str = ""
    data: str = ""
    arch: str = ""  # e.g. "conv 32-64 k3, dense 128, relu"
    params: int = 0
    tags: list[str] = field(default_factory=list)
    notes: str = ""
    hparams: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)  # config.json, as read
    start: str = ""  # "scratch", or where its weights came from (a transfer) and what was frozen

    def as_row(self) -> dict[str, Any]:
        """A flat dict (the columns of ``convscope runs --json`` and the CSV export)."""
        row = {"id": self.id, "name": self.name, "status": self.status, "damaged": self.damaged,
               "created": self.created, "host": self.host, "data": self.data, "arch": self.arch,
               "params": self.params, "start": self.start, **self.hparams, **self.metrics,
               "tags": " ".join(self.tags), "notes": self.notes, "dir": str(self.dir)}
        return row


def arch_summary(arch: dict[str, Any]) -> str:
    try:
        convs = arch.get("convs", [])
        parts = []
        if convs:
            kernels = sorted({int(c.get("kernel", 3)) for c in convs})
            parts.append("conv " + "-".join(str(int(c.get("filters", 0))) for c in convs)
                         + " k" + "/".join(map(str, kernels)))
        dense = arch.get("dense", [])
        if dense:
            parts.append("dense " + "-".join(str(int(d)) for d in dense))
        parts.append(str(arch.get("activation", "")) + (" bn" if arch.get("batch_norm") else ""))
        return ", ".join(parts)
    except (AttributeError, TypeError, ValueError):
        return "?"


def _zip_complete(path: Path) -> bool:
    """Whether ``path`` ends with a zip's end-of-central-directory record (a truncated
    checkpoint does not): 22 bytes read, nothing parsed."""
    try:
        size = path.stat().st_size
        if size < 22:
            return False
        with open(path, "rb") as f:
            f.seek(size - 22)
            return f.read(4) == b"PK\x05\x06"
    except OSError:
        return False


def effective_status(info: dict[str, Any]) -> str:
    status = str(info.get("status", ""))
    if status in ("running", "paused") and info.get("host") == socket.gethostname() \
            and not L.process_alive(info.get("pid")):
        return "interrupted"
    return status


def read_summary(run_dir: str | os.PathLike) -> RunSummary:
    """The run at ``run_dir`` as a table row; damaged runs say why in ``damaged``."""
    d = Path(run_dir)
    s = RunSummary(dir=d, id=d.name, name=d.name)
    info_path = d / L.RUN_JSON
    if not info_path.exists():
        s.damaged = ("run.json is missing" if (d / L.METRICS).exists() or (d / L.CHECKPOINTS).is_dir()
                     else "not a run (no run.json)")
        return s
    try:
        info = L.read_json(info_path)
    except (OSError, ValueError) as e:
        s.damaged = f"run.json cannot be read ({e})"
        return s
    if not isinstance(info, dict) or info.get("format") != L.FORMAT:
        s.damaged = "run.json is not a ConvScope run"
        return s
    version = info.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        s.damaged = f"run.json has no valid format version ({str(version)[:20]})"
        return s
    if version > L.VERSION:
        s.damaged = f"written by a newer ConvScope (run format {version}; this version reads {L.VERSION})"
        return s
    s.id = str(info.get("id", d.name))[:200]
    s.name = str(info.get("name", s.id))[:200]
    s.status = effective_status(info)
    for key in ("created", "updated", "host", "source"):
        setattr(s, key, str(info.get(key, ""))[:200])
    data = info.get("data") if isinstance(info.get("data"), dict) else {}
    s.data = str(data.get("name", ""))[:200]
    summary = info.get("summary") if isinstance(info.get("summary"), dict) else {}
    s.metrics = {k: summary[k] for k in METRICS if _is_num(summary.get(k))}
    if _is_num(summary.get("params")):
        s.params = int(summary["params"])
    tags, notes = info.get("tags", []), info.get("notes", "")
    try:
        ann = L.read_json(d / ANNOTATIONS) if (d / ANNOTATIONS).exists() else {}
    except (OSError, ValueError):
        ann = {}
    if isinstance(ann, dict):
        s.name = str(ann.get("name", s.name))[:200]
        tags, notes = ann.get("tags", tags), ann.get("notes", notes)
    s.tags = [str(t)[:100] for t in tags][:50] if isinstance(tags, list) else []
    s.notes = str(notes)[:10_000]
    try:
        config = L.read_json(d / L.CONFIG_JSON)
        if not isinstance(config, dict) or not isinstance(config.get("config"), dict):
            raise ValueError("it is not a run configuration")
    except (OSError, ValueError) as e:
        s.damaged = f"config.json cannot be read ({e})"
        return s
    s.config = config
    s.hparams = {k: config["config"][k] for k in HPARAMS if k in config["config"]}
    s.start = start_summary(config)
    if isinstance(config.get("arch"), dict):
        s.arch = arch_summary(config["arch"])
    ckpts = d / L.CHECKPOINTS
    for name in (L.LATEST, L.FINAL):
        if (ckpts / name).exists() and not _zip_complete(ckpts / name):
            s.damaged = f"checkpoints/{name} is truncated"
    return s


def start_summary(config: dict[str, Any]) -> str:
    """How a run's weights began, in a few words: "scratch", or "fine-tuned from digits
    @ 300 (frozen conv1, conv2)" for a run started from another's checkpoint."""
    init = config.get("init_from")
    if not isinstance(init, dict):
        return "scratch"
    data = init.get("data") if isinstance(init.get("data"), dict) else {}
    source = str(data.get("name") or Path(str(init.get("checkpoint", "?"))).parent.parent.name)[:60]
    step = init.get("step")
    frozen = config.get("config", {}).get("frozen") or []
    text = f"from {source}" + (f" @ {step:,}" if isinstance(step, int) else "")
    return text + (f" (frozen {', '.join(map(str, frozen))})" if frozen else "")


def _is_num(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def list_runs(root: str | os.PathLike) -> list[RunSummary]:
    """Every directory under ``root`` as a RunSummary, newest first ([] if no root)."""
    root = Path(root)
    try:
        entries = [e for e in os.scandir(root) if e.is_dir() and not e.name.startswith(".")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    runs = [read_summary(e.path) for e in entries]
    runs.sort(key=lambda r: (r.created or "", r.id), reverse=True)
    return runs


def read_curves(run_dir: str | os.PathLike) -> Curves:
    """All of a run's metrics (superseded records dropped, garbage lines counted in
    ``skipped``); empty curves when there is no metrics file."""
    c = Curves()
    path = Path(run_dir) / L.METRICS
    if path.exists():
        records, _, skipped = read_records(path, complete=True)
        c.add(records)
        c.skipped += skipped
    return c


def checkpoint_steps(run_dir: str | os.PathLike) -> dict[int, Path]:
    """The run's history checkpoints by step (``step-NNNNNNNN.npz``)."""
    out = {}
    folder = Path(run_dir) / L.CHECKPOINTS
    if folder.is_dir():
        for p in folder.iterdir():
            m = L.HISTORY_RE.fullmatch(p.name)
            if m:
                out[int(m.group(1))] = p
    return dict(sorted(out.items()))


# ----------------------------------------------------------------- the user's edits
def annotate(run_dir: str | os.PathLike, **changes: Any) -> None:
    """Set the run's ``name`` (non-empty), ``tags`` (list of words) and/or ``notes``."""
    d = Path(run_dir)
    if not (d / L.RUN_JSON).exists():
        raise ValueError(f"{d}: not a run")
    try:
        ann = L.read_json(d / ANNOTATIONS) if (d / ANNOTATIONS).exists() else {}
    except (OSError, ValueError):
        ann = {}
    if not isinstance(ann, dict):
        ann = {}
    for key, value in changes.items():
        if key == "name":
            value = str(value).strip()
            if not value:
                raise ValueError("a run's name cannot be empty")
        elif key == "tags":
            value = sorted({str(t).strip() for t in value if str(t).strip()})
        elif key == "notes":
            value = str(value)
        else:
            raise ValueError(f"not an annotation: {key}")
        ann[key] = value
    L.write_json(d / ANNOTATIONS, ann)


def mark_interrupted(run_dir: str | os.PathLike) -> bool:
    """Write "interrupted" into the run.json of a run whose writer on this host died
    while it said running or paused; True if it did."""
    d = Path(run_dir)
    try:
        info = L.read_json(d / L.RUN_JSON)
    except (OSError, ValueError):
        return False
    if not isinstance(info, dict) or effective_status(info) != "interrupted" or info.get("status") == "interrupted":
        return False
    info["status"] = "interrupted"
    L.write_json(d / L.RUN_JSON, info)
    return True


def delete_run(run_dir: str | os.PathLike, root: str | os.PathLike | None = None) -> None:
    """Remove a run directory. Refused (ValueError) for a directory that is neither a run
    nor inside ``root``, and for a run whose writer is alive on this host."""
    d = Path(run_dir).resolve()
    inside = root is not None and Path(root).resolve() in d.parents
    if not (d / L.RUN_JSON).exists() and not inside:
        raise ValueError(f"{d}: not a run; not deleted")
    try:
        info = L.read_json(d / L.RUN_JSON) if (d / L.RUN_JSON).exists() else {}
    except (OSError, ValueError):
        info = {}
    if isinstance(info, dict) and effective_status(info) in ("running", "paused") \
            and info.get("host") == socket.gethostname() and info.get("pid") != os.getpid():
        raise ValueError(f"{d.name} is being written by process {info.get('pid')}; stop it first")
    shutil.rmtree(d)
