"""Data sets as NumPy arrays: readers, the built-in sets, splits. NumPy and stdlib only."""

from convscope.data.dataset import (
    BUILTIN_NAMES,
    Dataset,
    LoadOptions,
    builtin_mnist,
    load_dataset,
    split_validation,
)
from convscope.data.errors import DataError
from convscope.data.idx import load_mnist_dir, read_idx

__all__ = [
    "BUILTIN_NAMES",
    "DataError",
    "Dataset",
    "LoadOptions",
    "builtin_mnist",
    "load_dataset",
    "load_mnist_dir",
    "read_idx",
    "split_validation",
]
