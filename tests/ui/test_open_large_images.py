"""File ▸ Open Data Set with images far larger than a model takes (an .npz of 2048×2048):
the set is resized as it loads, the window says so, and nothing fails."""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def test_opening_a_2048_pixel_npz_trains_on_64_pixel_images(window, loops, qtbot, tmp_path, caplog) -> None:
    from convscope.ui.panels.dataset import loader_for

    path = tmp_path / "big.npz"
    x = np.zeros((6, 2048, 2048), np.uint8)
    x[:, :, 1024:] = 255
    np.savez(path, x_train=x[:4], y_train=np.arange(4) % 2, x_test=x[4:], y_test=np.arange(2) % 2)
    del x
    caplog.set_level(logging.WARNING)
    loader_for(window.session).load(str(path))
    qtbot.waitUntil(lambda: len(loops) == 2 and window.session.state == "paused", timeout=20_000)
    assert window.session.dataset.image_shape == (64, 64, 1)
    assert loops[-1].arch.input_shape == (64, 64, 1)
    text = window.notice_label.text()
    assert "64×64×1" in text and "resized from 2048×2048 to 64×64" in text
    assert window.last_error == "" and window.notice_label.property("level") == "info"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
