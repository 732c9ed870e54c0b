"""CIFAR-10 and CIFAR-100, binary or python version, as a folder or the ``.tar.gz``.

Binary version: ``data_batch_1.bin`` … ``data_batch_5.bin`` and ``test_batch.bin``,
records of 1 label byte + 3,072 pixel bytes (CIFAR-100 ``train.bin`` / ``test.bin``:
coarse and fine label bytes, then the pixels; the fine label is used). Python version:
pickles ``data_batch_1`` … ``data_batch_5``, ``test_batch`` (``train`` / ``test`` for
CIFAR-100) and ``batches.meta`` / ``meta``, read with :mod:`convscope.data.safe_pickle`,
which never runs code a pickle names. Pixels are stored channel-planar (3×32×32).

An archive is read in one forward pass with :mod:`tarfile`, regular-file members only,
each bounded by ``MAX_MEMBER_BYTES``, nothing written to disk.
"""

from __future__ import annotations

import re
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from convscope.data.errors import DataError
from convscope.data.safe_pickle import safe_load

if TYPE_CHECKING:
    from convscope.data.dataset import Dataset, LoadOptions

PIXELS = 3 * 32 * 32
MAX_MEMBER_BYTES = 512 << 20
MAX_ARCHIVE_MEMBERS = 10_000
SUBFOLDERS = ("cifar-10-batches-bin", "cifar-10-batches-py", "cifar-100-binary", "cifar-100-python")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
CIFAR10_NAMES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
CIFAR100_NAMES = tuple(
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm".split()
)
_TRAIN_BATCH = re.compile(r"^data_batch_(\d+)(\.bin)?$")
_WANTED = re.compile(
    r"^(data_batch_\d+(\.bin)?|test_batch(\.bin)?|batches\.meta(\.txt)?|meta|train(\.bin)?|test(\.bin)?"
    r"|fine_label_names\.txt)$"
)
# Names that say "CIFAR" on their own (train/test/meta alone are too common).
SIGNATURE_NAMES = re.compile(
    r"^(data_batch_\d+(\.bin)?|test_batch(\.bin)?|batches\.meta(\.txt)?|fine_label_names\.txt)$"
)

Files = dict[str, tuple[str, Callable[[], bytes]]]  # basename → (shown path, read it)


def _is_archive(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(ARCHIVE_SUFFIXES)


def _cifar_dir(path: Path) -> Path | None:
    """``path`` or its one CIFAR subfolder, whichever holds CIFAR files."""
    if not path.is_dir():
        return None
    for candidate in (path, *(path / s for s in SUBFOLDERS)):
        try:
            if candidate.is_dir() and any(SIGNATURE_NAMES.match(e.name) for e in candidate.iterdir()):
                return candidate
            if candidate.is_dir() and (
                (candidate / "train.bin").is_file()
                and (candidate / "test.bin").is_file()
                or candidate.name.lower().startswith("cifar-100")
                and any((candidate / n).is_file() for n in ("meta", "train", "train.bin"))
            ):
                return candidate
        except OSError:
            return None
    return None


def is_cifar(path: Path) -> bool:
    """A folder holding CIFAR batch files (or one of the archives' subfolders), or a tar archive."""
    return _is_archive(path) or _cifar_dir(path) is not None


def _read_bounded(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_MEMBER_BYTES:
            raise DataError(f"{path}: {size:,} bytes is more than a CIFAR file can be ({MAX_MEMBER_BYTES:,})")
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from exc


def _folder_files(directory: Path) -> Files:
    return {
        e.name: (str(e), lambda e=e: _read_bounded(e))
        for e in directory.iterdir()
        if e.is_file() and _WANTED.match(e.name)
    }


def _archive_files(path: Path) -> Files:
    """The wanted members of a tar archive, read in one forward pass."""
    files: Files = {}
    try:
        with tarfile.open(path, "r:*") as tar:
            for count, member in enumerate(tar, 1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise DataError(f"{path}: more than {MAX_ARCHIVE_MEMBERS:,} members; not a CIFAR archive")
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or not _WANTED.match(base) or member.name.count("/") > 1:
                    continue
                shown = f"{path}!{member.name}"
                if member.size > MAX_MEMBER_BYTES:
                    raise DataError(f"{shown}: {member.size:,} bytes is more than a CIFAR file can be")
                stream = tar.extractfile(member)
                data = stream.read() if stream is not None else b""
                if len(data) != member.size:
                    raise DataError(f"{shown}: truncated ({len(data):,} of {member.size:,} bytes)")
                files[base] = (shown, lambda data=data: data)
    except DataError:
        raise
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise DataError(f"{path}: not a readable tar archive ({detail})") from exc
    return files


def _binary_batch(
    shown: str, data: bytes, label_bytes: int, num_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    record = label_bytes + PIXELS
    if len(data) == 0 or len(data) % record:
        raise DataError(
            f"{shown}: {len(data):,} bytes is not a whole number of {record:,}-byte CIFAR records "
            "(truncated or not this CIFAR version)"
        )
    rows = np.frombuffer(data, np.uint8).reshape(-1, record)
    labels = rows[:, label_bytes - 1].astype(np.int32)  # CIFAR-100: [coarse, fine]; use fine
    _check_labels(shown, labels, num_classes)
    images = rows[:, label_bytes:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _check_labels(shown: str, labels: np.ndarray, num_classes: int) -> None:
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        raise DataError(
            f"{shown}: label {int(labels[bad[0]])} at index {int(bad[0])} is outside 0..{num_classes - 1}"
        )


def _pickle_batch(shown: str, data: bytes, label_key: str, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = safe_load(data, Path(shown))
    if not isinstance(batch, dict) or "data" not in batch or label_key not in batch:
        raise DataError(f"{shown}: expected a dict with 'data' and '{label_key}'")
    pixels, labels = batch["data"], batch[label_key]
    if (
        not isinstance(pixels, np.ndarray)
        or pixels.dtype != np.uint8
        or pixels.ndim != 2
        or pixels.shape[1] != PIXELS
    ):
        desc = f"{pixels.dtype} {pixels.shape}" if isinstance(pixels, np.ndarray) else type(pixels).__name__
        raise DataError(f"{shown}: 'data' must be uint8 (N, {PIXELS}), got {desc}")
    if not isinstance(labels, list | np.ndarray) or not all(isinstance(v, int | np.integer) for v in labels):
        raise DataError(f"{shown}: '{label_key}' must be a list of integers")
    y = np.asarray(labels, dtype=np.int64)
    if y.ndim != 1 or len(y) != len(pixels):
        raise DataError(f"{shown}: {len(y):,} labels for {len(pixels):,} images")
    _check_labels(shown, y, num_classes)
    return np.ascontiguousarray(pixels.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)), y.astype(np.int32)


def _names(files: Files, kind: str, default: tuple[str, ...]) -> tuple[str, ...]:
    """Class names from the set's meta file, or the published ones."""
    if kind == "bin":
        key = "batches.meta.txt" if "batches.meta.txt" in files else "fine_label_names.txt"
        if key in files:
            lines = [
                ln.strip() for ln in files[key][1]().decode("utf-8", "replace").splitlines() if ln.strip()
            ]
            if len(lines) == len(default) and len(set(lines)) == len(lines):
                return tuple(lines)
        return default
    key, field = ("batches.meta", "label_names") if len(default) == 10 else ("meta", "fine_label_names")
    if key in files:
        shown, read = files[key]
        meta = safe_load(read(), Path(shown))
        names: Any = meta.get(field) if isinstance(meta, dict) else None
        if isinstance(names, list) and len(names) == len(default):
            decoded = [n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names]
            if len(set(decoded)) == len(decoded):
                return tuple(decoded)
    return default


def load_cifar(path: Path, options: LoadOptions) -> Dataset:
    """Load CIFAR-10 or CIFAR-100 (binary or python) from a folder or a tar archive."""
    from convscope.data.dataset import assemble

    if _is_archive(path):
        files = _archive_files(path)
    else:
        directory = _cifar_dir(path)
        if directory is None:
            raise DataError(f"{path}: no CIFAR files found")
        files = _folder_files(directory)
    batches = sorted((int(m[1]), n) for n in files if (m := _TRAIN_BATCH.match(n)))
    if batches:  # CIFAR-10
        kind = "bin" if batches[0][1].endswith(".bin") else "py"
        names = _names(files, kind, CIFAR10_NAMES)
        train_names = [n for _, n in batches if n.endswith(".bin") == (kind == "bin")]
        test_name = "test_batch.bin" if kind == "bin" else "test_batch"
        title = "CIFAR-10"
    elif "train.bin" in files or "train" in files:  # CIFAR-100
        kind = "bin" if "train.bin" in files else "py"
        names = _names(files, kind, CIFAR100_NAMES)
        train_names = ["train.bin" if kind == "bin" else "train"]
        test_name = "test.bin" if kind == "bin" else "test"
        title = "CIFAR-100"
    else:
        raise DataError(f"{path}: no CIFAR training batches found (data_batch_1…5, or train for CIFAR-100)")

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        shown, get = files[name]
        if kind == "bin":
            return _binary_batch(shown, get(), 1 if title == "CIFAR-10" else 2, len(names))
        return _pickle_batch(shown, get(), "labels" if title == "CIFAR-10" else "fine_labels", len(names))

    parts = [read(n) for n in train_names]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    test = read(test_name) if test_name in files else None
    notes = "" if test is not None else f"no {test_name}: validation split off the training batches"
    version = "binary" if kind == "bin" else "python"
    return assemble(
        title, train, test, names, f"{title} ({version} version) from {path}", options, notes, str(path)
    )
