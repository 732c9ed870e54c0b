"""The GUI's run recording (convscope/runs/recording.py), without Qt: driven like the
worker thread drives it, one event at a time, on a real TrainingLoop."""

from __future__ import annotations

import json
import queue

from convscope import events as ev
from convscope.config import TrainConfig
from convscope.runs import read_curves
from convscope.runs.recording import RunRecorder
from convscope.train.checkpoint import load_checkpoint
from convscope.train.loop import TrainingLoop
from tests.test_train_loop import TINY, drain, small_mnist


def status(run) -> str:
    return json.loads((run / "run.json").read_text())["status"]


def steps(gen, commands, n: int) -> None:
    for _ in range(n):
        commands.put(ev.Step())
        drain(gen, ev.Paused)


def test_a_refused_load_keeps_the_run_and_a_good_one_starts_another(tmp_path) -> None:
    recorder = RunRecorder(tmp_path / "runs")
    loop = TrainingLoop(TINY, TrainConfig(batch_size=32, eval_every=1000), small_mnist())
    commands: queue.Queue = queue.Queue()
    gen = recorder.events(loop, commands)
    drain(gen, ev.Paused)
    run1 = recorder.current_run
    steps(gen, commands, 3)
    commands.put(ev.Load(str(tmp_path / "missing.npz")))  # refused: the same model goes on
    notice, _ = drain(gen, ev.Notice)
    assert notice.level == "error" and recorder.current_run is None and status(run1) == "stopped"
    steps(gen, commands, 2)
    assert recorder.current_run == run1 and status(run1) == "paused"
    assert read_curves(run1).last_step == 5 and len(read_curves(run1).train["step"]) == 5

    # Opening a checkpoint ends the run (its final.npz is rewritten first: step 5) and starts another.
    commands.put(ev.Load(str(run1 / "checkpoints" / "final.npz")))
    started, _ = drain(gen, ev.Started)
    run2 = recorder.current_run
    assert run2 not in (None, run1) and status(run1) == "stopped" and started.step == 5
    drain(gen, ev.Paused)
    steps(gen, commands, 1)
    assert read_curves(run2).train["step"] == [6.0] and loop.restored_exactly
    commands.put(ev.Stop())
    for _ in gen:
        pass
    assert status(run2) == "stopped" and load_checkpoint(run2 / "checkpoints" / "latest.npz").step == loop.step
    assert recorder.wait(0.1)


def test_a_run_that_cannot_be_created_is_one_notice_and_training_goes_on(tmp_path) -> None:
    (tmp_path / "file").write_text("not a folder")
    recorder = RunRecorder(tmp_path / "file" / "runs")
    loop = TrainingLoop(TINY, TrainConfig(batch_size=32, eval_every=1000), small_mnist())
    commands: queue.Queue = queue.Queue()
    gen = recorder.events(loop, commands)
    notice, _ = drain(gen, ev.Notice)
    assert notice.level == "error" and "unrecorded" in notice.message and str(tmp_path / "file") in notice.message
    drain(gen, ev.Paused)
    steps(gen, commands, 2)
    assert loop.step == 2 and recorder.current_run is None


def test_starting_from_another_sets_checkpoint_ends_the_run_and_records_where_the_next_began(tmp_path) -> None:
    """File ▸ Start From Checkpoint… in the window: a new run whose run.json says where its
    weights came from (issue 16); a Reset afterwards starts a run without it."""
    from convscope.data import Dataset

    full = small_mnist()
    half = full.y_train < 5
    other = Dataset("digits 0-4", full.x_train[half], full.y_train[half], full.x_val[full.y_val < 5],
                    full.y_val[full.y_val < 5], tuple(str(d) for d in range(5)), "test")
    source = TrainingLoop(TINY, TrainConfig(batch_size=32), full, max_steps=2)
    from convscope.train.checkpoint import save_checkpoint
    from convscope.train.headless import run_to_completion

    run_to_completion(source)
    path = save_checkpoint(tmp_path / "digits.npz", source.checkpoint())
    recorder = RunRecorder(tmp_path / "runs")
    arch = type(TINY)(**{**TINY.__dict__, "num_classes": 5})
    loop = TrainingLoop(arch, TrainConfig(batch_size=32, eval_every=1000, frozen=("conv1",)), other)
    commands: queue.Queue = queue.Queue()
    gen = recorder.events(loop, commands)
    drain(gen, ev.Paused)
    run1 = recorder.current_run
    assert "init_from" not in json.loads((run1 / "run.json").read_text())
    commands.put(ev.StartFrom(str(path)))
    transferred, _ = drain(gen, ev.Transferred)
    run2 = recorder.current_run
    assert run2 not in (None, run1) and status(run1) == "stopped"
    record = json.loads((run2 / "run.json").read_text())["init_from"]
    assert record["checkpoint"] == str(path.resolve()) and record["step"] == 2 and record["frozen"] == ["conv1"]
    assert record["layers"] == {"conv1": "copied", "dense1": "copied", "logits": "rebuilt"}
    assert "logits: rebuilt" in transferred.lines[-1]
    drain(gen, ev.Paused)
    commands.put(ev.Reset())
    drain(gen, ev.Started)
    run3 = recorder.current_run
    assert run3 not in (run1, run2) and "init_from" not in json.loads((run3 / "run.json").read_text())
    commands.put(ev.Stop())
    for _ in gen:
        pass
