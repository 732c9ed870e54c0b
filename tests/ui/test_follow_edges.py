"""Following a run, the edge cases, on a run directory written by hand: a half-written
last line waits for its newline, a replaced metrics file clears the curves and draws
the new ones, a resume record drops the superseded steps, a diverged run is a line and
one notice, a directory that is not a run is refused with the reason."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np

from convscope.config import ArchSpec, TrainConfig
from convscope.runs import RunWriter
from tests.ui.conftest import FAKE_DATASET


def make_run(root):
    data = SimpleNamespace(name="fake digits", summary=lambda: "fake", origin="", val_split=None,
                           y_train=np.zeros(64), y_val=np.zeros(16), num_classes=10)
    w = RunWriter.create(root, arch=ArchSpec(), config=TrainConfig(), dataset=data)
    w.close()
    return w.dir


def step(n: int, loss: float = 1.0) -> str:
    return json.dumps({"kind": "step", "step": n, "epoch": n / 10, "loss": loss, "acc": 0.5, "lr": 1e-3,
                       "time": n / 100}) + "\n"


def test_follow_edge_cases(qtbot, make_window, tmp_path) -> None:
    window = make_window()
    panel, follow = window.panels["Training"], window.runs.following
    follow.timer.stop()  # polled by hand
    run = make_run(tmp_path)
    metrics = run / "metrics.jsonl"
    metrics.write_text(step(5) + step(10) + '{"kind": "step", "ste')  # the writer is inside its 3rd line
    assert window.runs.follow(str(run)) == ""
    assert list(panel.buffers["loss"].x) == [5, 10]
    with open(metrics, "a") as f:
        f.write('p": 15, "loss": 0.5}\n' + step(20))
    follow.poll()
    assert list(panel.buffers["loss"].x) == [5, 10, 15, 20]
    assert "step 20" in window.runs.follow_line()

    with open(metrics, "a") as f:  # resumed from step 10: 15 and 20 are superseded
        f.write(json.dumps({"kind": "resume", "step": 10}) + "\n" + step(15, 0.7))
    follow.poll()
    assert list(panel.buffers["loss"].x) == [5, 10, 15] and panel.buffers["loss"].y[-1] == 0.7

    new = run / "metrics.new"
    new.write_text(step(1, 2.0))
    new.replace(metrics)  # another file at that name: read again from the start
    follow.poll()
    assert list(panel.buffers["loss"].x) == [1] and panel.buffers["loss"].y[0] == 2.0

    info = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**info, "status": "diverged"}))
    follow.poll()
    assert "diverged" in window.runs.follow_line() and "diverged" in window.notice_label.text()

    window.runs.stop_following()  # following a run that has already ended says so at once
    assert window.runs.follow(str(run)) == ""
    assert "diverged" in window.notice_label.text() and "diverged" in window.runs.follow_line()
    assert window.speed_label.text() == "– examples/s"  # the replayed steps carry no speed
    assert window.last_error == ""
    follow.poll()
    assert window.session.state == "following"

    not_a_run = tmp_path / "empty"
    not_a_run.mkdir()
    why = window.runs.follow(str(not_a_run))
    assert "not a run" in why and "Cannot follow empty" in window.last_error

    other = make_run(tmp_path / "other")
    cfg = json.loads((other / "config.json").read_text())
    cfg["arch"] = ArchSpec(input_shape=(32, 32, 3)).to_dict()
    (other / "config.json").write_text(json.dumps(cfg))
    assert "32×32×3" in window.runs.follow(str(other))
    assert window.runs.following.run_dir == run  # still following the first

    # Opening a data set while following means training on it: following stops.
    assert window.session.set_dataset(SimpleNamespace(**{**vars(FAKE_DATASET), "name": "other"})) == ""
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    assert window.runs.following.run_dir is None and not follow.timer.isActive()
    assert window.runs.follow_line() == "" and window.train_action.isEnabled()
    assert FAKE_DATASET.image_shape == (28, 28, 1)
