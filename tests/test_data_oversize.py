"""Images far larger than a model's input (an .npz of 2048×2048) are resized on loading,
as image folders are, and the data set's notes say so; sizes a model takes are kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convscope.data import load_dataset

BIG = 2048


def half_dark(n: int, h: int, w: int) -> np.ndarray:
    """n images, the left half black and the right half white (a hand-checkable resize)."""
    x = np.zeros((n, h, w), np.uint8)
    x[:, :, w // 2 :] = 255
    return x


def write_big_npz(path: Path, n_train: int = 4, n_test: int = 2) -> Path:
    """6 images of 2048×2048 uint8: 24 MB of pixels in a small test."""
    np.savez(path, x_train=half_dark(n_train, BIG, BIG), y_train=np.arange(n_train) % 2,
             x_test=half_dark(n_test, BIG, BIG), y_test=np.arange(n_test) % 2,
             class_names=np.array(["dark", "light"]))
    return path


def test_a_2048_pixel_npz_is_resized_to_64(tmp_path: Path) -> None:
    data = load_dataset(str(write_big_npz(tmp_path / "big.npz")))
    assert data.image_shape == (64, 64, 1) and data.x_val.shape == (2, 64, 64, 1)
    assert "resized from 2048×2048 to 64×64" in data.notes
    # Downscaled by 32: the left half stays black, the right white (Lanczos rings only within 3 output pixels of the edge).
    for x in (data.x_train, data.x_val):
        assert (x[:, :, :28] == 0).all() and (x[:, :, 36:] == 255).all()


def test_the_aspect_ratio_is_kept_and_image_size_is_honoured(tmp_path: Path) -> None:
    path = tmp_path / "wide.npz"
    np.savez(path, x_train=half_dark(10, 300, 600), y_train=np.arange(10) % 2)
    data = load_dataset(str(path))
    assert data.image_shape == (32, 64, 1) and "resized from 300×600 to 32×64" in data.notes
    assert load_dataset(str(path), image_size=48).image_shape == (48, 48, 1)


@pytest.mark.parametrize("side", [28, 100, 256])
def test_sizes_a_model_takes_are_kept(tmp_path: Path, side: int) -> None:
    path = tmp_path / "ok.npz"
    x = np.random.default_rng(0).integers(0, 256, (10, side, side, 3), dtype=np.uint8)
    np.savez(path, x_train=x, y_train=np.arange(10) % 2)
    data = load_dataset(str(path))
    assert data.image_shape == (side, side, 3) and "resized" not in data.notes
    np.testing.assert_array_equal(np.sort(np.concatenate([data.x_train, data.x_val]), axis=0), np.sort(x, axis=0))
