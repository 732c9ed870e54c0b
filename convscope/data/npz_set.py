"""A data set in one ``.npz`` file: ``x_train``, ``y_train`` and optionally ``x_test``,
``y_test`` (or ``x_val``, ``y_val``) and ``class_names``.

Images may be (N, H, W) or (N, H, W, C) with 1 to 4 channels, uint8 (or any integer
type within 0..255) or float in [0, 1] (scaled by 255 and rounded). Labels are 1-D (or
(N, 1)) integers from 0. Nothing is unpickled (``allow_pickle=False``), and each
member's ``.npy`` header is checked before its data is read, so a small file cannot
make the reader allocate gigabytes.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convscope.data.errors import DataError

if TYPE_CHECKING:
    from convscope.data.dataset import Dataset, LoadOptions

MAX_MEMBER_BYTES = 2**31
MAX_CLASSES = 10_000


def is_npz(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".npz"


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip's first member, or an empty zip


def is_zip_stream(f: Any) -> bool:
    """Whether the binary stream ``f`` starts as a zip (an ``.npz``) does; ``f`` is put
    back where it was. ``np.load`` takes anything else for a ``.npy`` or a pickle."""
    at = f.tell()
    head = f.read(4)
    f.seek(at)
    return head in ZIP_MAGIC


def load_error_detail(exc: BaseException) -> str:
    """The reason NumPy or zipfile gave for not reading an array, in one line; never
    NumPy's advice to load pickled data "unsafely with allow_pickle", which ConvScope
    does not do for anyone's file."""
    if "pickle" in str(exc).lower():
        return "it holds Python objects (an object array or a pickle), which ConvScope never loads"
    return " ".join(str(exc).split()) or type(exc).__name__


def read_npy_header(f: Any) -> tuple[tuple[int, ...], bool, np.dtype]:
    """Shape, Fortran order and dtype of the ``.npy`` stream ``f``, from its header alone
    (nothing allocated); ValueError for a version NumPy's format does not define."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    else:
        raise ValueError(f"unsupported .npy version {version}")
    return tuple(shape), bool(fortran), dtype


def _read_member(archive: zipfile.ZipFile, path: Path, key: str) -> np.ndarray:
    """One array, its header checked (plain dtype, bounded size) before reading data."""
    where = f"{path}: {key}"
    with archive.open(key + ".npy") as f:
        try:
            shape, fortran, dtype = read_npy_header(f)
        except ValueError as e:
            raise DataError(f"{where}: {e}") from e
        if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields is not None:
            raise DataError(f"{where}: dtype {dtype} is not a plain numeric type")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > MAX_MEMBER_BYTES:
            raise DataError(f"{where}: shape {shape} ({nbytes:,} bytes) is larger than ConvScope accepts")
        data = f.read(nbytes + 1)
        if len(data) != nbytes:
            raise DataError(f"{where}: holds {len(data):,} data bytes, its header says {nbytes:,}")
    order = "F" if fortran else "C"
    return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).astype(dtype.newbyteorder("="))


def _images(path: Path, key: str, x: np.ndarray) -> np.ndarray:
    where = f"{path}: {key}"
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or not 1 <= x.shape[3] <= 4 or min(x.shape) == 0:
        raise DataError(
            f"{where}: expected images (N, H, W) or (N, H, W, C) with 1 to 4 channels, got {x.shape}"
        )
    if x.dtype == np.uint8:
        return np.ascontiguousarray(x)
    if x.dtype.kind == "f":
        if not np.isfinite(x).all():
            raise DataError(f"{where}: float pixels include NaN or infinity")
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            raise DataError(f"{where}: float pixels must lie in [0, 1], found {lo:g}..{hi:g}")
        return np.rint(x * 255.0).astype(np.uint8)
    if x.dtype.kind in "iub":
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi > 255:
            raise DataError(f"{where}: integer pixels must lie in 0..255, found {lo}..{hi}")
        return x.astype(np.uint8)
    raise DataError(f"{where}: pixels of dtype {x.dtype} are not supported")


def _labels(path: Path, key: str, y: np.ndarray, count: int, images_key: str) -> np.ndarray:
    where = f"{path}: {key}"
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise DataError(f"{where}: expected 1-D integer labels, got {y.dtype} {y.shape}")
    if len(y) != count:
        raise DataError(f"{where}: {len(y):,} labels for {count:,} images in {images_key}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= MAX_CLASSES):
        bad = int(y.min()) if int(y.min()) < 0 else int(y.max())
        raise DataError(f"{where}: label {bad} is outside 0..{MAX_CLASSES - 1}")
    return y.astype(np.int32)


def load_npz(path: Path, options: LoadOptions) -> Dataset:
    """Load an ``.npz`` data set (see the module docstring)."""
    from convscope.data.dataset import assemble

    try:
        with zipfile.ZipFile(path) as archive:
            keys = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
            missing = [k for k in ("x_train", "y_train") if k not in keys]
            if missing:
                raise DataError(
                    f"{path}: missing {' and '.join(missing)} (has: {', '.join(sorted(keys)) or 'nothing'})"
                )
            test_keys = ("x_test", "y_test") if "x_test" in keys else ("x_val", "y_val")
            if (test_keys[0] in keys) != (test_keys[1] in keys):
                raise DataError(f"{path}: has only one of {test_keys[0]} and {test_keys[1]}")
            arrays = {
                k: _read_member(archive, path, k) for k in ("x_train", "y_train", *test_keys) if k in keys
            }
            names_arr = _read_names(archive, path) if "class_names" in keys else None
    except DataError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as exc:
        raise DataError(f"{path}: not a readable .npz file ({load_error_detail(exc)})") from exc

    x_train = _images(path, "x_train", arrays["x_train"])
    y_train = _labels(path, "y_train", arrays["y_train"], len(x_train), "x_train")
    test = None
    if test_keys[0] in arrays:
        x_test = _images(path, test_keys[0], arrays[test_keys[0]])
        y_test = _labels(path, test_keys[1], arrays[test_keys[1]], len(x_test), test_keys[0])
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DataError(
                f"{path}: {test_keys[0]} images are {x_test.shape[1:]} but x_train's are {x_train.shape[1:]}"
            )
        test = (x_test, y_test)
    top = int(max(y_train.max(), test[1].max() if test else 0))
    if names_arr is not None:
        if len(names_arr) <= top or len(set(names_arr)) != len(names_arr) or len(names_arr) < 2:
            raise DataError(
                f"{path}: class_names must be {top + 1} or more distinct names, got {len(names_arr)}"
            )
        names = tuple(names_arr)
    else:
        names = tuple(str(i) for i in range(max(top + 1, 2)))
    return assemble(
        path.stem, (x_train, y_train), test, names, f"arrays in {path}", options, origin=str(path)
    )


def _read_names(archive: zipfile.ZipFile, path: Path) -> list[str]:
    if archive.getinfo("class_names.npy").file_size > 1 << 20:
        raise DataError(f"{path}: class_names is larger than 1 MB")
    with archive.open("class_names.npy") as f:
        arr = np.lib.format.read_array(f, allow_pickle=False, max_header_size=10_000)
    if arr.ndim != 1 or arr.dtype.kind not in "US" or len(arr) > MAX_CLASSES:
        raise DataError(f"{path}: class_names must be a 1-D array of strings, got {arr.dtype} {arr.shape}")
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in arr.tolist()]
