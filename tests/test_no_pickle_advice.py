"""Files that are not what ConvScope reads (random bytes named .npz, a plain .npy, an
.npz holding object arrays) are refused with a reason, never with NumPy's advice to load
the file "unsafely with allow_pickle": ConvScope does not unpickle anyone's file, and a
message must not suggest it."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from convscope.cli import main


def _random(path: Path) -> None:
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())


def _plain_npy(path: Path) -> None:
    with open(path, "wb") as f:
        np.save(f, np.zeros((28, 28), np.float32))


def _objects(path: Path) -> None:
    np.savez(path, meta=np.array('{"format": "convscope-landscape", "version": 1}'),
             x_train=np.zeros((20, 8, 8), np.uint8), y_train=np.arange(20) % 2,
             class_names=np.array(["a", 1], dtype=object), alphas=np.array([None, 1], dtype=object))


FILES = {"random bytes": (_random, "not an .npz archive"), "a plain .npy": (_plain_npy, "not an .npz archive"),
         "object arrays": (_objects, "Python objects")}


def _loaders():
    from convscope.data import DataError, load_dataset
    from convscope.probes.landscape_io import LandscapeIOError, load_landscape_npz
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    return {"checkpoint": (load_checkpoint, CheckpointError), "landscape": (load_landscape_npz, LandscapeIOError),
            "data set": (load_dataset, DataError)}


@pytest.mark.parametrize("kind", sorted(FILES))
@pytest.mark.parametrize("reader", ["checkpoint", "landscape", "data set"])
def test_a_foreign_file_is_refused_without_advice_to_unpickle(tmp_path, kind, reader) -> None:
    path = tmp_path / "f.npz"
    FILES[kind][0](path)
    load, error = _loaders()[reader]
    with pytest.raises(error) as info:
        load(path)
    message = str(info.value)
    assert "pickle=" not in message and "unsafe" not in message.lower(), message
    # The data set's reader says "File is not a zip file"; a checkpoint's meta is checked
    # first (hostile_checkpoints' "object array" is a checkpoint whose weights are objects).
    if (reader, kind) not in (("data set", "random bytes"), ("data set", "a plain .npy"),
                              ("checkpoint", "object arrays")):
        assert FILES[kind][1] in message, message


@pytest.mark.parametrize("kind", sorted(FILES))
def test_convscope_evaluate_says_it_in_one_line(tmp_path, capsys, kind) -> None:
    path = tmp_path / "f.npz"
    FILES[kind][0](path)
    assert main(["evaluate", "--checkpoint", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("convscope: ") and "\n" not in err and "pickle=" not in err, err
    assert not os.path.exists(tmp_path / "out")
