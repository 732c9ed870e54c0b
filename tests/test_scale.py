"""Issue 14: data parallel over a machine's devices (``jax.sharding``) and many
processes (``jax.distributed``) compute what one device does.

Several CPU devices exist only when XLA_FLAGS says so before JAX starts, so the
multi-device runs happen in processes of their own. The model has batch norm (its batch
statistics must be those of the whole batch, not of each device's share), dropout and
augmentation (their random streams must not depend on the sharding)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convscope.cli import main
from convscope.train.parallel import DeviceCountError, choose_devices

ROOT = Path(__file__).resolve().parents[1]
FOUR = "--xla_force_host_platform_device_count=4"
TINY = ["--set", "blocks=1", "--set", "filters=4", "--set", "dense=8", "--set", "batch_norm=true",
        "--set", "batch_size=16", "--set", "dropout=0.3", "--set", "log_every=5"]  # fmt: skip


def _data(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    x = rng.integers(0, 256, (160, 8, 8, 1), dtype=np.uint8)
    np.savez(path, x_train=x, y_train=np.arange(160) % 3)
    return path


def _env(devices: int | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("XLA_FLAGS", None)
    if devices is not None:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


@pytest.mark.slow
def test_one_two_and_four_devices_train_the_same_losses(tmp_path) -> None:
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "scale_losses.py"), str(_data(tmp_path))],
                         env=_env(4), capture_output=True, text=True, timeout=240, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    runs = json.loads(out.stdout.strip().splitlines()[-1])
    one = np.array(runs["1"][0])
    assert len(one) == 50 and np.all(np.isfinite(one)) and one[0] != one[-1]
    assert [runs[n][1] for n in ("1", "2", "4")] == ["CPU", "2 × CPU", "4 × CPU"]
    from convscope.train.step import STEPS_PER_CALL

    # Each device holds its share of every batch of 16, not the whole batch.
    assert [runs[n][3] for n in ("1", "2", "4")] == [[[STEPS_PER_CALL, 16]], [[STEPS_PER_CALL, 8]],
                                                     [[STEPS_PER_CALL, 4]]]  # fmt: skip
    # Evaluation too: each device evaluates its share of the 40 validation images.
    assert [runs[n][4] for n in ("1", "2", "4")] == [[[40]], [[20]], [[10]]]
    for n in ("2", "4"):
        np.testing.assert_allclose(runs[n][0], one, rtol=2e-4, atol=2e-5, err_msg=f"{n} devices")
        assert runs[n][2] == pytest.approx(runs["1"][2], rel=2e-4)


def test_convscope_train_names_the_devices_and_refuses_a_count_it_cannot_use(tmp_path) -> None:
    data = str(_data(tmp_path))
    base = [sys.executable, "-m", "convscope", "train", "--data", data, "--steps", "10", *TINY]
    ok = subprocess.run([*base, "--devices", "4", "--out", str(tmp_path / "four")], env=_env(4),
                        capture_output=True, text=True, timeout=240, cwd=ROOT)  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert "on 4 × CPU" in ok.stdout
    assert _losses(tmp_path / "four") and "done: step 10" in ok.stdout
    odd = subprocess.run([*base, "--devices", "3", "--out", str(tmp_path / "three")], env=_env(4),
                         capture_output=True, text=True, timeout=240, cwd=ROOT)  # fmt: skip
    assert odd.returncode == 2 and "Traceback" not in odd.stderr
    assert "batch size (16) must be a multiple of the number of devices (3)" in odd.stderr
    assert not (tmp_path / "three").exists()


def test_asking_for_more_devices_than_jax_sees_is_one_line_and_status_2(tmp_path, capsys) -> None:
    code = main(["train", "--data", str(_data(tmp_path)), "--steps", "5", "--devices", "64",
                 "--out", str(tmp_path / "run"), *TINY])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "64 devices asked for, but JAX sees 1" in err
    assert "xla_force_host_platform_device_count" in err


def test_choose_devices_defaults_to_the_most_that_divide_the_batch(monkeypatch) -> None:
    import convscope.train.parallel as parallel

    monkeypatch.setattr(parallel, "available_devices", lambda: ["d"] * 8)
    assert choose_devices(None, 128) == 8
    assert choose_devices(None, 12) == 6
    assert choose_devices(None, 7) == 7
    assert choose_devices(None, 11) == 1
    assert choose_devices(4, 128) == 4
    assert choose_devices(None, 128, limit=2) == 2 and choose_devices(None, 12, limit=5) == 4
    with pytest.raises(DeviceCountError, match="multiple"):
        choose_devices(3, 128)
    with pytest.raises(DeviceCountError, match="at least 1"):
        choose_devices(0, 128)


def test_distributed_flags_without_distributed_are_refused(tmp_path, capsys) -> None:
    code = main(["train", "--data", str(_data(tmp_path)), "--steps", "5", "--coordinator", "127.0.0.1:1",
                 "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2 and "need --distributed" in capsys.readouterr().err
    code = main(["train", "--distributed", "--coordinator", "127.0.0.1:1", "--steps", "5",
                 "--data", str(_data(tmp_path))])  # fmt: skip
    assert code == 2 and "go together" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _losses(run: Path) -> list[float]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return [r["loss"] for r in lines if "loss" in r]


@pytest.mark.slow
def test_two_processes_on_one_machine_train_as_one_process_does(tmp_path) -> None:
    """jax.distributed with CPU collectives (gloo) on 127.0.0.1: each process feeds its
    half of every global batch; process 0 alone writes the run."""
    data, port = str(_data(tmp_path)), _free_port()
    procs = []
    for pid in (0, 1):
        cmd = [sys.executable, "-m", "convscope", "train", "--data", data, "--steps", "30", *TINY,
               "--distributed", "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
               "--process-id", str(pid), "--out", str(tmp_path / f"run{pid}")]  # fmt: skip
        procs.append(subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      cwd=ROOT))  # fmt: skip
    outs = []
    for p in procs:
        try:
            outs.append(p.communicate(timeout=240))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
    for p, (_out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "on 2 × CPU in 2 processes" in outs[0][0]
    assert "training" not in outs[1][0] and "done:" not in outs[1][0]  # process 1 says nothing (gloo may)…
    assert not (tmp_path / "run1").exists()  # …and writes nothing
    assert main(["train", "--data", data, "--steps", "30", *TINY, "--devices", "1", "--quiet",
                 "--out", str(tmp_path / "single")]) == 0  # fmt: skip
    together, alone = _losses(tmp_path / "run0"), _losses(tmp_path / "single")
    assert len(together) == len(alone) >= 6
    np.testing.assert_allclose(together, alone, rtol=2e-4, atol=2e-5)
