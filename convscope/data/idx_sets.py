"""MNIST-family folders of IDX files: MNIST, Fashion-MNIST, KMNIST and EMNIST.

MNIST, Fashion-MNIST and KMNIST use the same four file names, so the family is told
from the folder's name ("fashion", "kmnist"); EMNIST files carry their split in a
prefix (``emnist-balanced-train-images-idx3-ubyte.gz``). EMNIST stores each image
transposed, so it is turned upright, and its ``letters`` split counts from 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convscope.data.errors import DataError
from convscope.data.idx import IDX_NAME, load_mnist_dir

if TYPE_CHECKING:
    from convscope.data.dataset import Dataset, LoadOptions

FASHION_NAMES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
# KMNIST's ten classes are these hiragana (Clanuwat et al. 2018, kmnist_classmap.csv).
KMNIST_NAMES = ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")
DIGIT_NAMES = tuple(str(i) for i in range(10))
# EMNIST split → number of classes.
EMNIST_CLASSES = {"byclass": 62, "bymerge": 47, "balanced": 47, "letters": 26, "digits": 10, "mnist": 10}


def idx_prefixes(directory: Path) -> list[str]:
    """The prefixes of the training-image files in ``directory``, "" (plain MNIST) first."""
    found = set()
    for entry in directory.iterdir():
        m = IDX_NAME.match(entry.name)
        if m and entry.name[len(m["prefix"]) :].startswith("train-images"):
            found.add(m["prefix"])
    return sorted(found, key=lambda p: (p != "", p != "emnist-balanced-", p))


def _emnist_names(directory: Path, prefix: str, count: int) -> tuple[str, ...]:
    """Class names from ``<prefix>mapping.txt`` ("label code [code…]" per line) if present."""
    mapping = directory / f"{prefix}mapping.txt"
    if not mapping.is_file() or mapping.stat().st_size > 100_000:
        return tuple(str(i) for i in range(count))
    names: dict[int, str] = {}
    for line in mapping.read_text(encoding="ascii", errors="replace").splitlines():
        parts = line.split()
        try:
            label, codes = int(parts[0]), [int(c) for c in parts[1:]]
            names[label] = "/".join(dict.fromkeys(chr(c) for c in codes)) or str(label)
        except (ValueError, IndexError, OverflowError):
            raise DataError(f"{mapping}: expected lines 'label code', got {line[:40]!r}") from None
    offset = 1 if prefix.endswith("letters-") else 0
    out = tuple(names.get(i + offset, str(i + offset)) for i in range(count))
    return out if len(set(out)) == len(out) else tuple(str(i) for i in range(count))


def load_idx_dataset(directory: Path, options: LoadOptions) -> Dataset:
    """Load an MNIST-family folder as a ``Dataset`` (its own test split is the val split)."""
    from convscope.data.dataset import Dataset

    prefixes = idx_prefixes(directory)
    prefix = prefixes[0] if prefixes else ""
    folder = directory.resolve().name or str(directory)
    lowered = folder.lower()
    notes = ""
    if len(prefixes) > 1:
        notes = f"used {prefix or 'the unprefixed'} files; also present: {', '.join(prefixes[1:])}"
    if prefix.startswith("emnist-"):
        split = prefix[len("emnist-") :].rstrip("-")
        count = EMNIST_CLASSES.get(split)
        if count is None:
            raise DataError(
                f"{directory}: unknown EMNIST split {split!r} (known: {', '.join(EMNIST_CLASSES)})"
            )
        offset = 1 if split == "letters" else 0
        x_tr, y_tr, x_te, y_te = load_mnist_dir(directory, num_classes=count + offset, prefix=prefix)
        if offset:
            for y, what in ((y_tr, "train"), (y_te, "test")):
                if (y == 0).any():
                    raise DataError(f"{directory}: EMNIST letters {what} labels must be 1..26, found 0")
            y_tr, y_te = y_tr - 1, y_te - 1
        # EMNIST images are stored transposed (column-major); turn them upright.
        x_tr, x_te = (np.ascontiguousarray(x.transpose(0, 2, 1, 3)) for x in (x_tr, x_te))
        names = _emnist_names(directory, prefix, count)
        name = f"EMNIST {split}"
    else:
        if prefix:
            x_tr, y_tr, x_te, y_te = load_mnist_dir(directory, num_classes=256, prefix=prefix)
            count = int(max(y_tr.max(), y_te.max())) + 1
            names = tuple(str(i) for i in range(max(count, 2)))
            name = folder
        else:
            x_tr, y_tr, x_te, y_te = load_mnist_dir(directory)
            if "fashion" in lowered:
                names, name = FASHION_NAMES, "Fashion-MNIST"
            elif "kmnist" in lowered:
                names, name = KMNIST_NAMES, "KMNIST"
            else:
                names, name = DIGIT_NAMES, folder
    source = f"IDX files in {directory}"
    return Dataset(name, x_tr, y_tr, x_te, y_te, names, source, notes, str(directory))
