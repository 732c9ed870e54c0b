"""Each data set format read back from small files written here in the real layout
(by writers independent of the readers), plus the built-in colour set."""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from convscope.data import DataError, Dataset, load_dataset
from convscope.data.cifar import CIFAR10_NAMES, CIFAR100_NAMES
from convscope.data.synthetic import COLOR_CLASSES, make_colors

# --- writers in the published formats ---------------------------------------------------


def planar(images: np.ndarray) -> np.ndarray:
    """(N, 32, 32, 3) → (N, 3072) channel-planar rows, as CIFAR stores them."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def cifar_arrays(n: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), (np.arange(n) % classes).astype(np.int32)


def cifar_binary_bytes(x: np.ndarray, y: np.ndarray, coarse: np.ndarray | None = None) -> bytes:
    rows = planar(x)
    out = bytearray()
    for i in range(len(x)):
        if coarse is not None:
            out.append(int(coarse[i]))
        out.append(int(y[i]))
        out += rows[i].tobytes()
    return bytes(out)


class Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2's ``str`` (BINSTRING), as the published CIFAR pickles do."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        self.write(b"T" + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def dumps(obj: object, protocol: int) -> bytes:
    """protocol 0 here means: Python 2 style (protocol 2 with BINSTRING bytes)."""
    if protocol:
        return pickle.dumps(obj, protocol=protocol)
    buf = io.BytesIO()
    Py2Pickler(buf, protocol=2).dump(obj)
    return buf.getvalue()


def write_cifar10(root: Path, kind: str, batches: int = 2, n: int = 12, protocol: int = 2) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    parts = [cifar_arrays(n, 10, seed) for seed in range(batches + 1)]
    for i, (x, y) in enumerate(parts):
        stem = f"data_batch_{i + 1}" if i < batches else "test_batch"
        if kind == "bin":
            (root / f"{stem}.bin").write_bytes(cifar_binary_bytes(x, y))
        else:
            batch = {
                b"batch_label": stem.encode(),
                b"labels": y.tolist(),
                b"data": planar(x),
                b"filenames": [f"{j}.png".encode() for j in range(n)],
            }
            (root / stem).write_bytes(dumps(batch, protocol))
    names = [f"class{i}" for i in range(10)]
    if kind == "bin":
        (root / "batches.meta.txt").write_text("\n".join(names) + "\n\n")
    else:
        meta = {b"label_names": [s.encode() for s in names], b"num_vis": 3072}
        (root / "batches.meta").write_bytes(dumps(meta, protocol))
    return {"train": parts[:batches], "test": parts[batches], "names": tuple(names)}


def write_cifar100(root: Path, kind: str, n: int = 30) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, seed in (("train", 0), ("test", 1)):
        x, fine = cifar_arrays(n, 100, seed)
        fine = (fine * 7) % 100
        coarse = fine // 5
        if kind == "bin":
            (root / f"{split}.bin").write_bytes(cifar_binary_bytes(x, fine, coarse))
        else:
            d = {b"data": planar(x), b"fine_labels": fine.tolist(), b"coarse_labels": coarse.tolist()}
            (root / split).write_bytes(pickle.dumps(d, protocol=2))
        out[split] = (x, fine)
    return out


def tar_folder(folder: Path, archive: Path) -> Path:
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return archive


# --- CIFAR -------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "protocol"), [("bin", 2), ("py", 0), ("py", 2), ("py", 4), ("py", 5)])
def test_cifar10_folder(tmp_path: Path, kind: str, protocol: int) -> None:
    ref = write_cifar10(tmp_path / "c10", kind, protocol=protocol)
    if protocol == 0:  # Python 2 style: bytes as BINSTRING, as in the published files
        assert b"_codecs" not in (tmp_path / "c10" / "test_batch").read_bytes()
    d = load_dataset(tmp_path / "c10")
    np.testing.assert_array_equal(d.x_train, np.concatenate([p[0] for p in ref["train"]]))
    np.testing.assert_array_equal(d.y_train, np.concatenate([p[1] for p in ref["train"]]))
    np.testing.assert_array_equal(d.x_val, ref["test"][0])
    np.testing.assert_array_equal(d.y_val, ref["test"][1])
    assert d.class_names == ref["names"] and d.name == "CIFAR-10" and d.val_split is None
    assert d.summary() == "CIFAR-10: 24 train / 12 val, 32×32×3, 10 classes"
    assert ("binary" if kind == "bin" else "python") in d.source


def test_cifar10_batches_in_numeric_order_and_default_names(tmp_path: Path) -> None:
    ref = write_cifar10(tmp_path / "cifar-10-batches-bin", "bin", batches=11)
    (tmp_path / "cifar-10-batches-bin" / "batches.meta.txt").unlink()
    d = load_dataset(tmp_path)  # the parent of the archive's folder works too
    np.testing.assert_array_equal(d.x_train, np.concatenate([p[0] for p in ref["train"]]))
    assert d.class_names == CIFAR10_NAMES


@pytest.mark.parametrize("kind", ["bin", "py"])
def test_cifar100_uses_fine_labels(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / ("cifar-100-binary" if kind == "bin" else "cifar-100-python")
    ref = write_cifar100(folder, kind)
    d = load_dataset(folder)
    np.testing.assert_array_equal(d.x_train, ref["train"][0])
    np.testing.assert_array_equal(d.y_train, ref["train"][1])
    np.testing.assert_array_equal(d.y_val, ref["test"][1])
    assert d.num_classes == 100 and d.class_names == CIFAR100_NAMES and len(set(CIFAR100_NAMES)) == 100


@pytest.mark.parametrize("kind", ["bin", "py"])
def test_cifar10_tar_gz_without_extracting(tmp_path: Path, kind: str) -> None:
    folder = tmp_path / ("cifar-10-batches-" + kind)
    ref = write_cifar10(folder, kind)
    archive = tar_folder(folder, tmp_path / "cifar-10.tar.gz")
    before = sorted(p.name for p in tmp_path.iterdir())
    d = load_dataset(archive)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    np.testing.assert_array_equal(d.x_val, ref["test"][0])
    assert d.origin == str(archive)


def test_cifar_without_test_batch_is_split(tmp_path: Path) -> None:
    write_cifar10(tmp_path / "c", "bin", batches=2, n=20)
    (tmp_path / "c" / "test_batch.bin").unlink()
    d = load_dataset(tmp_path / "c", val_fraction=0.25, seed=3)
    assert len(d.y_train) == 30 and len(d.y_val) == 10 and d.val_split == (0.25, 3)
    assert "validation split" in d.notes


# --- MNIST family --------------------------------------------------------------------------


def idx_bytes(arr: np.ndarray) -> bytes:
    return (
        struct.pack(">BBBB", 0, 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    )


def write_idx_set(folder: Path, prefix: str, test_word: str, x: np.ndarray, y: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", test_word):
        (folder / f"{prefix}{split}-images-idx3-ubyte").write_bytes(idx_bytes(x))
        (folder / f"{prefix}{split}-labels-idx1-ubyte").write_bytes(idx_bytes(y))


def test_fashion_mnist_names_from_folder_name(tmp_path: Path) -> None:
    x = np.zeros((10, 28, 28), np.uint8)
    write_idx_set(tmp_path / "fashion-mnist", "", "t10k", x, np.arange(10, dtype=np.uint8))
    d = load_dataset(tmp_path / "fashion-mnist")
    assert (
        d.name == "Fashion-MNIST" and d.class_names[0] == "T-shirt/top" and d.class_names[9] == "Ankle boot"
    )


def test_emnist_letters_prefix_transpose_and_mapping(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    upright = rng.integers(0, 256, (26, 28, 28), dtype=np.uint8)
    stored = upright.transpose(0, 2, 1).copy()  # EMNIST stores images transposed
    labels = np.arange(1, 27, dtype=np.uint8)
    write_idx_set(tmp_path / "emnist", "emnist-letters-", "test", stored, labels)
    lines = [f"{i} {64 + i} {96 + i}" for i in range(1, 27)]
    (tmp_path / "emnist" / "emnist-letters-mapping.txt").write_text("\n".join(lines))
    d = load_dataset(tmp_path / "emnist")
    np.testing.assert_array_equal(d.x_train[..., 0], upright)
    np.testing.assert_array_equal(d.y_train, np.arange(26))
    assert d.name == "EMNIST letters" and d.class_names[:2] == ("A/a", "B/b") and d.num_classes == 26


# --- .npz ------------------------------------------------------------------------------------


def test_npz_with_test_split_gray_3d(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, xt = rng.integers(0, 256, (20, 8, 8), dtype=np.uint8), rng.integers(0, 256, (6, 8, 8), dtype=np.uint8)
    y, yt = np.arange(20) % 3, np.arange(6) % 3
    np.savez(
        tmp_path / "s.npz",
        x_train=x,
        y_train=y,
        x_test=xt,
        y_test=yt.reshape(-1, 1),
        class_names=np.array(["a", "b", "c"]),
    )
    d = load_dataset(tmp_path / "s.npz")
    np.testing.assert_array_equal(d.x_train[..., 0], x)
    np.testing.assert_array_equal(d.y_val, yt)
    assert d.class_names == ("a", "b", "c") and d.name == "s" and d.image_shape == (8, 8, 1)


def test_npz_float_in_unit_range_and_no_test_split(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.random((40, 5, 5, 3)).astype(np.float32)
    y = np.arange(40) % 4
    np.savez_compressed(tmp_path / "f.npz", x_train=x, y_train=y)
    d = load_dataset(tmp_path / "f.npz", val_fraction=0.2, seed=1)
    assert len(d.y_val) == 8 and d.val_split == (0.2, 1) and d.class_names == ("0", "1", "2", "3")
    everything = np.concatenate([d.x_train, d.x_val]).astype(int)
    expected = np.rint(x * 255).astype(int)
    assert sorted(map(bytes, everything.astype(np.uint8))) == sorted(map(bytes, expected.astype(np.uint8)))


# --- image folders ----------------------------------------------------------------------------


def save_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_image_folder_classes_sorted_gray_and_split(tmp_path: Path) -> None:
    root = tmp_path / "shapes"
    for cls, value in (("zeta", 200), ("alpha", 50)):
        for i in range(5):
            save_png(root / cls / f"{i}.png", np.full((12, 10), value + i, np.uint8))
    (root / "alpha" / "readme.txt").write_text("not an image")
    (root / "alpha" / ".DS_Store").write_bytes(b"\x00junk")
    d = load_dataset(root, val_fraction=0.2, seed=0)
    assert d.class_names == ("alpha", "zeta") and d.image_shape == (12, 10, 1)
    assert len(d.y_train) == 8 and len(d.y_val) == 2
    assert "1 file(s) skipped" in d.notes and "readme.txt" in d.notes
    assert set(np.unique(d.x_train[d.y_train == 0])) <= {50, 51, 52, 53, 54}


def test_image_folder_rgb_when_any_colour_and_resizes_to_common_size(tmp_path: Path) -> None:
    root = tmp_path / "pics"
    for i in range(3):
        save_png(root / "train" / "cat" / f"{i}.png", np.full((100, 80), 10, np.uint8))
        save_png(root / "train" / "dog" / f"{i}.png", np.full((100, 80, 3), (200, 0, 0), np.uint8))
    save_png(root / "train" / "dog" / "odd.png", np.full((30, 30, 3), 90, np.uint8))
    save_png(root / "val" / "cat" / "v.png", np.full((100, 80), 10, np.uint8))
    save_png(root / "val" / "dog" / "v.png", np.full((50, 40, 3), (200, 0, 0), np.uint8))
    d = load_dataset(root)
    assert d.image_shape == (64, 51, 3)  # most common 100×80, longer side capped at 64
    assert len(d.y_train) == 7 and len(d.y_val) == 2 and d.val_split is None
    np.testing.assert_array_equal(d.x_val[1], np.full((64, 51, 3), (200, 0, 0), np.uint8))
    np.testing.assert_array_equal(d.x_train[0], np.full((64, 51, 3), 10, np.uint8))  # gray → RGB
    d16 = load_dataset(root, image_size=16)
    assert d16.image_shape == (16, 16, 3) and "resized to 16×16" in d16.notes


# --- the built-in colour set -------------------------------------------------------------------


@pytest.fixture(scope="module")
def colors() -> Dataset:
    return load_dataset("builtin:colors")


def test_builtin_colors_shape_balance_and_determinism(colors: Dataset) -> None:
    assert colors.summary() == "Colors (built-in): 5,000 train / 1,000 val, 32×32×3, 10 classes"
    assert colors.class_names == COLOR_CLASSES and colors.origin == "builtin:colors"
    assert np.bincount(colors.y_train).tolist() == [500] * 10
    assert np.bincount(colors.y_val).tolist() == [100] * 10
    again, _ = make_colors(500, seed=0)
    np.testing.assert_array_equal(again, colors.x_train)
    assert not np.array_equal(make_colors(5, seed=1)[0], make_colors(5, seed=2)[0])
    assert not np.array_equal(colors.x_val[:100], colors.x_train[:100])


def test_builtin_colors_colour_says_nothing_about_the_class(colors: Dataset) -> None:
    means = np.stack([colors.x_train[colors.y_train == c].mean(axis=(0, 1, 2)) for c in range(10)])
    assert np.ptp(means, axis=0).max() < 25  # every class spans all colours alike


def test_builtin_colors_stripes_run_the_right_way(colors: Dataset) -> None:
    """Horizontal stripes vary down a column more than along a row; vertical the reverse."""

    def down_minus_across(cls: int) -> float:
        x = colors.x_train[colors.y_train == cls].astype(np.float32).mean(axis=3)
        down = np.abs(np.diff(x, axis=1)).mean()
        across = np.abs(np.diff(x, axis=2)).mean()
        return float(down - across)

    assert down_minus_across(COLOR_CLASSES.index("h-stripes")) > 3
    assert down_minus_across(COLOR_CLASSES.index("v-stripes")) < -3


def test_builtin_colors_generated_quickly() -> None:
    start = time.process_time()  # CPU time: not inflated by other processes on the machine
    make_colors(600, seed=5)
    assert time.process_time() - start < 5.0


def test_builtin_names() -> None:
    assert load_dataset("builtin:mnist").origin == "builtin:mnist"
    with pytest.raises(DataError, match="unknown built-in data set"):
        load_dataset("builtin:nope")


def test_load_dataset_options_are_validated(tmp_path: Path) -> None:
    for kwargs in ({"val_fraction": 0.0}, {"val_fraction": 0.95}, {"seed": -1}, {"image_size": 2}):
        with pytest.raises(ValueError):
            load_dataset(None, **kwargs)


def test_pickle_stand_in_arrays_match_numpy(tmp_path: Path) -> None:
    from convscope.data.safe_pickle import safe_load

    arrays = {
        "a": np.arange(12, dtype=">i4").reshape(3, 4),
        "f": np.asfortranarray(np.eye(3)),
        "u": np.arange(5, dtype=np.uint8),
        "e": np.zeros((0, 3), np.float32),
    }
    for protocol in (2, 3, 4, 5):
        got = safe_load(pickle.dumps(arrays, protocol=protocol), tmp_path / "p")
        for key, ref in arrays.items():
            np.testing.assert_array_equal(got[key], ref)
            assert got[key].dtype == ref.dtype.newbyteorder("=")
    assert safe_load(pickle.dumps({b"k": [1, 2.5, "s", b"b", None, True]}), tmp_path) == {
        "k": [1, 2.5, "s", b"b", None, True]
    }
