"""The data set a checkpoint's weights were trained on, loaded again to judge them.

``convscope evaluate`` and ``convscope landscape`` read a checkpoint's data record
(``Checkpoint.data``): without ``--data`` they open the set it names, and they cut the
validation split it was trained with, so that "validation" never means images the
weights were trained on. Image folders are resized to the model's input size, the size
it was trained at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from convscope.data import DataError
from convscope.data import dataset as datasets
from convscope.data.dataset import Dataset
from convscope.train.checkpoint import Checkpoint


@dataclass(frozen=True)
class TrainedOn:
    dataset: Dataset
    data_from: str  # where the data set's name came from, for the reports
    val_fraction: float
    split_seed: int
    split_from: str  # where the split came from


def training_split(ckpt: Checkpoint) -> tuple[float, int, str]:
    """(val_fraction, split seed, where they come from) of the split ``ckpt`` was trained
    with, so that its validation images are not training images. A checkpoint without a
    data record predates it; ``convscope train`` then split with the model's seed."""
    if ckpt.data is None:
        return ckpt.config.val_fraction, ckpt.config.seed, "the checkpoint's training config"
    if ckpt.data.val_split is None:  # trained on a set with its own test split
        return ckpt.config.val_fraction, 0, "the default split (the training set had its own test split)"
    fraction, seed = ckpt.data.val_split
    return fraction, seed, "the checkpoint's training split"


def data_spec(ckpt: Checkpoint, given: str | None) -> tuple[str | None, str]:
    """What to load (``given``, else the set the checkpoint records, else None: the
    built-in digits) and where that came from. DataError when the recorded set is a path
    that is not there any more."""
    if given is not None:
        return given, "--data"
    record = ckpt.data
    if record is None or not record.origin:
        return None, "the default (the checkpoint does not record its data set)"
    if not record.origin.lower().startswith("builtin:") and not Path(record.origin).exists():
        raise DataError(
            f"the checkpoint was trained on {record.name or 'a data set'} from {record.origin}, "
            "which is not there any more: give its new place with --data")
    return record.origin, "the checkpoint's data record"


def load_training_data(ckpt: Checkpoint, data: str | None = None, *, val_fraction: float | None = None,
                       split_seed: int | None = None, image_size: int | None = None) -> TrainedOn:
    """The data set ``ckpt`` was trained on (or ``data``), split as it was trained
    (``val_fraction`` / ``split_seed`` override), image folders at the model's input size
    (``image_size`` overrides). DataError or ValueError with a one-line message."""
    spec, data_from = data_spec(ckpt, data)
    fraction, seed, split_from = training_split(ckpt)
    if val_fraction is not None:
        fraction, split_from = val_fraction, "--val-fraction"
    if split_seed is not None:
        seed, split_from = split_seed, "--split-seed"
    size = image_size if image_size is not None else tuple(ckpt.arch.input_shape[:2])
    dataset = datasets.load_dataset(spec, val_fraction=fraction, seed=seed, image_size=size)
    return TrainedOn(dataset, data_from, fraction, seed, split_from)
