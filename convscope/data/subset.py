"""A smaller training split of a data set: the first ``n`` training images taken evenly
over the classes (for an experiment on overfitting). NumPy and stdlib only."""

from __future__ import annotations

from typing import Any

import numpy as np

from convscope.data.dataset import Dataset
from convscope.data.errors import DataError


def training_subset(dataset: Any, n: int) -> Dataset:
    """``dataset`` with only ``n`` of its training images, about ``n / classes`` of each
    class (the first ones of each, in the set's order, so the choice is reproducible);
    the validation split is kept whole, so the gap between the two shows overfitting.
    A class with fewer images gives what it has and the others make up the rest."""
    y = np.asarray(dataset.y_train)
    classes = int(dataset.num_classes)
    if isinstance(n, bool) or not isinstance(n, int) or not classes <= n <= len(y):
        raise DataError(f"a training subset needs {classes}..{len(y)} images (one per class at least), got {n!r}")
    by_class = [np.flatnonzero(y == c) for c in range(classes)]
    take = [0] * classes
    left = n
    while left > 0:  # round robin: as even as the classes allow
        for c in range(classes):
            if left and take[c] < len(by_class[c]):
                take[c] += 1
                left -= 1
    chosen = np.sort(np.concatenate([idx[:k] for idx, k in zip(by_class, take, strict=True)]))
    name = f"{dataset.name} ({n:,} training images)"
    return Dataset(
        name,
        np.ascontiguousarray(dataset.x_train[chosen]),
        np.ascontiguousarray(y[chosen].astype(np.int32)),
        dataset.x_val,
        dataset.y_val,
        tuple(dataset.class_names),
        getattr(dataset, "source", "") or name,
        notes=f"{n:,} of {len(y):,} training images",
    )
