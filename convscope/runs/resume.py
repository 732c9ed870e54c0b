"""Finding what a run resumes from: its configuration and its newest usable checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from convscope.runs import layout as L


class ResumeError(ValueError):
    """The run cannot be resumed; the message says why."""


def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    d = Path(run_dir)
    if not d.is_dir():
        raise ResumeError("no such run directory")
    try:
        info = L.read_json(d / L.RUN_JSON)
    except FileNotFoundError as e:
        raise ResumeError("not a run (no run.json)") from e
    except (OSError, ValueError) as e:
        raise ResumeError(f"run.json cannot be read ({e})") from e
    if not isinstance(info, dict) or info.get("format") != L.FORMAT:
        raise ResumeError("run.json is not a ConvScope run")
    v = info.get("version")
    if not isinstance(v, int) or isinstance(v, bool) or v > L.VERSION:
        raise ResumeError(f"written by a newer ConvScope (run format {str(v)[:20]}; this version reads {L.VERSION})")
    try:
        cfg = L.read_json(d / L.CONFIG_JSON)
    except (OSError, ValueError) as e:
        raise ResumeError(f"config.json cannot be read ({e})") from e
    if not isinstance(cfg, dict) or not isinstance(cfg.get("arch"), dict) or not isinstance(cfg.get("config"), dict):
        raise ResumeError("config.json has no architecture and training configuration")
    return cfg


def newest_checkpoint(run_dir: str | os.PathLike) -> Any:
    """The checkpoint with the highest step among those that load and hold the optimizer
    state (``latest``, ``final``, and the history of runs written before snapshots were
    weights only), so a truncated ``latest.npz`` falls back to the one before it; None
    when the run has no such file and nothing damaged, only its snapshots or nothing (it
    was stopped before its first ``latest.npz``: it starts again from step 0, which its
    seed makes exactly);
    ResumeError listing what was tried when there are files but none can be used."""
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    folder = Path(run_dir) / L.CHECKPOINTS
    try:
        files = sorted((p for p in folder.iterdir() if p.suffix == ".npz" and not p.name.startswith(".")),
                       key=lambda p: p.stat().st_mtime_ns, reverse=True)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise ResumeError(f"its checkpoints cannot be listed ({e.strerror or e})") from e
    if not files:
        return None
    problems = []
    best = None
    for path in files:
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError as e:
            problems.append(str(e))
            continue
        if ckpt.resume is None:
            if not L.HISTORY_RE.fullmatch(path.name):  # a snapshot is never a resume point
                problems.append(f"{path.name}: weights only")
            continue
        if best is None or ckpt.step > best.step:
            best = ckpt
        if path.name == L.LATEST:
            break  # the newest file that loads: nothing older is ahead of it
    if best is None and not problems:
        return None  # only snapshots: stopped before its first latest.npz, it starts again from 0
    if best is None:
        raise ResumeError("no checkpoint holds a complete training state" +
                          (f" ({'; '.join(problems)[:400]})" if problems else ""))
    return best
