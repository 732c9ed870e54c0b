"""The split a model was trained with travels with it: ``convscope train`` records the
validation split (its own seed, not the model's) and the image-folder size; ``convscope
evaluate`` reads them back, so it never evaluates on training images. Checkpoints from
before the record still load and evaluate as they did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import convscope.data.dataset as dataset_module
from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data import load_dataset
from convscope.model import init
from convscope.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    DataRecord,
    load_checkpoint,
    save_checkpoint,
)
from convscope.train.step import to_host


def write_folder(root: Path, per_class: int = 10) -> Path:
    """Two classes of distinct 20×30 gray PNGs."""
    from PIL import Image

    rng = np.random.default_rng(1)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (20, 30), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def write_npz(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(2)
    np.savez(path, x_train=rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8), y_train=np.arange(n) % 2)
    return path


@pytest.fixture
def spy(monkeypatch):
    """Every Dataset the command line loads, in order."""
    loaded = []
    real = dataset_module.load_dataset

    def load(*args, **kwargs):
        loaded.append(real(*args, **kwargs))
        return loaded[-1]

    monkeypatch.setattr(dataset_module, "load_dataset", load)
    return loaded


def rows(x: np.ndarray) -> set[bytes]:
    return {img.tobytes() for img in x}


def test_data_record_round_trips_and_bad_ones_are_refused(tmp_path) -> None:
    arch = ArchSpec(convs=(ConvLayer(filters=2, kernel=3),), dense=(), input_shape=(8, 8, 1), num_classes=2)
    params, state = init(arch, 0)
    record = DataRecord("f", "/data/f.npz", (0.25, 7))
    path = save_checkpoint(tmp_path / "a.npz", Checkpoint(arch, TrainConfig(), to_host(params), to_host(state), 3,
                                                          data=record))  # fmt: skip
    assert load_checkpoint(path).data == record
    with np.load(path) as z:
        assert json.loads(str(z["meta"]))["data"] == {
            "name": "f",
            "origin": "/data/f.npz",
            "val_split": [0.25, 7],
        }
    old = save_checkpoint(
        tmp_path / "old.npz", Checkpoint(arch, TrainConfig(), to_host(params), to_host(state), 3)
    )
    with np.load(old) as z:
        assert "data" not in json.loads(str(z["meta"]))  # as version-1 checkpoints were written
    assert load_checkpoint(old).data is None
    with np.load(path) as z:
        arrays = dict(z)
    meta = json.loads(str(arrays["meta"]))
    meta["data"]["val_split"] = [1.5, 7]
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(CheckpointError, match="bad.npz: invalid configuration.*val_split"):
        load_checkpoint(tmp_path / "bad.npz")


@pytest.mark.slow
def test_train_records_split_and_size_and_evaluate_reads_them_back(tmp_path, spy) -> None:
    folder = write_folder(tmp_path / "pics")
    run = tmp_path / "run"
    assert main(["train", "--data", str(folder), "--image-size", "12", "--split-seed", "7", "--steps", "2",
                 "--out", str(run), "--quiet", "--set", "seed=3", "--set", "val_fraction=0.3",
                 "--set", "filters=2", "--set", "dense=4", "--set", "batch_size=8"]) == 0  # fmt: skip
    trained = spy[-1]
    assert trained.image_shape == (12, 12, 1) and trained.val_split == (0.3, 7)  # not the model's seed 3
    ck = load_checkpoint(run / "checkpoints" / "final.npz")
    assert ck.data == DataRecord(trained.name, str(folder), (0.3, 7)) and ck.arch.input_shape == (12, 12, 1)
    assert json.loads((run / "config.json").read_text())["val_split"] == [0.3, 7]

    out = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(run / "checkpoints" / "final.npz"), "--data", str(folder),
                 "--out", str(out), "--gallery", "0"]) == 0  # fmt: skip
    evaluated = spy[-1]
    assert evaluated.image_shape == (12, 12, 1)  # automatic would have been the folder's 20×30
    np.testing.assert_array_equal(evaluated.x_val, trained.x_val)
    assert not rows(evaluated.x_val) & rows(trained.x_train)
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["val_fraction"], metrics["split_seed"]) == (0.3, 7)
    assert metrics["split_from"] == "the checkpoint's training split" and metrics["examples"] == 6


def test_evaluate_of_a_checkpoint_without_a_data_record_splits_as_train_did(tmp_path, spy) -> None:
    """Before the record, ``convscope train`` split with the model's seed."""
    npz = write_npz(tmp_path / "set.npz")
    arch = ArchSpec(convs=(ConvLayer(filters=2, kernel=3),), dense=(), input_shape=(8, 8, 1), num_classes=2)
    params, state = init(arch, 0)
    config = TrainConfig(seed=3, val_fraction=0.2)
    path = save_checkpoint(tmp_path / "v1.npz", Checkpoint(arch, config, to_host(params), to_host(state), 1))
    out = tmp_path / "eval"
    assert (
        main(["evaluate", "--checkpoint", str(path), "--data", str(npz), "--out", str(out), "--gallery", "0"])
        == 0
    )
    assert spy[-1].val_split == (0.2, 3)
    np.testing.assert_array_equal(spy[-1].x_val, load_dataset(npz, val_fraction=0.2, seed=3).x_val)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split_from"] == "the checkpoint's training config" and metrics["examples"] == 8
    # Flags still win, and say so.
    assert main(["evaluate", "--checkpoint", str(path), "--data", str(npz), "--out", str(out), "--gallery", "0",
                 "--split-seed", "5"]) == 0  # fmt: skip
    assert spy[-1].val_split == (0.2, 5)
    assert json.loads((out / "metrics.json").read_text())["split_from"] == "--split-seed"


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["train", "--out", "{tmp}/r", "--image-size", "2"], "--image-size must be an integer in 4..256"),
        (["train", "--out", "{tmp}/r", "--split-seed", "-1"], "--split-seed must be an integer"),
        (["train", "--out", "{tmp}/r", "--set", "val_fraction=0"], "val_fraction must be in (0, 0.9]"),
        (["--image-size", "1000"], "--image-size must be an integer in 4..256"),
        (["gui", "--image-size", "x"], "invalid int value"),
    ],
)
def test_bad_load_flags_exit_2_with_one_line(tmp_path, capsys, argv, fragment) -> None:
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("convscope: ") and "\n" not in err and fragment in err, err
    assert not (tmp_path / "r").exists()


def test_image_size_may_be_height_and_width(tmp_path) -> None:
    folder = write_folder(tmp_path / "pics", per_class=3)
    assert load_dataset(folder, image_size=(10, 15)).image_shape == (10, 15, 1)
    with pytest.raises(ValueError, match="image_size must be None, an integer in 4..256"):
        load_dataset(folder, image_size=(10, 300))


@pytest.mark.slow
def test_evaluate_and_landscape_without_data_open_the_set_the_checkpoint_records(
    tmp_path, spy, monkeypatch, capsys
) -> None:
    """Trained from a relative path, judged from another folder without --data: the
    recorded set (made absolute) is opened and split as in training; once it is gone,
    one line says so."""
    write_npz(tmp_path / "set.npz")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--data", "set.npz", "--split-seed", "4", "--steps", "2", "--out", "run", "--quiet",
                 "--set", "filters=2", "--set", "dense=4", "--set", "batch_size=8",
                 "--set", "val_fraction=0.25"]) == 0  # fmt: skip
    trained = spy[-1]
    ckpt = tmp_path / "run" / "checkpoints" / "final.npz"
    assert load_checkpoint(ckpt).data.origin == str(tmp_path / "set.npz")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    assert main(["evaluate", "--checkpoint", str(ckpt), "--out", "eval", "--gallery", "0"]) == 0
    np.testing.assert_array_equal(spy[-1].x_val, trained.x_val)
    assert not rows(spy[-1].x_val) & rows(trained.x_train)
    metrics = json.loads((elsewhere / "eval" / "metrics.json").read_text())
    assert metrics["data_from"] == "the checkpoint's data record" and metrics["examples"] == 10

    assert main(["landscape", "--checkpoint", str(ckpt), "--resolution", "3", "--examples", "8",
                 "--split", "val", "--out", "land"]) == 0  # fmt: skip
    np.testing.assert_array_equal(spy[-1].x_val, trained.x_val)
    assert (elsewhere / "land" / "landscape.npz").is_file()

    (tmp_path / "set.npz").rename(tmp_path / "moved.npz")
    capsys.readouterr()
    for argv in (["evaluate", "--checkpoint", str(ckpt), "--out", "eval2"],
                 ["landscape", "--checkpoint", str(ckpt), "--resolution", "3", "--out", "land2"]):  # fmt: skip
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "set.npz, which is not there any more: give its new place with --data" in err
    assert not (elsewhere / "eval2").exists() and not (elsewhere / "land2").exists()
