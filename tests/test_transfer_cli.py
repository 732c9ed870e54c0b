"""``convscope train --init-from C --freeze …`` end to end on tiny 8×8 sets: a grey
checkpoint starts a colour run (conv1 adapted, frozen, bitwise as adapted at the end),
and every refusal is one line on stderr, exit status 2, no run directory."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from convscope.cli import EXIT_USAGE, main
from convscope.train.checkpoint import load_checkpoint

SMALL = ["--set", "blocks=2", "--set", "filters=3", "--set", "dense=6", "--set", "batch_size=16",
         "--set", "augment=false", "--quiet"]  # fmt: skip


def write_set(path: Path, channels: int, classes: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (64, 8, 8, channels), dtype=np.uint8)
    np.savez(path, x_train=x, y_train=np.arange(64) % classes)
    return path


@cache
def grey_checkpoint(root: str) -> Path:
    base = Path(root)
    grey = write_set(base / "grey.npz", 1, 4, 0)
    assert main(["train", "--data", str(grey), "--steps", "3", "--out", str(base / "grey_run"), *SMALL]) == 0
    return base / "grey_run" / "checkpoints" / "final.npz"


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return grey_checkpoint(str(tmp_path_factory.mktemp("transfer")))


def test_a_grey_checkpoint_starts_a_colour_run_with_conv1_adapted_and_frozen(source, tmp_path, capsys):
    colour = write_set(tmp_path / "colour.npz", 3, 3, 1)
    out = tmp_path / "run"
    argv = ["train", "--data", str(colour), "--init-from", str(source), "--freeze", "conv1", "--steps", "4",
            "--out", str(out), "--set", "batch_size=16", "--set", "weight_decay=0.01"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "conv1: adapted (grey → colour: the 1-channel kernel replicated over the 3 channels and divided by 3" in printed
    assert "[frozen]" in printed and "conv2: copied" in printed and "logits: rebuilt" in printed
    info = json.loads((out / "run.json").read_text())
    assert info["init_from"]["checkpoint"] == str(source.resolve())
    assert info["init_from"]["layers"]["conv1"] == "adapted" and info["init_from"]["frozen"] == ["conv1"]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["frozen"] == ["conv1"] and cfg["init_from"]["step"] == 3
    # The comparison says how each run began: the Runs panel's "Start" column, convscope runs.
    from convscope.runs.reader import read_summary

    assert read_summary(out).start.startswith("from ") and read_summary(out).start.endswith("@ 3 (frozen conv1)")
    assert read_summary(source.parent.parent).start == "scratch"
    assert main(["runs", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["start"] for r in rows] == [read_summary(out).start]
    src, end = load_checkpoint(source), load_checkpoint(out / "checkpoints" / "final.npz")
    assert end.step == 4 and end.config.frozen == ("conv1",)
    np.testing.assert_array_equal(end.params["conv1"]["w"], np.repeat(src.params["conv1"]["w"], 3, axis=2) / 3)
    np.testing.assert_array_equal(end.params["conv1"]["b"], src.params["conv1"]["b"])
    assert not np.array_equal(end.params["conv2"]["w"], src.params["conv2"]["w"])  # fine-tuned
    assert end.params["logits"]["w"].shape == (6, 3)


@pytest.mark.parametrize(("extra", "expected"), [
    (["--freeze", "conv9"], "--freeze: no layer conv9 to freeze; this model has conv1, conv2, dense1, logits"),
    (["--freeze", "bn1"], "--freeze: frozen: 'bn1' is not a layer that can be frozen"),
    (["--freeze-through", "dense4"], "--freeze-through: no layer dense4 to freeze through"),
    (["--set", "filters=5"], "cannot start from it: conv1: the checkpoint's kernel is 3×3×1×3, this model's 3×3×3×5"),
    (["--set", "kernel=5"], "cannot start from it: conv1: the checkpoint's kernel is 3×3×1×3, this model's 5×5×3×3"),
], ids=["unknown-layer", "bn-name", "through-unknown", "filters", "kernel"])
def test_refusals_are_one_line_exit_2_and_leave_no_run_directory(source, tmp_path, capsys, extra, expected):
    colour = write_set(tmp_path / "colour.npz", 3, 3, 1)
    out = tmp_path / "run"
    argv = ["train", "--data", str(colour), "--init-from", str(source), "--steps", "2", "--out", str(out), *extra]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err
    assert expected in err, err
    assert err.strip().count("\n") == 0
    assert not out.exists()


def test_a_missing_checkpoint_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--init-from", str(tmp_path / "none.npz"), "--steps", "1", "--out", str(out)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "--init-from" in err and err.strip().count("\n") == 0
    assert not out.exists()
