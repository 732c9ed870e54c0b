"""A folder of images sorted into class folders: ``root/<class>/<image>``, or with the
splits given as ``root/train/<class>/…`` and ``root/val/<class>/…`` (or ``test/``).

Classes are the class folders' names, sorted. Every image is resized to one size: the
``image_size`` asked for (a side, or (height, width)), else the most common size with
its longer side capped at ``DEFAULT_CAP``. The set is grayscale when every image is,
else RGB (gray images are repeated into three channels). Files that are not images,
cannot be read (no permission, a broken link, not a regular file) or cannot be decoded
are skipped and counted in ``Dataset.notes``; hidden files (``.DS_Store`` …) are ignored.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convscope.data.errors import DataError

if TYPE_CHECKING:
    from convscope.data.dataset import Dataset, LoadOptions

DEFAULT_CAP = 64
MAX_IMAGES = 200_000
TRAIN_NAMES = ("train", "training")
HELD_OUT_NAMES = ("val", "valid", "validation", "test", "testing")


def _subfolders(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def is_image_folder(path: Path) -> bool:
    """A folder with at least one visible subfolder (class folders or train/val splits)."""
    try:
        return path.is_dir() and bool(_subfolders(path))
    except OSError:
        return False


def _split_roots(root: Path) -> tuple[Path, Path | None]:
    """(training root, held-out root or None) for ``root``."""
    by_name = {p.name.lower(): p for p in _subfolders(root)}
    train = next((by_name[n] for n in TRAIN_NAMES if n in by_name), None)
    if train is None:
        return root, None
    held = next((by_name[n] for n in HELD_OUT_NAMES if n in by_name), None)
    return train, held


def _files_by_class(root: Path) -> dict[str, list[Path]]:
    # Everything but folders: a broken link, a FIFO or a file this user may not read is
    # offered to load_image, which refuses it, so it is counted as skipped, not lost.
    return {
        d.name: sorted(f for f in d.rglob("*") if not f.is_dir() and not f.name.startswith("."))
        for d in _subfolders(root)
    }


def _decode(
    files: dict[str, list[Path]], classes: list[str]
) -> tuple[list[np.ndarray], list[int], list[Path]]:
    from convscope.data.images import load_image

    images: list[np.ndarray] = []
    labels: list[int] = []
    skipped: list[Path] = []
    for label, cls in enumerate(classes):
        for f in files.get(cls, []):
            try:
                images.append(load_image(f))
            except DataError:
                skipped.append(f)
                continue
            labels.append(label)
    return images, labels, skipped


def _target_size(images: list[np.ndarray], image_size: int | tuple[int, int] | None) -> tuple[int, int]:
    if isinstance(image_size, tuple):
        return image_size[0], image_size[-1]
    if image_size is not None:
        return image_size, image_size
    (h, w), _ = Counter(img.shape[:2] for img in images).most_common(1)[0]
    scale = min(1.0, DEFAULT_CAP / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_stack(images: list[np.ndarray] | np.ndarray, size: tuple[int, int], channels: int) -> np.ndarray:
    """uint8 images (each (h, w, c)) → one (N, *size, channels) array: resized with
    Lanczos where their size differs, gray repeated into colour where ``channels`` is 3."""
    from PIL import Image

    h, w = size
    out = np.empty((len(images), h, w, channels), np.uint8)
    for i, img in enumerate(images):
        if img.shape[:2] != (h, w):
            pil = Image.fromarray(img[..., 0] if img.shape[2] == 1 else img)
            img = np.asarray(pil.resize((w, h), Image.Resampling.LANCZOS), np.uint8)
            img = img.reshape(h, w, -1)
        out[i] = img if img.shape[2] == channels else np.repeat(img, channels, axis=2)
    return out


def load_image_folder(path: Path, options: LoadOptions) -> Dataset:
    """Load ``root/<class>/<image>`` (or ``root/train|val|test/<class>/<image>``)."""
    from convscope.data.dataset import assemble

    train_root, held_root = _split_roots(path)
    train_files = _files_by_class(train_root)
    classes = sorted(train_files)
    if len(classes) < 2:
        found = f"only the class folder {classes[0]!r}" if classes else "no class folders"
        raise DataError(f"{train_root}: an image folder needs at least two class folders, found {found}")
    held_files = _files_by_class(held_root) if held_root is not None else {}
    extra = sorted(set(held_files) - set(classes))
    if extra:
        raise DataError(f"{held_root}: class folder(s) {', '.join(extra)} are not in {train_root}")
    total = sum(len(v) for v in train_files.values()) + sum(len(v) for v in held_files.values())
    if total > MAX_IMAGES:
        raise DataError(f"{path}: {total:,} files is more than the {MAX_IMAGES:,} images ConvScope loads")

    train_imgs, train_labels, skipped = _decode(train_files, classes)
    held_imgs, held_labels, held_skipped = _decode(held_files, classes)
    skipped += held_skipped
    present = set(train_labels)
    empty = [c for i, c in enumerate(classes) if i not in present]
    if empty:
        raise DataError(f"{train_root / empty[0]}: no readable images in this class folder")
    if held_root is not None and not held_imgs:
        raise DataError(f"{held_root}: no readable images")

    size = _target_size(train_imgs + held_imgs, options.image_size)
    channels = 1 if all(img.shape[2] == 1 for img in train_imgs + held_imgs) else 3
    x_train = resize_stack(train_imgs, size, channels)
    train = (x_train, np.asarray(train_labels, np.int32))
    test = (resize_stack(held_imgs, size, channels), np.asarray(held_labels, np.int32)) if held_imgs else None

    notes = []
    if skipped:
        example = skipped[0].relative_to(path) if skipped[0].is_relative_to(path) else skipped[0]
        notes.append(f"{len(skipped):,} file(s) skipped (not readable images, e.g. {example})")
    sizes = {img.shape[:2] for img in train_imgs + held_imgs}
    if len(sizes) > 1 or size not in sizes:
        notes.append(f"resized to {size[0]}×{size[1]}")
    name = path.resolve().name or str(path)
    source = f"image folder {path}"
    return assemble(name, train, test, tuple(classes), source, options, "; ".join(notes), str(path))
