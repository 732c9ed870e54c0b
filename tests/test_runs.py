"""The run directory format (convscope.runs): metrics that survive torn and garbage lines,
the history schedule, a writer driven by a real loop, damaged runs listed with their
reason, the user's annotations, and a follower of a growing run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tiny_runs import TINY_ARCH, TINY_CONFIG, tiny_dataset

from convscope import events as ev
from convscope.runs import Follower, RunWriter, annotate, delete_run, list_runs, read_curves, read_summary
from convscope.runs import layout as L
from convscope.runs.metrics import Curves, MetricsLog, read_records
from convscope.runs.reader import mark_interrupted
from convscope.train.checkpoint import load_checkpoint
from convscope.train.headless import run_to_completion
from convscope.train.loop import TrainingLoop


def test_history_steps_are_zero_then_one_two_five_per_decade():
    assert L.history_steps(1000) == [0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
    assert [L.next_history_step(s) for s in (0, 1, 4, 5, 99, 100)] == [1, 2, 5, 10, 100, 200]


def test_metrics_reader_skips_garbage_and_waits_for_a_torn_last_line(tmp_path):
    path = tmp_path / L.METRICS
    path.write_text('{"kind":"step","step":1,"loss":2.0}\nnot json\n[1,2]\n{"kind":"eval","step":1,"val_lo')
    records, offset, skipped = read_records(path)
    assert [r["step"] for r in records] == [1] and skipped == 2
    assert offset == len(b'{"kind":"step","step":1,"loss":2.0}\nnot json\n[1,2]\n')
    with open(path, "a") as f:  # the writer finishes its line
        f.write('ss":0.5,"val_acc":0.9}\n')
    more, offset2, _ = read_records(path, offset)
    assert more == [{"kind": "eval", "step": 1, "val_loss": 0.5, "val_acc": 0.9}]
    assert offset2 == path.stat().st_size
    # A writer that died inside a line: the next MetricsLog ends it, so its records stay whole.
    with open(path, "a") as f:
        f.write('{"kind":"step","st')
    log = MetricsLog(path)
    log.append({"kind": "step", "step": 2, "loss": float("nan")})
    log.close()
    records, _, skipped = read_records(path)
    assert records[-1] == {"kind": "step", "step": 2, "loss": None} and skipped == 3


def test_curves_drop_what_a_resume_supersedes():
    c = Curves()
    c.add([{"kind": "step", "step": s, "loss": float(s)} for s in range(1, 8)])
    c.add([{"kind": "eval", "step": 4, "val_loss": 1.0}, {"kind": "eval", "step": 8, "val_loss": 0.5}])
    c.add([{"kind": "resume", "step": 5}, {"kind": "step", "step": 6, "loss": 60.0}])
    assert c.train["step"] == [1, 2, 3, 4, 5, 6] and c.train["loss"][-1] == 60.0
    assert c.val["step"] == [4]
    # Records from before "kind" existed are told apart by their fields.
    c.add([{"step": 9, "loss": 1.0, "acc": 0.5}, {"step": 9, "val_loss": 2.0, "val_acc": 0.1}, {"kind": "x", "step": 1}])
    assert c.train["step"][-1] == 9 and c.val["step"][-1] == 9 and c.skipped == 1


def _train_run(root, steps=12, **kw):
    ds = tiny_dataset()
    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, ds, max_steps=steps)
    writer = RunWriter.create(root, arch=TINY_ARCH, config=TINY_CONFIG, dataset=ds, name="tiny run",
                              budget={"steps": steps}, checkpoint_every_s=0.0, **kw)
    result = run_to_completion(loop, lambda e: writer.observe(e, loop))
    writer.finish("finished", loop)
    return writer.dir, loop, result


def test_a_run_written_by_a_real_loop_reads_back(tmp_path):
    run, loop, result = _train_run(tmp_path)
    assert result.reason == "done" and loop.step == 12
    s = read_summary(run)
    assert not s.damaged and s.status == "finished" and s.name == "tiny run"
    assert s.metrics["steps"] == 12 and s.hparams["learning_rate"] == 0.01 and s.params > 0
    assert s.arch == "conv 2 k3, dense 4, relu"
    c = read_curves(run)
    assert c.train["step"] == list(range(1, 13)) and c.val["step"] == [0, 4, 8, 12]
    assert c.statuses[-1][1] == "finished"
    final = load_checkpoint(run / "checkpoints" / "final.npz")
    assert final.step == 12 and final.resume is not None
    np.testing.assert_array_equal(final.params["logits"]["w"], np.asarray(loop.params["logits"]["w"]))
    # Snapshots at the history steps and at each epoch's end: 72 training images in
    # batches of 16 (tiny_runs), so epochs end after steps 5 (80 images) and 9 (144).
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "final.npz", "latest.npz", *(f"step-{s:08d}.npz" for s in (0, 1, 2, 5, 9, 10))]
    snap = load_checkpoint(run / "checkpoints" / "step-00000005.npz")
    assert snap.step == 5 and snap.resume is None  # weights only
    with np.load(run / "checkpoints" / "step-00000005.npz") as z:
        assert z["params/conv1/w"].dtype == np.float16
    # A snapshot is of exactly its step: the weights of the same training stopped there.
    short = TrainingLoop(TINY_ARCH, TINY_CONFIG, tiny_dataset(), max_steps=5)
    run_to_completion(short, lambda e: None)
    for layer, leaves in snap.params.items():
        for name, value in leaves.items():
            np.testing.assert_allclose(value, np.asarray(short.params[layer][name]), rtol=2e-3, atol=1e-4)
    assert s.metrics["final_val_acc"] == pytest.approx(c.val["val_acc"][-1])


def test_the_snapshot_schedule_is_the_history_steps_and_every_epochs_end():
    from convscope.runs.layout import SnapshotSchedule

    sched = SnapshotSchedule()
    epochs = {s: s * 16 / 40 for s in range(0, 31)}  # batches of 16 from 40 images: epochs end at 3, 5, 8, …
    due = [s for s in range(0, 31) if sched.due(s, epochs[s])]
    assert due == [0, 1, 2, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28, 30]
    resumed = SnapshotSchedule(12, epochs[12])  # a resumed run does not repeat its own step
    assert [s for s in range(12, 31) if resumed.due(s, epochs[s])] == [13, 15, 18, 20, 23, 25, 28, 30]


def test_a_snapshot_keeps_a_weight_float16_cannot_hold_as_float32(tmp_path):
    from dataclasses import replace

    from convscope.train.checkpoint import Checkpoint, save_checkpoint
    from convscope.train.step import to_host

    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, tiny_dataset(), max_steps=1)
    loop.reinitialise()
    params = to_host(loop.params)
    params["logits"]["w"] = params["logits"]["w"] * 0 + 70000.0
    ckpt = replace(Checkpoint(TINY_ARCH, TINY_CONFIG, params, to_host(loop.state), 0), resume=None)
    path = save_checkpoint(tmp_path / "s.npz", ckpt, half=True)
    with np.load(path) as z:
        assert z["params/logits/w"].dtype == np.float32 and z["params/conv1/w"].dtype == np.float16
    back = load_checkpoint(path)
    assert back.params["logits"]["w"].max() == 70000.0
    np.testing.assert_allclose(back.params["conv1"]["w"], params["conv1"]["w"], rtol=1e-3, atol=1e-7)


def test_live_changes_and_pauses_are_records_of_their_own(tmp_path):
    ds = tiny_dataset()
    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, ds, max_steps=100)
    writer = RunWriter.create(tmp_path, arch=TINY_ARCH, config=TINY_CONFIG, dataset=ds, checkpoint_every_s=1e9)
    loop.reinitialise()
    writer.observe(loop.started_event(), loop)
    while loop.step < 3:  # a chunk ends at each snapshot step (1, 2)
        for e in loop.train_chunk(3 - loop.step):
            writer.observe(e, loop)
    diff = loop.set_hyperparams({"learning_rate": 0.1})
    writer.observe(ev.HyperParamsChanged(loop.step, diff, loop.config), loop)
    writer.observe(ev.Paused(loop.step), loop)
    writer.flush()  # checkpoints are written by the writer's own thread
    assert json.loads((writer.dir / "run.json").read_text())["status"] == "paused"
    assert load_checkpoint(writer.dir / "checkpoints" / "latest.npz").step == 3  # a pause saves
    writer.finish("stopped", loop)
    c = read_curves(writer.dir)
    assert c.changes == [(3, {"learning_rate": [0.01, 0.1]})]
    assert [s[1] for s in c.statuses] == ["paused", "stopped"]


def test_creating_a_run_where_one_is_refuses(tmp_path):
    run, _, _ = _train_run(tmp_path, steps=2)
    ds = tiny_dataset()
    with pytest.raises(FileExistsError, match="already holds a run"):
        RunWriter.create(tmp_path, arch=TINY_ARCH, config=TINY_CONFIG, dataset=ds, run_dir=run)


def _damage(root, name, files):
    d = root / name
    d.mkdir()
    for rel, content in files.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return d


def test_damaged_runs_are_listed_with_their_reason(tmp_path):
    good, _, _ = _train_run(tmp_path, steps=2)
    info = json.loads((good / "run.json").read_text())
    cfg = (good / "config.json").read_text()
    newer = dict(info, version=L.VERSION + 1)
    ckpt = (good / "checkpoints" / "final.npz").read_bytes()
    _damage(tmp_path, "not-a-run", {"readme.txt": "hello"})
    _damage(tmp_path, "no-run-json", {"metrics.jsonl": "{}\n"})
    _damage(tmp_path, "garbage-run-json", {"run.json": "\x00\x01{{{", "config.json": cfg})
    _damage(tmp_path, "newer", {"run.json": json.dumps(newer), "config.json": cfg})
    _damage(tmp_path, "no-config", {"run.json": json.dumps(info)})
    _damage(tmp_path, "truncated-checkpoint", {"run.json": json.dumps(info), "config.json": cfg,
                                               "checkpoints/latest.npz": ckpt[: len(ckpt) // 2]})
    _damage(tmp_path, "huge-json", {"run.json": " " * (L.MAX_JSON_BYTES + 10), "config.json": cfg})
    (tmp_path / "a-file").write_text("not a directory")
    runs = {r.dir.name: r for r in list_runs(tmp_path)}
    assert not runs[good.name].damaged
    expected = {"not-a-run": "not a run", "no-run-json": "run.json is missing",
                "garbage-run-json": "run.json cannot be read", "newer": "written by a newer ConvScope",
                "no-config": "config.json cannot be read", "truncated-checkpoint": "latest.npz is truncated",
                "huge-json": "larger than"}
    for name, reason in expected.items():
        assert reason in runs[name].damaged, (name, runs[name].damaged)
    assert "a-file" not in runs
    assert list_runs(tmp_path / "missing") == []


def test_annotations_rename_tag_and_note_without_touching_run_json(tmp_path):
    run, _, _ = _train_run(tmp_path, steps=2)
    before = (run / "run.json").read_bytes()
    annotate(run, name="lr sweep 1", tags=["sweep", "adam", "sweep", " "], notes="first try")
    s = read_summary(run)
    assert (s.name, s.tags, s.notes) == ("lr sweep 1", ["adam", "sweep"], "first try")
    assert (run / "run.json").read_bytes() == before
    with pytest.raises(ValueError, match="cannot be empty"):
        annotate(run, name="  ")
    with pytest.raises(ValueError, match="not a run"):
        annotate(tmp_path, name="x")


def test_a_dead_writers_running_run_reads_interrupted_and_can_be_marked(tmp_path):
    run, _, _ = _train_run(tmp_path, steps=2)
    info = json.loads((run / "run.json").read_text())
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    info.update(status="running", pid=int(dead.stdout))
    (run / "run.json").write_text(json.dumps(info))
    assert read_summary(run).status == "interrupted"
    assert mark_interrupted(run)
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert not mark_interrupted(run)
    info.update(status="running", pid=os.getpid())  # alive: left alone
    (run / "run.json").write_text(json.dumps(info))
    assert read_summary(run).status == "running" and not mark_interrupted(run)


def test_delete_removes_a_run_and_refuses_what_is_not_one(tmp_path):
    run, _, _ = _train_run(tmp_path, steps=2)
    stranger = tmp_path.parent / f"{tmp_path.name}-other"
    stranger.mkdir()
    with pytest.raises(ValueError, match="not a run"):
        delete_run(stranger)
    delete_run(run, tmp_path)
    assert not run.exists() and list_runs(tmp_path) == []


def test_a_write_failure_stops_recording_and_says_what_was_kept(tmp_path):
    ds = tiny_dataset()
    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, ds, max_steps=6)
    writer = RunWriter.create(tmp_path, arch=TINY_ARCH, config=TINY_CONFIG, dataset=ds, checkpoint_every_s=0.0)
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    calls = []

    def observe(e):
        writer.observe(e, loop)
        calls.append(type(e).__name__)
        if isinstance(e, ev.EvalMetrics) and e.step == 4:  # the disk fills up
            writer._metrics._f.close()
            writer._metrics._f = open("/dev/full", "a")  # noqa: SIM115

    run_to_completion(loop, observe)
    writer.finish("finished", loop)
    assert "No space left on device" in writer.failure and "Kept: the metrics up to step" in writer.failure
    assert "latest.npz of step 4" in writer.failure
    assert load_checkpoint(writer.dir / "checkpoints" / "latest.npz").step == 4
    assert not (writer.dir / "checkpoints" / "final.npz").exists()


def test_follower_reads_what_is_appended_and_reports_the_end_and_deletion(tmp_path):
    ds = tiny_dataset()
    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, ds, max_steps=8)
    writer = RunWriter.create(tmp_path, arch=TINY_ARCH, config=TINY_CONFIG, dataset=ds, checkpoint_every_s=0.0)
    f = Follower(writer.dir)
    first = f.poll()
    assert first.status == "running" and not first.records and "Following" in first.status_line
    loop.reinitialise()
    writer.observe(loop.started_event(), loop)
    while loop.step < 4:  # a chunk of steps ends at each snapshot step: 1 and 2
        for e in loop.train_chunk(4 - loop.step):
            writer.observe(e, loop)
    writer.flush()
    up = f.poll()
    assert [r["step"] for r in up.records if r["kind"] == "step"] == [1, 2, 4]  # a record per chunk
    assert up.checkpoint is not None and up.checkpoint.name == "latest.npz"  # saved at the evaluation of step 4
    assert not f.poll().records  # nothing new
    with open(writer.dir / "metrics.jsonl", "a") as fh:  # a line being written
        fh.write('{"kind":"step","step":5,')
    assert not f.poll().records
    writer._metrics._heal()
    writer.finish("finished", loop)
    end = f.poll()
    assert end.ended and end.status == "finished" and end.checkpoint is None  # latest.npz is still step 4's
    assert f.skipped == 1 and "1 unreadable line skipped" in end.status_line
    import shutil

    shutil.rmtree(writer.dir)
    gone = f.poll()
    assert gone.gone and "gone" in gone.status_line


@pytest.mark.slow
def test_convscope_runs_lists_as_a_table_as_json_and_as_csv(tmp_path):
    _train_run(tmp_path, steps=2)
    (tmp_path / "junk").mkdir()
    env = dict(os.environ)
    table = subprocess.run([sys.executable, "-m", "convscope", "runs", str(tmp_path)], capture_output=True, text=True,
                           timeout=60, env=env)
    assert table.returncode == 0, table.stderr
    assert "tiny run" in table.stdout and "finished" in table.stdout and "damaged: not a run" in table.stdout
    js = subprocess.run([sys.executable, "-m", "convscope", "runs", str(tmp_path), "--json"], capture_output=True,
                        text=True, timeout=60)
    rows = json.loads(js.stdout)
    assert {r["name"] for r in rows} == {"tiny run", "junk"} and any(r["damaged"] for r in rows)
    csv_path = tmp_path.parent / "runs.csv"
    out = subprocess.run([sys.executable, "-m", "convscope", "runs", str(tmp_path), "--csv", str(csv_path)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    import csv

    with open(csv_path, newline="") as fh:
        got = list(csv.DictReader(fh))
    good = next(r for r in got if r["name"] == "tiny run")
    assert good["learning_rate"] == "0.01" and good["status"] == "finished" and good["steps"] == "2"
    bad = subprocess.run([sys.executable, "-m", "convscope", "runs", str(tmp_path / "nope")], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.startswith("convscope: ") and bad.stderr.count("\n") == 1


def test_a_run_directory_deleted_under_the_writer_stops_it_without_recreating_it(tmp_path):
    import shutil

    ds = tiny_dataset()
    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, ds, max_steps=8)
    writer = RunWriter.create(tmp_path, arch=TINY_ARCH, config=TINY_CONFIG, dataset=ds, checkpoint_every_s=0.0)
    loop.reinitialise()
    writer.observe(loop.started_event(), loop)
    writer.flush()
    shutil.rmtree(writer.dir)
    for e in loop.train_chunk(4):
        writer.observe(e, loop)
    writer.finish("finished", loop)
    assert not writer.dir.exists(), "an atomic write made the deleted run directory again"
    assert "the run directory was deleted or moved" in writer.failure


def test_convscope_runs_before_any_run_says_so_and_a_missing_given_root_is_an_error(tmp_path, monkeypatch, capsys):
    from convscope.cli import main

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "fresh"))  # a new user: the default folder does not exist
    monkeypatch.delenv("CONVSCOPE_RUNS", raising=False)
    assert main(["runs"]) == 0
    assert "no runs in" in capsys.readouterr().out
    assert main(["runs", "--json"]) == 0 and json.loads(capsys.readouterr().out) == []
    assert main(["runs", str(tmp_path / "typo")]) == 2
    assert "no such runs folder" in capsys.readouterr().err
