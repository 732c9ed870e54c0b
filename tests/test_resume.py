"""Resume: a run goes on exactly where it stopped, whatever stopped it.

In process, a loop restored from a checkpoint takes bit-identical steps. Across
processes, ``convscope train`` stopped by SIGTERM, SIGINT or SIGKILL (at 20 random
moments) and resumed with ``--resume`` logs, step for step, the losses of a run that was
never interrupted. Resuming on other data or with another architecture is refused."""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from tiny_runs import TINY_ARCH, TINY_CONFIG, tiny_dataset

from convscope import events as ev
from convscope.runs import read_curves, read_summary
from convscope.runs.resume import newest_checkpoint
from convscope.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from convscope.train.loop import TrainingLoop
from convscope.train.restore import restore


def _one_step_losses(loop: TrainingLoop, n: int) -> list[float]:
    out = []
    for _ in range(n):
        out += [e.loss for e in loop.train_chunk(1) if isinstance(e, ev.StepMetrics)]
    return out


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "rmsprop"])
def test_a_restored_loop_takes_bit_identical_steps(tmp_path, optimizer):
    """Dropout on, a batch that does not divide the set (the permutation is redrawn
    mid-way), every optimizer state: 14 steps straight equal 6 + save/load + 8."""
    ds = tiny_dataset(n=120)
    config = TINY_CONFIG.replace(optimizer=optimizer, dropout=0.5, batch_size=32)
    a = TrainingLoop(TINY_ARCH, config, ds)
    a.reinitialise()
    straight = _one_step_losses(a, 14)
    b = TrainingLoop(TINY_ARCH, config, ds)
    b.reinitialise()
    first = _one_step_losses(b, 6)
    save_checkpoint(tmp_path / "c.npz", b.checkpoint())
    c = TrainingLoop(TINY_ARCH, config, ds)
    restore(c, load_checkpoint(tmp_path / "c.npz"), exact=True)
    assert first + _one_step_losses(c, 8) == straight
    np.testing.assert_array_equal(np.asarray(a.params["conv1"]["w"]), np.asarray(c.params["conv1"]["w"]))
    assert (c.step, c.examples_seen) == (a.step, a.examples_seen)
    # Without the optimizer state (weights only) the steps differ: the test can tell.
    d = TrainingLoop(TINY_ARCH, config, ds)
    restore(d, load_checkpoint(tmp_path / "c.npz"), exact=False)
    assert first + _one_step_losses(d, 8) != straight


def test_resume_is_refused_on_other_data_another_architecture_or_weights_only(tmp_path):
    ds = tiny_dataset()
    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, ds)
    loop.reinitialise()
    ckpt = loop.checkpoint()
    other_data = TrainingLoop(TINY_ARCH, TINY_CONFIG, tiny_dataset(n=100, seed=1))
    with pytest.raises(CheckpointError, match="training images"):
        restore(other_data, ckpt, exact=True)
    wider = TINY_ARCH.__class__.from_dict({**TINY_ARCH.to_dict(), "dense": [8]})
    with pytest.raises(CheckpointError, match="another architecture"):
        restore(TrainingLoop(wider, TINY_CONFIG, ds), ckpt, exact=True)
    from dataclasses import replace

    with pytest.raises(CheckpointError, match="weights only"):
        restore(TrainingLoop(TINY_ARCH, TINY_CONFIG, ds), replace(ckpt, resume=None), exact=True)


# ------------------------------------------------------------------- across processes
STEPS = 1500
SETTINGS = ["--set", "blocks=1", "--set", "filters=2", "--set", "dense=4", "--set", "batch_size=16",
            "--set", "eval_every=25", "--set", "log_every=1", "--set", "learning_rate=0.01",
            "--set", "dropout=0.3", "--set", "augment=false"]


def _tiny_npz(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (240, 8, 8, 1), dtype=np.uint8)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int32)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=x, y_train=y)
    return path


_CACHE = tempfile.mkdtemp(prefix="convscope-test-xla-cache-")
atexit.register(shutil.rmtree, _CACHE, True)
# The processes share XLA's persistent compilation cache: the first compiles, the others
# load (about 2.5 s less start-up each; the same executable, so the same numbers).
CACHE_ENV = {"JAX_COMPILATION_CACHE_DIR": _CACHE, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
             "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0"}


def _train(args: list[str], **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **CACHE_ENV}
    return subprocess.Popen([sys.executable, "-m", "convscope", "train", "--quiet", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


def _step_losses(run: Path) -> dict[int, float]:
    c = read_curves(run)
    steps = [int(s) for s in c.train["step"]]
    assert len(steps) == len(set(steps)), "a step was logged twice after the resume records were applied"
    return dict(zip(steps, c.train["loss"], strict=True))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run, its losses step by step."""
    tmp = tmp_path_factory.mktemp("reference")
    data = _tiny_npz(tmp)
    p = _train(["--data", str(data), "--steps", str(STEPS), "--out", str(tmp / "run"), *SETTINGS])
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    losses = _step_losses(tmp / "run")
    assert sorted(losses) == list(range(1, STEPS + 1))
    return data, losses


def _wait_for_steps(run: Path, n: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count('"kind":"step"') >= n:
            return
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    raise AssertionError(f"no {n} steps logged within {timeout} s")


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_save_mark_interrupted_and_resume_exactly(tmp_path, reference, sig, code):
    data, expected = reference
    run = tmp_path / "run"
    p = _train(["--data", str(data), "--steps", str(STEPS), "--out", str(run), "--checkpoint-every", "60", *SETTINGS])
    _wait_for_steps(run, 40, p)
    p.send_signal(sig)
    _out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "Traceback" not in err and f"interrupted by {signal.Signals(sig).name}" in err
    assert f"convscope train --resume {run}" in err
    info = json.loads((run / "run.json").read_text())
    latest = load_checkpoint(run / "checkpoints" / "latest.npz")
    assert info["status"] == "interrupted" and latest.step >= 40
    assert latest.step == max(_step_losses(run)), "the checkpoint is of the last logged step"
    r = _train(["--resume", str(run)])
    _out, err = r.communicate(timeout=120)
    assert r.returncode == 0, err
    assert _step_losses(run) == expected
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sigkill_at_20_random_moments_then_resume_reproduces_the_uninterrupted_run(tmp_path, reference):
    """Each kill lands anywhere: during start-up, compilation, a step, a metrics line or a
    checkpoint being written. After every kill the run directory lists, its newest
    checkpoint loads, and ``--resume`` goes on; the losses of the whole chain are those of
    the uninterrupted run, step for step."""
    data, expected = reference
    run = tmp_path / "run"
    rng = random.Random(12345)
    kills, steps_at_kills = 0, []

    def launch() -> subprocess.Popen:
        started = run.joinpath("run.json").exists()
        args = ["--resume", str(run)] if started else ["--data", str(data), "--steps", str(STEPS), "--out", str(run)]
        return _train([*args, "--checkpoint-every", "0.05", *([] if started else SETTINGS)])

    def logged() -> int:  # step records so far
        metrics = run / "metrics.jsonl"
        return metrics.read_text().count('"kind":"step"') if metrics.exists() else 0

    while kills < 20:
        before = logged()
        p = launch()
        if rng.random() < 0.3:  # anywhere in start-up: imports, data, compilation, creating the run
            # (and no later than its first step: with the model already in the compilation
            # cache, start-up is short, and a fixed delay let a run train hundreds of steps)
            deadline = time.monotonic() + rng.uniform(0.1, 2.0)
            while time.monotonic() < deadline and logged() == before and p.poll() is None:
                time.sleep(0.01)
        else:  # while it trains, whatever the machine's load: once it has taken 1-40 steps
            # (counted, not timed: on a loaded machine a fixed delay after the first step
            # killed every process before its first checkpoint, and the chain never moved)
            ahead = before + rng.randint(1, 40)
            deadline = time.monotonic() + 60
            while logged() < ahead and p.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.25))
        if p.poll() is not None:  # it finished first: only a completed run can do that
            _out, err = p.communicate()
            assert p.returncode == 0, err
            break
        p.kill()
        p.communicate(timeout=30)
        kills += 1
        if run.joinpath("run.json").exists():
            s = read_summary(run)
            assert not s.damaged, s.damaged
            assert s.status in ("interrupted", "finished")  # its process is gone (perhaps as it ended)
            if s.status == "finished":
                break
            ckpt = newest_checkpoint(run)
            assert ckpt is None or ckpt.resume is not None
            steps_at_kills.append(ckpt.step if ckpt is not None else 0)
    assert kills == 20, f"the run finished after {kills} kills; it is too short to test"
    # Resume points are latest.npz (at evaluations, every 25 steps here; snapshots are
    # weights only): a kill before the first restarts from step 0, exactly, by its seed.
    during = [s for s in steps_at_kills if s > 0]
    assert len(during) >= 8 and len(set(during)) >= 4, f"too few kills during training: {steps_at_kills}"
    while not run.joinpath("run.json").exists() or \
            json.loads(run.joinpath("run.json").read_text())["status"] != "finished":
        p = launch()
        _out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err
    assert not list(run.rglob(".*.tmp")), "temporary files of killed writes were left behind"
    assert _step_losses(run) == expected


@pytest.mark.slow
def test_a_full_disk_ends_the_run_with_one_line_naming_what_was_kept(tmp_path, reference):
    """Files may not grow past 50 KB (RLIMIT_FSIZE, as a full disk would refuse them):
    metrics.jsonl hits it mid-run. One line on stderr, exit 1, no traceback; the checkpoint
    it names loads and resumes once there is room."""
    data, _expected = reference
    run = tmp_path / "run"
    limited = ("import resource, runpy, signal, sys; "
               "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "  # EFBIG from write() instead of a kill
               "resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000)); "
               "sys.argv = ['convscope', *sys.argv[1:]]; runpy.run_module('convscope', run_name='__main__')")
    args = ["train", "--quiet", "--data", str(data), "--steps", str(STEPS), "--out", str(run), "--checkpoint-every",
            "0.01", *SETTINGS]
    p = subprocess.Popen([sys.executable, "-c", limited, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env={**os.environ, **CACHE_ENV})
    _out, err = p.communicate(timeout=120)
    assert p.returncode == 1, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "metrics.jsonl" in lines[0] and "Kept: the metrics up to step" in lines[0], lines[0]
    kept = int(lines[0].split("latest.npz of step ")[1].split()[0].rstrip(";,."))
    assert load_checkpoint(run / "checkpoints" / "latest.npz").step == kept > 0
    r = _train(["--resume", str(run), "--steps", "5"])
    _out, err = r.communicate(timeout=120)
    assert r.returncode == 0, err
