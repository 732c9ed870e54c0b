"""A reader for the IDX format of the MNIST files, plain or gzip-compressed.

The format: two zero bytes, a type code byte, a byte giving the number of dimensions,
then each dimension as a big-endian uint32, then the values, big-endian, row-major.

Files come from users and the internet, so the reader trusts nothing: it checks the
header, refuses absurd sizes before allocating anything, reads at most one byte more
than the header announces (so a gzip bomb is never expanded beyond that), and reports
every problem as a one-line ``DataError`` that names the file.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from convscope.data.errors import DataError

# Type code → big-endian dtype of the stored values.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
MAX_ELEMENTS = 500_000_000
MAX_BYTES = 2**31
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20

StrPath = str | os.PathLike[str]


def read_idx(path: StrPath) -> np.ndarray:
    """Read one IDX file (gzip-compressed or not, told apart by content) into an array.

    Returns an array in native byte order with the shape the header gives. Raises
    ``DataError`` naming the file for a missing or unreadable file, a wrong magic number,
    an unknown type code, sizes over ``MAX_ELEMENTS`` / ``MAX_BYTES``, data shorter than
    the header says, bytes after it, and corrupt gzip streams.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            compressed = raw.read(2) == _GZIP_MAGIC
            raw.seek(0)
            if compressed:
                with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                    return _read_stream(path, stream)
            return _read_stream(path, raw)
    except DataError:
        raise
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise DataError(f"{path}: corrupt or truncated gzip data ({_one_line(exc)})") from exc
    except FileNotFoundError as exc:
        raise DataError(f"{path}: no such file") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or _one_line(exc)})") from exc


def _read_stream(path: Path, stream: BinaryIO) -> np.ndarray:
    magic = stream.read(4)
    if len(magic) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(magic)} bytes)")
    if magic[:2] != b"\x00\x00":
        raise DataError(f"{path}: not an IDX file (magic {magic.hex()}, expected 0000 then type and ndim)")
    code, ndim = magic[2], magic[3]
    if code not in IDX_DTYPES:
        raise DataError(f"{path}: unknown IDX type code 0x{code:02x}")
    if ndim == 0:
        raise DataError(f"{path}: IDX header gives no dimensions")
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{path}: truncated IDX header ({ndim} dimensions announced)")
    shape = tuple(int(d) for d in np.frombuffer(raw_dims, dtype=">u4"))
    dtype = IDX_DTYPES[code]
    count = math.prod(shape)
    nbytes = count * dtype.itemsize
    if count > MAX_ELEMENTS or nbytes > MAX_BYTES:
        raise DataError(
            f"{path}: header shape {_shape_text(shape)} ({count:,} values) is larger than "
            f"ConvScope accepts ({MAX_ELEMENTS:,} values, {MAX_BYTES:,} bytes)"
        )
    data = _read_at_most(stream, nbytes)
    if len(data) < nbytes:
        raise DataError(
            f"{path}: truncated data: header shape {_shape_text(shape)} needs {nbytes:,} bytes, "
            f"found {len(data):,}"
        )
    if stream.read(1):
        raise DataError(f"{path}: unexpected bytes after the {_shape_text(shape)} data the header describes")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def _read_at_most(stream: BinaryIO, nbytes: int) -> bytearray:
    """Read up to ``nbytes`` in chunks, so memory follows the bytes actually present
    rather than what a (possibly lying) header claims."""
    out = bytearray()
    while len(out) < nbytes:
        chunk = stream.read(min(_CHUNK, nbytes - len(out)))
        if not chunk:
            break
        out += chunk
    return out


def _shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(str(d) for d in shape)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# Standard MNIST file stems; some mirrors write "train-images.idx3-ubyte" instead.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def mnist_candidates(stem: str) -> tuple[str, ...]:
    """File names accepted for one MNIST file stem, in order of preference."""
    dotted = stem.replace("-idx", ".idx", 1)
    return (stem, dotted, stem + ".gz", dotted + ".gz")


def find_mnist_file(directory: Path, stem: str, prefix: str = "") -> Path | None:
    """The first existing file in ``directory`` under one of the names for ``stem``
    (after ``prefix``, e.g. ``emnist-letters-``); ``t10k-`` files may also be ``test-``."""
    stems = (stem, stem.replace("t10k-", "test-", 1)) if stem.startswith("t10k-") else (stem,)
    for one in stems:
        for name in mnist_candidates(one):
            candidate = directory / (prefix + name)
            if candidate.is_file():
                return candidate
    return None


# Any IDX file of an MNIST-like set: MNIST, Fashion-MNIST, KMNIST, EMNIST ("emnist-letters-…").
IDX_NAME = re.compile(r"^(?P<prefix>.*?)(train|t10k|test)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$")


def has_mnist_files(directory: Path) -> bool:
    """Whether ``directory`` holds at least one file named like an MNIST-family IDX file."""
    if not directory.is_dir():
        return False
    try:
        return any(IDX_NAME.match(entry.name) for entry in directory.iterdir() if entry.is_file())
    except OSError:
        return False


def load_mnist_dir(
    directory: StrPath, *, num_classes: int = 10, prefix: str = ""
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load the four MNIST IDX files of a folder: ``(x_train, y_train, x_test, y_test)``.

    Images come back as uint8 ``(N, H, W, 1)``, labels as int32 ``(N,)``. Each file may
    be gzip-compressed and may use the ``.idx3-ubyte`` spelling. Raises ``DataError``
    naming the file for a missing file, images that are not 3-D uint8, a label count
    that differs from the image count, labels outside ``[0, num_classes)``, and test
    images whose size differs from the training images.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such folder")
    paths: dict[str, Path] = {}
    for key, stem in MNIST_FILES.items():
        found = find_mnist_file(directory, stem, prefix)
        if found is None:
            raise DataError(
                f"{directory / (prefix + stem)}: missing (also looked for .gz and '.idx' spellings)"
            )
        paths[key] = found
    x_train = _mnist_images(paths["train_images"])
    y_train = _mnist_labels(paths["train_labels"], paths["train_images"], len(x_train), num_classes)
    x_test = _mnist_images(paths["test_images"])
    y_test = _mnist_labels(paths["test_labels"], paths["test_images"], len(x_test), num_classes)
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DataError(
            f"{paths['test_images']}: images are {_shape_text(x_test.shape[1:3])} but the training "
            f"images are {_shape_text(x_train.shape[1:3])}"
        )
    return x_train, y_train, x_test, y_test


def _mnist_images(path: Path) -> np.ndarray:
    images = read_idx(path)
    if images.ndim != 3:
        raise DataError(f"{path}: expected 3-D images (count, height, width), got shape {images.shape}")
    if images.dtype != np.uint8:
        raise DataError(f"{path}: expected uint8 pixels (IDX type 0x08), got {images.dtype}")
    if min(images.shape) == 0:
        raise DataError(f"{path}: holds no image pixels (shape {images.shape})")
    return images[..., np.newaxis]


def _mnist_labels(path: Path, images_path: Path, count: int, num_classes: int) -> np.ndarray:
    labels = read_idx(path)
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{path}: expected 1-D integer labels, got {labels.dtype} shape {labels.shape}")
    if len(labels) != count:
        raise DataError(f"{path}: {len(labels):,} labels for {count:,} images in {images_path.name}")
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: label {int(labels[i])} at index {i} is outside 0..{num_classes - 1} "
            f"({bad.size:,} such labels)"
        )
    return labels.astype(np.int32)
