"""Checkpoints round-trip and refuse bad files; ``convscope train`` writes a run directory
and fails with one readable line on bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from convscope.cli import build_configs, main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model import init
from convscope.train.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from convscope.train.step import to_host

ARCH = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,), batch_norm=True)


def make_ckpt(step: int = 7) -> Checkpoint:
    params, state = init(ARCH, 3)
    norm = np.array([[0.13], [0.31]], np.float32)
    return Checkpoint(ARCH, TrainConfig(learning_rate=3e-4), to_host(params), to_host(state), step, norm)


def test_checkpoint_round_trip_is_exact(tmp_path):
    ck = make_ckpt()
    path = save_checkpoint(tmp_path / "a", ck)
    assert path.name == "a.npz"
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"]  # no temp file left behind
    back = load_checkpoint(path)
    assert back.arch == ARCH and back.config == ck.config and back.step == 7
    np.testing.assert_array_equal(back.norm, ck.norm)
    for layer, leaves in ck.params.items():
        for name, arr in leaves.items():
            np.testing.assert_array_equal(back.params[layer][name], arr)
    np.testing.assert_array_equal(back.state["bn1"]["var"], ck.state["bn1"]["var"])
    # Readable by plain NumPy without pickle, as the README documents.
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        assert meta["format"] == "convscope-checkpoint" and z["params/conv1/w"].shape == (3, 3, 1, 4)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "not an .npz archive"),
        (b"this is not a zip file at all", "not an .npz archive"),
    ],
)
def test_bad_checkpoint_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)


def test_checkpoint_with_wrong_shapes_or_foreign_npz_is_refused(tmp_path):
    np.savez(tmp_path / "foreign.npz", x=np.zeros(3))
    with pytest.raises(CheckpointError, match="not a ConvScope checkpoint"):
        load_checkpoint(tmp_path / "foreign.npz")
    ck = make_ckpt()
    ck.params["conv1"]["w"] = np.zeros((5, 5, 1, 4), np.float32)
    path = save_checkpoint(tmp_path / "wrong.npz", ck)
    with pytest.raises(CheckpointError, match=r"params/conv1/w has shape \(5, 5, 1, 4\), expected \(3, 3, 1, 4\)"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="is a directory"):
        load_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "nope.npz")


def test_set_overrides_build_arch_and_config():
    arch, cfg = build_configs(["learning_rate=3e-4", "optimizer=sgd", "blocks=3", "activation=tanh",
                               "filters=8", "dense=64", "batch_norm=true"])
    assert cfg.learning_rate == 3e-4 and cfg.optimizer == "sgd"
    assert [c.filters for c in arch.convs] == [8, 16, 32]
    assert arch.activation == "tanh" and arch.dense == (64,) and arch.batch_norm
    assert build_configs([])[0] == ArchSpec()  # no overrides: the default model


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--out", "{tmp}/r", "--set", "nonsense=1"], "unknown setting 'nonsense'"),
        (["train", "--out", "{tmp}/r", "--set", "learning_rate=-1"], "learning_rate must be"),
        (["train", "--out", "{tmp}/r", "--set", "blocks=6"], "conv block 5"),
        (["train", "--out", "{tmp}/r", "--steps", "0"], "--steps must be at least 1"),
        (["train", "--out", "{tmp}/r", "--data", "{tmp}/no-such-dir"], "no-such-dir"),
        (["train", "--out", "{tmp}/r", "--resume", "{tmp}/r"], "not allowed with argument --out"),
        (["train", "--resume", "{tmp}/no-run"], "no such run directory"),
        (["train", "--out", "{tmp}/r", "--epochs", "inf"], "--epochs must be a positive number"),
        (["train", "--out", "{tmp}/r", "--steps", "x"], "invalid int value"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, fragment):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("convscope: ") and "\n" not in err and fragment in err


@pytest.mark.slow
def test_headless_train_writes_a_run_directory(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "convscope", "train", "--steps", "12", "--out", str(out),
         "--set", "filters=4", "--set", "dense=16", "--set", "eval_every=6", "--set", "log_every=1"],
        capture_output=True, text=True, timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    assert "done: step 12" in proc.stdout
    config = json.loads((out / "config.json").read_text())
    assert ArchSpec.from_dict(config["arch"]).convs[0].filters == 4
    assert TrainConfig.from_dict(config["config"]).eval_every == 6
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if "loss" in r]
    evals = [r for r in records if "val_acc" in r]
    assert train and evals and evals[-1]["step"] == 12
    for r in train:
        assert {"step", "epoch", "loss", "acc", "lr", "time"} <= set(r)
    for r in evals:
        assert {"step", "epoch", "val_loss", "val_acc", "time"} <= set(r)
    ck = load_checkpoint(out / "checkpoints" / "final.npz")
    assert ck.step == 12 and ck.arch.convs[0].filters == 4
