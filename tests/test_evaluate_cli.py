"""``convscope evaluate``: the files agree with an independent computation of the
metrics, and bad input ends with one line and exit status 2."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data import builtin_mnist
from convscope.model import init
from convscope.probes.inspect import Inspector
from convscope.train.checkpoint import Checkpoint, save_checkpoint
from convscope.train.step import to_host

ARCH = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
NORM = np.array([[0.13], [0.31]], np.float32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    params, state = init(ARCH, 11)
    path = tmp_path_factory.mktemp("ckpt") / "model.npz"
    return save_checkpoint(path, Checkpoint(ARCH, TrainConfig(), to_host(params), to_host(state), 5, NORM))


def reference_probs(checkpoint_path) -> tuple[np.ndarray, np.ndarray]:
    from convscope.train.checkpoint import load_checkpoint

    ck = load_checkpoint(checkpoint_path)
    data = builtin_mnist()
    _, probs = Inspector(ARCH).run_batch(ck.params, ck.state, ck.norm, data.x_val, layers=())
    return probs, data.y_val


def test_evaluate_writes_metrics_that_match_an_independent_computation(checkpoint, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(out), "--gallery", "5"]) == 0
    printed = capsys.readouterr().out
    probs, y = reference_probs(checkpoint)
    pred = probs.argmax(axis=1)
    acc = float(np.mean(pred == y))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["examples"] == 1000 and metrics["step"] == 5 and metrics["split"] == "val"
    assert metrics["accuracy"] == pytest.approx(acc, abs=1e-6)
    assert f"accuracy {100 * acc:.2f}%" in printed and "balanced accuracy" in printed
    # confusion.csv: rows true, columns predicted, counted here with a loop.
    with (out / "confusion.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", *[str(i) for i in range(10)]]
    counts = np.array([[int(v) for v in r[1:]] for r in rows[1:]])
    want = np.zeros((10, 10), int)
    for t, p in zip(y, pred, strict=True):
        want[t, p] += 1
    np.testing.assert_array_equal(counts, want)
    # confusion_normalized.csv: each row is that class's counts over its support.
    with (out / "confusion_normalized.csv").open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["true \\ predicted", *[str(i) for i in range(10)]]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(10)]
    shares = np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    np.testing.assert_allclose(shares, want / want.sum(axis=1, keepdims=True), atol=1e-6)
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-5)
    # The default class is the one with the lowest F1 (defined ones, lowest index on ties).
    f1 = [2 * want[c, c] / (want[c].sum() + want[:, c].sum()) if want[c].sum() + want[:, c].sum() else np.inf
          for c in range(10)]
    ovr = metrics["one_vs_rest"]
    assert ovr["index"] == int(np.argmin(f1)) and metrics["class_chosen_by"] == "lowest F1"
    c = ovr["index"]
    pos = y == c
    hit = probs[:, c] >= 0.5
    assert (ovr["tp"], ovr["fp"], ovr["fn"]) == (int(np.sum(hit & pos)), int(np.sum(hit & ~pos)),
                                                int(np.sum(~hit & pos)))
    with (out / "pr_curve.csv").open() as f:
        pr = list(csv.DictReader(f))
    assert len(pr) == len(np.unique(probs[:, c]))
    assert float(pr[-1]["recall"]) == pytest.approx(1.0)  # the lowest threshold admits everything
    for kind in ("TP", "FP", "FN", "TN"):
        with Image.open(out / f"gallery_{kind}.png") as im:
            assert im.format == "PNG" and im.width >= 640


def test_evaluate_a_named_class_on_the_training_split(checkpoint, tmp_path):
    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(checkpoint), "--out", str(out), "--class", "7",
                 "--split", "train", "--threshold", "0.2", "--gallery", "0"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["examples"] == 4000 and metrics["one_vs_rest"]["class"] == "7"
    assert metrics["one_vs_rest"]["threshold"] == 0.2
    assert sum(r["support"] for r in metrics["per_class"]) == 4000


@pytest.mark.parametrize(
    "extra, fragment",
    [
        (["--threshold", "1.5"], "--threshold must be in [0, 1]"),
        (["--class", "cat"], "--class 'cat' is not a class name or an index 0..9"),
        (["--class", "10"], "not a class name or an index"),
        (["--split", "test"], "invalid choice: 'test'"),
        (["--data", "{tmp}/missing"], "missing: no such file or folder"),
        (["--gallery", "-1"], "--gallery must be 0 or more"),
        (["--val-fraction", "1.5"], "fraction"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(checkpoint, tmp_path, capsys, extra, fragment):
    argv = ["evaluate", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "o")]
    argv += [a.replace("{tmp}", str(tmp_path)) for a in extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("convscope: ") and "\n" not in err and fragment in err, err


def test_bad_checkpoints_and_mismatched_data_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert main(["evaluate", "--checkpoint", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a ConvScope checkpoint (not an .npz archive)" in capsys.readouterr().err
    cifar = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), input_shape=(32, 32, 3))
    params, state = init(cifar, 0)
    path = save_checkpoint(tmp_path / "c.npz", Checkpoint(cifar, TrainConfig(), to_host(params), to_host(state), 0))
    assert main(["evaluate", "--checkpoint", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "the checkpoint expects 32×32×3 images and 10 classes; MNIST (built-in)" in err and "\n" not in err
    (tmp_path / "file").write_text("x")
    assert main(["evaluate", "--checkpoint", str(path), "--out", str(tmp_path / "file")]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
