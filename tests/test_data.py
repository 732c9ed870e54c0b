"""Tests for convscope.data: the IDX reader, the MNIST folder loader, Dataset, splits."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from convscope.data import (
    DataError,
    Dataset,
    builtin_mnist,
    load_dataset,
    load_mnist_dir,
    read_idx,
    split_validation,
)

# --- a small IDX writer, independent of the reader under test -------------------------

_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D, "float64": 0x0E}


def idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


def idx_bytes(arr: np.ndarray) -> bytes:
    code = _CODES[arr.dtype.name]
    return idx_header(code, arr.shape) + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_bytes(path: Path, payload: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(payload) if gz else payload)
    return path


def write_idx(path: Path, arr: np.ndarray, gz: bool = False) -> Path:
    return write_bytes(path, idx_bytes(arr), gz)


def write_mnist(
    directory: Path,
    n_train: int = 20,
    n_test: int = 10,
    gz: bool = True,
    dotted: bool = False,
    size: int = 28,
    seed: int = 0,
) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    arrays = (
        rng.integers(0, 256, (n_train, size, size), dtype=np.uint8),
        (np.arange(n_train) % 10).astype(np.uint8),
        rng.integers(0, 256, (n_test, size, size), dtype=np.uint8),
        (np.arange(n_test) % 10).astype(np.uint8),
    )
    stems = (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )
    directory.mkdir(parents=True, exist_ok=True)
    for stem, arr in zip(stems, arrays, strict=True):
        name = stem.replace("-idx", ".idx") if dotted else stem
        write_idx(directory / (name + (".gz" if gz else "")), arr, gz)
    return arrays


# --- read_idx: good files ------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
def test_read_idx_round_trips_every_type(tmp_path: Path, dtype: str, gz: bool) -> None:
    rng = np.random.default_rng(1)
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    got = read_idx(write_idx(tmp_path / "f.idx", arr, gz))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, arr)


def test_read_idx_detects_gzip_by_content_not_name(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.int32).reshape(3, 4)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "plain.gz", arr, gz=False)), arr)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "zipped-ubyte", arr, gz=True)), arr)


def test_read_idx_accepts_empty_dimension(tmp_path: Path) -> None:
    assert read_idx(write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))).shape == (0, 28, 28)


# --- read_idx: bad files -------------------------------------------------------------


def _raises_naming(path: Path, match: str) -> None:
    with pytest.raises(DataError, match=match) as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


@pytest.mark.parametrize("gz", [False, True])
def test_wrong_magic(tmp_path: Path, gz: bool) -> None:
    _raises_naming(write_bytes(tmp_path / "m", b"\x12\x34\x08\x01" + bytes(8), gz), "not an IDX file")


def test_unknown_type_code(tmp_path: Path) -> None:
    _raises_naming(
        write_bytes(tmp_path / "t", idx_header(0x0A, (2,)) + bytes(2)), "unknown IDX type code 0x0a"
    )


@pytest.mark.parametrize("payload", [b"", b"\x00\x00", idx_header(0x08, (3, 4))[:6], b"\x00\x00\x08\x00"])
def test_short_or_empty_header(tmp_path: Path, payload: bytes) -> None:
    _raises_naming(write_bytes(tmp_path / "h", payload), "IDX header")


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_data(tmp_path: Path, gz: bool) -> None:
    payload = idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-1]
    _raises_naming(write_bytes(tmp_path / "short", payload, gz), "truncated data")


@pytest.mark.parametrize("gz", [False, True])
def test_trailing_bytes(tmp_path: Path, gz: bool) -> None:
    payload = idx_bytes(np.zeros((10, 28, 28), np.uint8)) + b"junk"
    _raises_naming(write_bytes(tmp_path / "long", payload, gz), "unexpected bytes after")


def test_truncated_gzip_stream(tmp_path: Path) -> None:
    blob = gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32)))
    _raises_naming(write_bytes(tmp_path / "cut.gz", blob[: len(blob) // 2]), "gzip")


def test_garbage_after_gzip_stream(tmp_path: Path) -> None:
    blob = gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8))) + b"not gzip"
    _raises_naming(write_bytes(tmp_path / "tail.gz", blob), "gzip")


def test_gzip_crc_mismatch(tmp_path: Path) -> None:
    blob = bytearray(gzip.compress(idx_bytes(np.arange(10, dtype=np.uint8))))
    blob[-8] ^= 0xFF  # the CRC-32 of the member's trailer
    _raises_naming(write_bytes(tmp_path / "crc.gz", bytes(blob)), "gzip")


@pytest.mark.parametrize("dims", [(60000, 60000, 28), (2**32 - 1, 2**32 - 1, 2**32 - 1), (600_000_000,)])
def test_absurd_sizes_are_refused_before_reading(tmp_path: Path, dims: tuple[int, ...]) -> None:
    _raises_naming(write_bytes(tmp_path / "huge", idx_header(0x08, dims) + bytes(16)), "larger than")


def test_absurd_byte_size_of_wide_type(tmp_path: Path) -> None:
    # 400M float64 values: under the element cap, over the byte cap.
    _raises_naming(write_bytes(tmp_path / "wide", idx_header(0x0E, (400_000_000,))), "larger than")


def test_gzip_bomb_is_not_expanded(tmp_path: Path) -> None:
    # A header claiming 10×28×28 followed by 100 MB of zeros, ~100 kB compressed.
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip container
    parts = [comp.compress(idx_header(0x08, (10, 28, 28)))]
    zeros = bytes(1 << 20)
    parts += [comp.compress(zeros) for _ in range(100)]
    parts.append(comp.flush())
    bomb = write_bytes(tmp_path / "bomb.gz", b"".join(parts))
    tracemalloc.start()
    try:
        _raises_naming(bomb, "unexpected bytes after")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"reading the bomb peaked at {peak:,} bytes"


def test_lying_header_allocates_by_content(tmp_path: Path) -> None:
    # Claims 400 MB (allowed) but holds 100 bytes: fail as truncated without allocating 400 MB.
    path = write_bytes(tmp_path / "liar", idx_header(0x08, (400_000_000,)) + bytes(100))
    tracemalloc.start()
    try:
        _raises_naming(path, "truncated data")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_missing_file_and_directory(tmp_path: Path) -> None:
    _raises_naming(tmp_path / "nope", "no such file")
    _raises_naming(tmp_path, "cannot read")


# --- load_mnist_dir ------------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dotted", [False, True])
def test_load_mnist_dir_round_trip(tmp_path: Path, gz: bool, dotted: bool) -> None:
    xtr, ytr, xte, yte = write_mnist(tmp_path, gz=gz, dotted=dotted)
    x_train, y_train, x_test, y_test = load_mnist_dir(tmp_path)
    assert x_train.shape == (20, 28, 28, 1) and x_train.dtype == np.uint8
    assert x_test.shape == (10, 28, 28, 1) and y_test.dtype == np.int32 and y_train.dtype == np.int32
    np.testing.assert_array_equal(x_train[..., 0], xtr)
    np.testing.assert_array_equal(y_train, ytr)
    np.testing.assert_array_equal(x_test[..., 0], xte)
    np.testing.assert_array_equal(y_test, yte)


def test_load_mnist_dir_missing_file(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte: missing"):
        load_mnist_dir(tmp_path)


def test_load_mnist_dir_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such folder"):
        load_mnist_dir(tmp_path / "absent")


def test_load_mnist_dir_count_mismatch(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8), gz=True)
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: 19 labels for 20 images"):
        load_mnist_dir(tmp_path)


def test_load_mnist_dir_label_out_of_range(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    labels = np.zeros(10, np.uint8)
    labels[7] = 10
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels, gz=True)
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: label 10 at index 7 is outside 0\.\.9"):
        load_mnist_dir(tmp_path)


def test_load_mnist_dir_images_must_be_3d_uint8(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx(path, np.zeros((20, 784), np.uint8), gz=True)
    with pytest.raises(DataError, match="expected 3-D images") as info:
        load_mnist_dir(tmp_path)
    assert str(path) in str(info.value)
    write_idx(path, np.zeros((20, 28, 28), np.float32), gz=True)
    with pytest.raises(DataError, match="expected uint8 pixels"):
        load_mnist_dir(tmp_path)


def test_load_mnist_dir_train_test_size_mismatch(tmp_path: Path) -> None:
    write_mnist(tmp_path)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", np.zeros((10, 32, 32), np.uint8), gz=True)
    with pytest.raises(DataError, match="32×32 but the training images are 28×28"):
        load_mnist_dir(tmp_path)


# --- the built-in digits and load_dataset ----------------------------------------------


@pytest.fixture(scope="module")
def builtin() -> Dataset:
    return builtin_mnist()


def test_builtin_mnist(builtin: Dataset) -> None:
    d = builtin
    assert d.x_train.shape == (4000, 28, 28, 1) and d.x_val.shape == (1000, 28, 28, 1)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int32
    assert np.bincount(d.y_train).tolist() == [400] * 10
    assert np.bincount(d.y_val).tolist() == [100] * 10
    assert d.x_train.min() == 0 and d.x_train.max() == 255
    assert 20 < d.x_train.mean() < 60  # mostly black background with white strokes
    assert len(np.unique(d.x_train)) > 200
    assert d.image_shape == (28, 28, 1) and d.num_classes == 10
    assert d.class_names == tuple("0123456789")
    assert d.summary() == "MNIST (built-in): 4,000 train / 1,000 val, 28×28×1, 10 classes"
    assert "MNIST (LeCun, Cortes, Burges)" in d.source and "CC BY-SA 3.0" in d.source


def test_load_dataset_none_is_builtin() -> None:
    assert load_dataset(None).summary() == "MNIST (built-in): 4,000 train / 1,000 val, 28×28×1, 10 classes"


def test_load_dataset_mnist_folder(tmp_path: Path) -> None:
    write_mnist(tmp_path / "my-digits", gz=False, dotted=True)
    d = load_dataset(str(tmp_path / "my-digits"))
    assert d.name == "my-digits"
    assert d.summary() == "my-digits: 20 train / 10 val, 28×28×1, 10 classes"
    assert str(tmp_path / "my-digits") in d.source


def test_load_dataset_unknown_things(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_dataset(tmp_path / "absent")
    (tmp_path / "notes.txt").write_text("hello")
    for target in (tmp_path, tmp_path / "notes.txt"):
        with pytest.raises(DataError, match="not a data set ConvScope can read") as info:
            load_dataset(target)
        assert str(target) in str(info.value)


def test_load_dataset_partial_mnist_folder_names_missing_file(tmp_path: Path) -> None:
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(DataError, match="train-labels-idx1-ubyte: missing"):
        load_dataset(tmp_path)


# --- Dataset validation --------------------------------------------------------------


def _small(**changes: object) -> Dataset:
    fields: dict[str, object] = dict(
        name="tiny",
        x_train=np.zeros((4, 5, 5, 1), np.uint8),
        y_train=np.array([0, 1, 0, 1], np.int32),
        x_val=np.zeros((2, 5, 5, 1), np.uint8),
        y_val=np.array([0, 1], np.int32),
        class_names=("a", "b"),
        source="test",
    )
    fields.update(changes)
    return Dataset(**fields)  # type: ignore[arg-type]


def test_dataset_accepts_valid() -> None:
    assert _small().summary() == "tiny: 4 train / 2 val, 5×5×1, 2 classes"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"x_train": np.zeros((4, 5, 5, 1), np.float32)}, "x_train must be a uint8 array"),
        ({"x_train": np.zeros((4, 5, 5), np.uint8)}, "x_train must be a uint8 array"),
        ({"x_val": np.zeros((2, 5, 5, 7), np.uint8)}, "1 to 4 channels"),
        ({"y_train": np.array([0, 1, 0, 1], np.int64)}, "y_train must be an int32 array"),
        ({"y_val": np.array([0, 1, 1], np.int32)}, "3 val labels for 2 val images"),
        ({"y_train": np.array([0, 1, 2, 1], np.int32)}, "train label 2 is outside 0..1"),
        ({"y_val": np.array([-1, 1], np.int32)}, "val label -1 is outside 0..1"),
        ({"x_val": np.zeros((2, 6, 6, 1), np.uint8)}, "val images are 6×6×1 but train images are 5×5×1"),
        ({"class_names": ("a", "a")}, "at least two distinct strings"),
        ({"name": ""}, "name must be a non-empty string"),
        ({"val_split": (1.0, 0)}, "val_split must be None or"),
        ({"val_split": (0.1, -1)}, "val_split must be None or"),
        ({"notes": None}, "notes and origin must be strings"),
    ],
)
def test_dataset_rejects_invalid(changes: dict[str, object], match: str) -> None:
    with pytest.raises(DataError, match=match):
        _small(**changes)


# --- split_validation ----------------------------------------------------------------


def test_split_is_stratified_reproducible_and_disjoint() -> None:
    y = np.repeat(np.arange(4, dtype=np.int32), [100, 50, 20, 10])
    x = np.arange(len(y))  # item ids, to check which items went where
    x_tr, y_tr, x_va, y_va = split_validation(x, y, 0.2, seed=3)
    assert np.bincount(y_va).tolist() == [20, 10, 4, 2]
    assert np.bincount(y_tr).tolist() == [80, 40, 16, 8]
    assert sorted(np.concatenate([x_tr, x_va]).tolist()) == x.tolist()
    np.testing.assert_array_equal(y[x_tr], y_tr)
    again = split_validation(x, y, 0.2, seed=3)
    np.testing.assert_array_equal(again[2], x_va)
    assert not np.array_equal(split_validation(x, y, 0.2, seed=4)[2], x_va)


def test_split_keeps_every_class_on_both_sides() -> None:
    y = np.array([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1], np.int32)
    _, y_tr, _, y_va = split_validation(np.zeros((12, 2, 2, 1), np.uint8), y, 0.1, seed=0)
    assert set(y_tr.tolist()) == {0, 1} and set(y_va.tolist()) == {0, 1}


def test_split_of_builtin_makes_a_valid_dataset(builtin: Dataset) -> None:
    x_tr, y_tr, x_va, y_va = split_validation(builtin.x_train, builtin.y_train, 0.25, seed=0)
    d = Dataset("split", x_tr, y_tr, x_va, y_va, builtin.class_names, "test")
    assert d.summary() == "split: 3,000 train / 1,000 val, 28×28×1, 10 classes"


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5])
def test_split_rejects_bad_fraction(fraction: float) -> None:
    with pytest.raises(ValueError, match="fraction"):
        split_validation(np.zeros(4), np.zeros(4, np.int32), fraction, seed=0)


# --- import rule: numpy and the standard library only -----------------------------------


def test_data_package_imports_no_jax_or_qt() -> None:
    code = (
        "import sys, convscope.data; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'PySide6', 'PIL', 'optax')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
