"""A model and data set small enough that a real training loop runs in milliseconds."""

from __future__ import annotations

import numpy as np

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data.dataset import Dataset


def tiny_dataset(n: int = 96, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 8, 8, 1), dtype=np.uint8)
    y = (x[:, :4].mean(axis=(1, 2, 3)) > x[:, 4:].mean(axis=(1, 2, 3))).astype(np.int32)
    k = n * 3 // 4
    return Dataset("tiny", x[:k], y[:k], x[k:], y[k:], ("a", "b"), "test", "", "")


TINY_ARCH = ArchSpec(input_shape=(8, 8, 1), num_classes=2, convs=(ConvLayer(filters=2, kernel=3),), dense=(4,))
TINY_CONFIG = TrainConfig(batch_size=16, eval_every=4, log_every=1, learning_rate=0.01)
