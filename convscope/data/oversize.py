"""Images larger than any model ConvScope builds are resized when a data set is loaded.

A model takes the data set's image size as its input; at 2048×2048 one conv layer's
output alone is hundreds of MB per image, so training, inspection and every probe
would need tens of GiB. Whatever the format (an ``.npz``, IDX files …), images whose
longer side exceeds ``MAX_SIDE`` (the largest ``--image-size``) are therefore resized as
image folders are: to the ``image_size`` asked for, else their longer side to
``folder.DEFAULT_CAP`` (64), keeping the aspect ratio; the data set's notes say so.
"""

from __future__ import annotations

import numpy as np

from convscope.data.folder import DEFAULT_CAP, resize_stack

MAX_SIDE = 256


def target_size(shape: tuple[int, ...], image_size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    """The (height, width) images of ``shape`` (N, H, W, C) are resized to, or None to keep them."""
    h, w = int(shape[1]), int(shape[2])
    if max(h, w) <= MAX_SIDE:
        return None
    if isinstance(image_size, tuple):
        return image_size[0], image_size[-1]
    if image_size is not None:
        return image_size, image_size
    scale = DEFAULT_CAP / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def shrink_oversized(
    train: np.ndarray, test: np.ndarray | None, image_size: int | tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``train`` and ``test`` (uint8 (N, H, W, C)) resized when too large, and a note
    saying so ("" when nothing changed)."""
    size = target_size(train.shape, image_size)
    if size is None and test is not None:
        size = target_size(test.shape, image_size)
    if size is None:
        return train, test, ""
    before = f"{train.shape[1]}×{train.shape[2]}"
    c = train.shape[3]
    train = resize_stack(train, size, c)
    if test is not None:
        test = resize_stack(test, size, c)
    note = (f"resized from {before} to {size[0]}×{size[1]}: images over {MAX_SIDE} px a side are too large "
            "for a model to take whole")
    return train, test, note
