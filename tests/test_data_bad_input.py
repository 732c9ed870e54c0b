"""Broken, hostile and odd data sets: each gives one clear DataError line naming the
file, and a pickle that tries to run code runs nothing."""

from __future__ import annotations

import io
import os
import pickle
import struct
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from test_data_formats import (
    cifar_arrays,
    cifar_binary_bytes,
    planar,
    save_png,
    tar_folder,
    write_cifar10,
)

from convscope.data import DataError, load_dataset


def fails(target: Path | str, match: str, names: Path | str | None = None, **kwargs: object) -> str:
    with pytest.raises(DataError, match=match) as info:
        load_dataset(target, **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert str(names if names is not None else target) in message
    return message


# --- CIFAR binary ----------------------------------------------------------------------------


def test_cifar_binary_truncated(tmp_path: Path) -> None:
    write_cifar10(tmp_path, "bin")
    batch = tmp_path / "data_batch_2.bin"
    batch.write_bytes(batch.read_bytes()[:-100])
    fails(tmp_path, "not a whole number of 3,073-byte CIFAR records", batch)


def test_cifar_binary_label_out_of_range(tmp_path: Path) -> None:
    write_cifar10(tmp_path, "bin")
    x, y = cifar_arrays(4, 10, 0)
    y[2] = 10
    (tmp_path / "test_batch.bin").write_bytes(cifar_binary_bytes(x, y))
    fails(tmp_path, "label 10 at index 2 is outside 0..9", tmp_path / "test_batch.bin")


# --- CIFAR python: pickles that must not run ----------------------------------------------------


class RunsCommand:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.marker}",))


class CallsEval:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (eval, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.parametrize("payload_class", [RunsCommand, CallsEval])
def test_pickle_that_runs_code_is_refused_and_nothing_runs(tmp_path: Path, payload_class: type) -> None:
    write_cifar10(tmp_path, "py")
    marker = tmp_path / "pwned"
    x, y = cifar_arrays(4, 10, 0)
    evil = {b"data": planar(x), b"labels": y.tolist(), b"extra": payload_class(marker)}
    batch = tmp_path / "data_batch_1"
    batch.write_bytes(pickle.dumps(evil, protocol=2))
    message = fails(tmp_path, "unsafe or corrupt pickle", batch)
    assert "refused to load" in message and "nothing was executed" in message
    assert not marker.exists()


def test_pickle_naming_a_real_numpy_function_is_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path, "py")
    batch = tmp_path / "data_batch_1"
    # GLOBAL numpy.load, then call it: numpy is allowed only through its stand-ins.
    batch.write_bytes(b"\x80\x02cnumpy\nload\nX\x03\x00\x00\x00/x\x85R.")
    fails(tmp_path, r"refused to load numpy\.load", batch)


def test_pickle_build_on_a_stand_in_cannot_change_it(tmp_path: Path) -> None:
    """BUILD aimed at a found global fails or touches only a throw-away wrapper."""
    from convscope.data.safe_pickle import safe_load

    hostile = b"\x80\x02cnumpy\ndtype\n}X\x08\x00\x00\x00__call__N\x86b."
    try:
        safe_load(hostile, tmp_path / "p")
    except DataError:
        pass
    arr = safe_load(pickle.dumps(np.arange(3, dtype=np.uint8)), tmp_path / "q")
    np.testing.assert_array_equal(arr, [0, 1, 2])


def test_pickle_with_object_array_is_refused(tmp_path: Path) -> None:
    write_cifar10(tmp_path, "py")
    batch = tmp_path / "test_batch"
    batch.write_bytes(pickle.dumps({b"data": np.array([1, "a"], dtype=object), b"labels": [0, 1]}))
    fails(tmp_path, "refused to load|not a plain numeric", batch)


def test_pickle_array_with_lying_byte_count(tmp_path: Path) -> None:
    write_cifar10(tmp_path, "py")
    blob = pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}, protocol=2)
    batch = tmp_path / "test_batch"
    batch.write_bytes(blob.replace(struct.pack("<H", 3072), struct.pack("<H", 3073), 1))
    fails(tmp_path, r"shape \(2, 3073\) uint8 needs 6,146 bytes but holds 6,144", batch)


def test_pickle_wrong_contents(tmp_path: Path) -> None:
    write_cifar10(tmp_path, "py")
    batch = tmp_path / "data_batch_2"
    batch.write_bytes(pickle.dumps({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]}))
    fails(tmp_path, "2 labels for 3 images", batch)
    batch.write_bytes(pickle.dumps([1, 2, 3]))
    fails(tmp_path, "expected a dict with 'data' and 'labels'", batch)
    batch.write_bytes(b"\x80\x02}q\x00(X")  # cut short
    fails(tmp_path, "corrupt", batch)


# --- CIFAR archives --------------------------------------------------------------------------------


def test_archive_member_over_the_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from convscope.data import cifar

    folder = tmp_path / "cifar-10-batches-bin"
    write_cifar10(folder, "bin")
    archive = tar_folder(folder, tmp_path / "c.tar.gz")
    monkeypatch.setattr(cifar, "MAX_MEMBER_BYTES", 1000)
    fails(archive, "is more than a CIFAR file can be", archive)


def test_archive_ignores_links_and_deep_paths(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        link = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
        data = b"\x00" * 3073
        deep = tarfile.TarInfo("a/b/c/data_batch_1.bin")
        deep.size = len(data)
        tar.addfile(deep, io.BytesIO(data))
    fails(archive, "no CIFAR training batches found", archive)


def test_corrupt_archive(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-binary.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 10)
    fails(archive, "not a readable tar archive", archive)


# --- .npz ------------------------------------------------------------------------------------------


def test_npz_count_mismatch_and_ranges(tmp_path: Path) -> None:
    p = tmp_path / "d.npz"
    np.savez(p, x_train=np.zeros((5, 4, 4), np.uint8), y_train=np.zeros(4, np.int64))
    fails(p, "y_train: 4 labels for 5 images in x_train")
    np.savez(p, x_train=np.full((5, 4, 4), 1.5, np.float32), y_train=np.zeros(5, np.int64))
    fails(p, r"float pixels must lie in \[0, 1\], found 1.5..1.5")
    np.savez(p, x_train=np.zeros((5, 4, 4), np.int16) - 1, y_train=np.zeros(5, np.int64))
    fails(p, "integer pixels must lie in 0..255")
    np.savez(p, x_train=np.zeros((5, 4), np.uint8), y_train=np.zeros(5, np.int64))
    fails(p, "expected images")
    np.savez(p, x_train=np.zeros((5, 4, 4), np.uint8), y_train=np.full(5, -1))
    fails(p, "label -1 is outside")
    np.savez(
        p, x_train=np.zeros((5, 4, 4), np.uint8), y_train=np.arange(5), x_test=np.zeros((2, 4, 4), np.uint8)
    )
    fails(p, "has only one of x_test and y_test")
    np.savez(p, images=np.zeros((5, 4, 4), np.uint8))
    fails(p, "missing x_train and y_train")


def test_npz_object_array_is_refused_without_unpickling(tmp_path: Path) -> None:
    p = tmp_path / "o.npz"
    np.savez(p, x_train=np.array([RunsCommand(tmp_path / "pwned")], dtype=object), y_train=np.zeros(1))
    fails(p, "is not a plain numeric type")
    assert not (tmp_path / "pwned").exists()


def test_npz_lying_header_allocates_nothing_big(tmp_path: Path) -> None:
    p = tmp_path / "lie.npz"
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "|u1", "fortran_order": False, "shape": (100_000, 100, 100)}
    )
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x_train.npy", header.getvalue() + bytes(100))
        z.writestr("y_train.npy", header.getvalue())
    tracemalloc.start()
    try:
        fails(p, "holds 100 data bytes, its header says 1,000,000,000")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def test_not_a_zip(tmp_path: Path) -> None:
    p = tmp_path / "broken.npz"
    p.write_bytes(b"PK\x03\x04 not really")
    fails(p, "not a readable .npz file")


# --- image folders ------------------------------------------------------------------------------------


def test_folder_with_one_class(tmp_path: Path) -> None:
    save_png(tmp_path / "only" / "a.png", np.zeros((4, 4), np.uint8))
    fails(tmp_path, "needs at least two class folders, found only the class folder 'only'")


def test_folder_class_with_no_readable_image(tmp_path: Path) -> None:
    save_png(tmp_path / "a" / "1.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "fake.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (tmp_path / "b" / "notes.txt").write_text("hello")
    fails(tmp_path, "no readable images in this class folder", tmp_path / "b")


def test_folder_val_class_missing_from_train(tmp_path: Path) -> None:
    for split, classes in (("train", "ab"), ("test", "abc")):
        for c in classes:
            save_png(tmp_path / split / c / "1.png", np.zeros((4, 4), np.uint8))
    fails(tmp_path, "class folder.s. c are not in", tmp_path / "test")


def test_folder_counts_skipped_files(tmp_path: Path) -> None:
    for c in "ab":
        for i in range(3):
            save_png(tmp_path / c / f"{i}.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "a" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 cut")
    (tmp_path / "b" / "data.csv").write_text("1,2")
    d = load_dataset(tmp_path)
    assert d.notes.startswith("2 file(s) skipped") and len(d.y_train) + len(d.y_val) == 6


def _two_classes_of_three(root: Path) -> None:
    for c in "ab":
        for i in range(3):
            save_png(root / c / f"{i}.png", np.full((4, 4), 40 * i, np.uint8))


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads files whatever their mode"
)
def test_folder_skips_and_counts_an_image_it_may_not_read(tmp_path: Path) -> None:
    _two_classes_of_three(tmp_path)
    locked = tmp_path / "b" / "locked.png"
    save_png(locked, np.zeros((4, 4), np.uint8))
    locked.chmod(0)
    try:
        d = load_dataset(tmp_path)
    finally:
        locked.chmod(0o644)
    assert d.notes.startswith("1 file(s) skipped") and "locked.png" in d.notes
    assert len(d.y_train) + len(d.y_val) == 6


def test_folder_skips_and_counts_broken_links_and_fifos(tmp_path: Path) -> None:
    """Works as root too (chmod does not stop root): entries that are not regular files."""
    _two_classes_of_three(tmp_path)
    (tmp_path / "a" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "b" / "pipe.png")  # opening it would block: it must not be opened
    d = load_dataset(tmp_path)
    count = 2 if hasattr(os, "mkfifo") else 1
    assert d.notes.startswith(f"{count} file(s) skipped") and "gone.png" in d.notes
    assert len(d.y_train) + len(d.y_val) == 6


def test_broken_link_message_says_so(tmp_path: Path) -> None:
    from convscope.data.images import ImageError, load_image

    (tmp_path / "gone.png").symlink_to(tmp_path / "nowhere.png")
    with pytest.raises(ImageError, match="gone.png: is a broken link"):
        load_image(tmp_path / "gone.png")


# --- IDX through load_dataset ----------------------------------------------------------------------------


def test_idx_gzip_bomb_through_load_dataset(tmp_path: Path) -> None:
    import zlib

    from test_data import idx_header, write_mnist

    write_mnist(tmp_path)
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(idx_header(0x08, (20, 28, 28)))]
    parts += [comp.compress(bytes(1 << 20)) for _ in range(50)]
    parts.append(comp.flush())
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    bomb.write_bytes(b"".join(parts))
    fails(tmp_path, "unexpected bytes after", bomb)


def test_idx_label_image_mismatch_names_file(tmp_path: Path) -> None:
    from test_data import write_idx, write_mnist

    write_mnist(tmp_path, gz=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(9, np.uint8))
    fails(tmp_path, "9 labels for 10 images", tmp_path / "t10k-labels-idx1-ubyte")
