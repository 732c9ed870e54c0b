"""Issue 16: ``convscope evaluate --checkpoint A B C`` on three short runs — the
ensemble's and each member's metrics — and the refusals."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from convscope.cli import main
from convscope.probes.evaluate import predict_probs
from convscope.train.checkpoint import load_checkpoint

TINY = ["--set", "blocks=1", "--set", "filters=4", "--set", "dense=8", "--set", "batch_size=16"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("ensemble")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (240, 8, 8, 1), dtype=np.uint8)
    y = np.arange(240) % 3
    x[y == 1, :4] //= 3  # learnable: classes differ in brightness
    x[y == 2, 4:] //= 3
    data = root / "tiny.npz"
    np.savez(data, x_train=x, y_train=y)
    paths = []
    for seed in range(3):
        out = root / f"run{seed}"
        assert main(["train", "--data", str(data), "--steps", "40", "--quiet", *TINY, "--set", f"seed={seed}",
                     "--out", str(out)]) == 0  # fmt: skip
        paths.append(str(out / "checkpoints" / "final.npz"))
    return data, paths


def test_the_ensemble_and_each_member_are_evaluated_on_the_shared_validation_split(runs, tmp_path, capsys) -> None:
    data, paths = runs
    out = tmp_path / "report"
    assert main(["evaluate", "--checkpoint", *paths, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ensemble of 3 (mean of softmax)" in printed
    summary = json.loads((out / "ensemble.json").read_text())
    # Independently: each member's softmax on the validation images, averaged by hand.
    from convscope.train.trained_on import load_training_data

    ds = load_training_data(load_checkpoint(paths[0])).dataset
    probs = [predict_probs(c.arch, c.params, c.state, c.norm, ds.x_val) for c in map(load_checkpoint, paths)]
    mean = np.mean(probs, axis=0)
    assert summary["accuracy"] == pytest.approx(float((mean.argmax(1) == ds.y_val).mean()))
    want_loss = float(-np.log(np.clip(mean[np.arange(len(ds.y_val)), ds.y_val], 1e-12, 1)).mean())
    assert summary["loss"] == pytest.approx(want_loss, rel=1e-5)
    for member, p in zip(summary["members"], probs, strict=True):
        assert member["accuracy"] == pytest.approx(float((p.argmax(1) == ds.y_val).mean()))
    preds = np.stack([p.argmax(1) for p in probs])
    disagree = np.flatnonzero((preds != preds[:1]).any(axis=0))
    assert summary["disagreements"] == len(disagree)
    with (out / "disagreements.csv").open() as f:
        assert [int(r["index"]) for r in csv.DictReader(f)] == disagree.tolist()
    with (out / "members.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["model"] for r in rows] == ["member"] * 3 + ["ensemble (mean of softmax)", "ensemble (majority vote)"]
    # The ensemble's evaluation files are those of one model's.
    assert (out / "confusion.csv").exists() and (out / "per_class.csv").exists()
    assert json.loads((out / "metrics.json").read_text())["accuracy"] == pytest.approx(summary["accuracy"])


def test_members_with_another_split_or_other_classes_are_refused(runs, tmp_path, capsys) -> None:
    data, paths = runs
    other = tmp_path / "other-split"
    assert main(["train", "--data", str(data), "--steps", "5", "--quiet", *TINY, "--split-seed", "7",
                 "--out", str(other)]) == 0  # fmt: skip
    code = main(["evaluate", "--checkpoint", paths[0], str(other / "checkpoints" / "final.npz"),
                 "--out", str(tmp_path / "r")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "another's training images" in err and "Traceback" not in err
    rng = np.random.default_rng(1)
    four = tmp_path / "four.npz"
    np.savez(four, x_train=rng.integers(0, 256, (64, 8, 8, 1), dtype=np.uint8), y_train=np.arange(64) % 4)
    assert main(["train", "--data", str(four), "--steps", "3", "--quiet", *TINY, "--out", str(tmp_path / "k4")]) == 0
    code = main(["evaluate", "--checkpoint", paths[0], str(tmp_path / "k4" / "checkpoints" / "final.npz"),
                 "--out", str(tmp_path / "r2")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "of 4 classes" in err and "same question" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "r2").exists()
