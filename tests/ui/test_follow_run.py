"""Issue 12, "Follow a run another process writes": a real ``convscope train`` in a
subprocess writes a run; the window follows it (File ▸ Follow Run): its curves grow
through the panels' own signals, every inside-the-layers panel switches to each new
checkpoint, the end is reported, and a deleted run is a status line, not a traceback.
Training controls are off while following; Stop Following goes back to a live loop."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from convscope import events as ev
from convscope.cli import main
from convscope.config import TrainConfig
from convscope.runs.metrics import Curves
from convscope.ui.follow import curves_to_events, records_to_events

ROOT = Path(__file__).resolve().parents[2]


def train_process(out: Path, steps: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-m", "convscope", "train", "--steps", str(steps), "--out", str(out), "--quiet",
            "--checkpoint-every", "0.3", "--set", "filters=4", "--set", "dense=16", "--set", "eval_every=10",
            "--set", "log_every=5", "--set", "learning_rate=3e-3"]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def test_records_become_the_loops_events() -> None:
    recs = [{"kind": "step", "step": 5, "epoch": 0.1, "loss": 2.0, "acc": 0.2, "lr": 1e-3, "time": 1.0,
             "examples_per_s": 50.0},
            {"kind": "eval", "step": 10, "epoch": 0.2, "val_loss": None, "val_acc": 0.3, "time": 2.0},
            {"kind": "hparams", "step": 10, "changes": {"learning_rate": [1e-3, 3e-3]}},
            {"kind": "status", "step": 10, "status": "paused"}, {"kind": "step", "step": -1}, {"step": "x"}]
    events, config = records_to_events(recs, TrainConfig())
    assert events[0] == ev.StepMetrics(5, 0.1, 2.0, 0.2, 1e-3, 50.0, 1.0)
    assert events[1].step == 10 and events[1].val_acc == 0.3 and events[1].val_loss != events[1].val_loss  # NaN
    assert events[2].changes == {"learning_rate": (1e-3, 3e-3)} and events[2].config.learning_rate == 3e-3
    assert len(events) == 3 and config.learning_rate == 3e-3
    curves = Curves()
    curves.add(recs[:3] + [{"kind": "step", "step": 20, "loss": 1.0}, {"kind": "resume", "step": 10}])
    replay = curves_to_events(curves, TrainConfig())
    assert [type(e).__name__ for e in replay] == ["StepMetrics", "EvalMetrics", "HyperParamsChanged"]


def test_follow_refuses_what_is_not_a_run_on_the_command_line(tmp_path, capsys) -> None:
    assert main(["--follow", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run (no run.json)" in err[0]
    assert main(["gui", "--follow", str(tmp_path / "missing")]) == 2
    assert "no such run directory" in capsys.readouterr().err


def test_follow_and_runs_reach_the_window(monkeypatch, tmp_path) -> None:
    import convscope.ui.app as app

    seen = {}
    monkeypatch.setattr(app, "run_gui", lambda *a, **kw: seen.update(kw) or 0)
    (tmp_path / "run").mkdir()
    for argv in (["--runs", str(tmp_path / "r")], ["gui", "--runs", str(tmp_path / "r")]):
        assert main(argv) == 0 and seen["runs"] == str(tmp_path / "r")


@pytest.mark.gui
@pytest.mark.slow
def test_following_a_training_subprocess(qtbot, make_window, tmp_path) -> None:
    run = tmp_path / "run"
    proc = train_process(run, steps=300)
    try:
        window = make_window()
        panel, follow = window.panels["Training"], window.runs.following
        follow.timer.setInterval(200)
        qtbot.waitUntil(lambda: (run / "config.json").exists() and (run / "run.json").exists(), timeout=60_000)
        assert window.runs.follow(str(run)) == ""
        session = window.session
        assert session.state == "following" and "following" in window.state_label.text()
        # Training controls are off; a live change is refused, never sent anywhere.
        assert not any(a.isEnabled() for a in (window.train_action, window.step_action, window.reset_action,
                                               window.pause_action))
        assert not window.docks["Hyperparameters"].widget().isEnabled()
        assert "following" in session.set_hyperparams(learning_rate=0.01)
        assert window.runs.stop_follow_action.isEnabled()

        snapshots: list[int] = []
        session.bridge.snapshot_taken.connect(lambda s: snapshots.append(s.step))
        qtbot.waitUntil(lambda: panel.buffers["loss"].size >= 3, timeout=60_000)
        size = panel.buffers["loss"].size
        qtbot.waitUntil(lambda: panel.buffers["loss"].size > size + 3, timeout=60_000)  # the curves grow
        qtbot.waitUntil(lambda: len(set(snapshots)) >= 2, timeout=60_000)  # each new checkpoint is shown
        assert snapshots == sorted(snapshots) and follow.snapshot_step == snapshots[-1]
        assert window.runs.follow_line().startswith(f"Following {json.loads((run / 'run.json').read_text())['name']}")
        assert session.arch.convs[0].filters == 4  # the followed model, not the window's own
        assert proc.wait(timeout=120) == 0, proc.stderr.read()[-2000:]
        qtbot.waitUntil(lambda: "finished" in window.runs.follow_line(), timeout=10_000)
        qtbot.waitUntil(lambda: "finished" in window.notice_label.text(), timeout=10_000)  # the end, once
        assert "step 300" in window.runs.follow_line()
        qtbot.waitUntil(lambda: panel.buffers["loss"].x[-1] == 300, timeout=10_000)
        qtbot.waitUntil(lambda: follow.snapshot_step == 300, timeout=30_000)
        assert window.last_error == ""

        shutil.rmtree(run)  # deleted while followed: a line, no traceback
        qtbot.waitUntil(lambda: "gone" in window.runs.follow_line(), timeout=10_000)
        assert window.last_error == ""

        window.runs.stop_follow_action.trigger()  # back to a live loop of the window's own
        qtbot.waitUntil(lambda: session.state == "paused", timeout=10_000)
        assert window.runs.follow_line() == "" and window.train_action.isEnabled()
        assert window.docks["Hyperparameters"].widget().isEnabled()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
