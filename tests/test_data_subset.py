"""convscope.data.subset.training_subset: the size asked, classes as even as they allow,
the validation split untouched, the first images of each class, a clear refusal."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.data import DataError, Dataset
from convscope.data.subset import training_subset


def _set(labels: list[int], classes: int = 3) -> Dataset:
    y = np.asarray(labels, np.int32)
    x = np.arange(len(y), dtype=np.uint8).reshape(-1, 1, 1, 1).repeat(2, axis=1)  # image i holds i
    return Dataset("toy", x, y, x[:2], y[:2], tuple("abc"[:classes]), "hand-made")


def test_the_subset_takes_the_first_images_of_each_class_evenly() -> None:
    data = _set([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 0, 0])
    sub = training_subset(data, 6)
    # By hand: class 0 at 0, 3, 6, 9…, class 1 at 1, 4, 7, class 2 at 2, 5, 8: two each.
    assert sub.x_train[:, 0, 0, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert sub.y_train.tolist() == [0, 1, 2, 0, 1, 2]
    assert sub.y_train.dtype == np.int32
    np.testing.assert_array_equal(sub.x_val, data.x_val)
    np.testing.assert_array_equal(sub.y_val, data.y_val)
    assert sub.class_names == data.class_names and sub.name == "toy (6 training images)"


def test_a_short_class_gives_what_it_has_and_the_others_make_up_the_rest() -> None:
    data = _set([0, 0, 0, 0, 0, 1, 2, 0, 0])  # classes 1 and 2 have one image each
    sub = training_subset(data, 7)
    assert np.bincount(sub.y_train, minlength=3).tolist() == [5, 1, 1]
    assert len(sub.x_train) == 7


@pytest.mark.parametrize("n", [2, 10, 0, True, 3.0])
def test_a_size_out_of_range_is_refused_with_the_range(n: object) -> None:
    data = _set([0, 1, 2, 0, 1, 2, 0, 1, 2])
    with pytest.raises(DataError, match=r"needs 3\.\.9 images"):
        training_subset(data, n)  # type: ignore[arg-type]
