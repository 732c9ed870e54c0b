"""Issue 12: nothing is lost on close, crash or kill -9. The real app in a process of its
own, recording under a runs root: closing the window while training ends the run on the
loop's thread before the process leaves (os._exit) — status "stopped", a loadable
latest.npz, the metrics; a ``kill -9`` leaves it "running", and the next start marks it
"interrupted"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from convscope.runs import read_curves
from convscope.train.checkpoint import load_checkpoint
from tests.ui.exit_time_app import small_npz

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("run_close_app.py")

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def start(mode: str, data: Path, root: Path) -> subprocess.Popen:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(SCRIPT), mode, str(data), str(root)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def training_run(proc: subprocess.Popen) -> Path:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("TRAINING "):
            return Path(line.split(maxsplit=1)[1].strip())
    proc.wait(30)
    raise AssertionError(proc.stderr.read()[-3000:])


def status(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["status"]


def test_closing_the_window_while_training_ends_the_run(tmp_path) -> None:
    data, root = small_npz(tmp_path / "small.npz"), tmp_path / "runs"
    with start("close", data, root) as proc:
        run = training_run(proc)
        assert proc.wait(timeout=30) == 0, proc.stderr.read()[-3000:]
        err = proc.stderr.read()
    assert "Traceback" not in err, err[-3000:]
    assert status(run) == "stopped"
    latest = load_checkpoint(run / "checkpoints" / "latest.npz")
    curves = read_curves(run)
    assert latest.resume is not None and latest.step == curves.last_step >= 40
    assert curves.statuses[-1][1] == "stopped" and len(curves.train["step"]) >= 2
    assert load_checkpoint(run / "checkpoints" / "final.npz").step == latest.step


def test_a_run_killed_with_sigkill_is_marked_interrupted_at_the_next_start(tmp_path) -> None:
    data, root = small_npz(tmp_path / "small.npz"), tmp_path / "runs"
    with start("kill", data, root) as proc:
        run = training_run(proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    assert status(run) == "running"  # as the killed writer left it
    assert read_curves(run).last_step >= 40
    with start("open", data, root) as proc:
        assert proc.wait(timeout=60) == 0, proc.stderr.read()[-3000:]
    assert status(run) == "interrupted"
    runs = sorted(p for p in root.iterdir() if p != run)
    assert len(runs) == 1 and status(runs[0]) == "stopped"  # the second start's own run
