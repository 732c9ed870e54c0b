"""Issue 14: Preferences ▸ Training devices — how many devices each batch is split
across (jax.sharding) — acts on the training the window runs, from the next Reset."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FAKE_DATASET, FakeLoop

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_devices_preference_splits_the_next_training_over_that_many_devices(tmp_path) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "tiny.npz"
    np.savez(data, x_train=rng.integers(0, 256, (96, 8, 8, 1), dtype=np.uint8), y_train=np.arange(96) % 3)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QT_QPA_PLATFORM": "offscreen",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}  # fmt: skip
    settings = tmp_path / "settings.ini"
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "ui" / "devices_app.py"), str(data), str(settings), "2"],
                         env=env, capture_output=True, text=True, timeout=180, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "error" not in result, out.stderr[-3000:]
    assert result["before"] == "4 × CPU"  # by default every device that divides the batch of 16
    assert result["after"] == "2 × CPU"  # at most 2, from the Reset on
    assert str(result["saved"]) == "2"  # and it lasts


def test_with_one_device_the_choice_is_shown_but_off(qtbot, tmp_path) -> None:
    from PySide6.QtCore import QSettings

    from convscope.config import ArchSpec, TrainConfig
    from convscope.ui.main_window import MainWindow

    settings = QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat)
    window = MainWindow(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=FakeLoop, settings=settings)
    qtbot.addWidget(window)
    dialog = window.preferences.open_dialog()
    assert dialog.devices.count() == 2 and not dialog.devices.isEnabled()
    assert "one device" in dialog.devices.toolTip()
    assert window.preferences.device_limit is None
    dialog.reject()
