"""The suite never touches the user's settings file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.gui


def test_the_apps_settings_live_in_the_suites_own_folder(qapp) -> None:
    from convscope.ui.layout_memory import app_settings

    # Layout tests point Qt at a tmp_path of their own (QSettings.setPath, process-wide),
    # so whichever ran before decides the folder; never the user's own.
    where = Path(app_settings().fileName()).resolve()
    assert not where.is_relative_to((Path.home() / ".config").resolve()), where


def test_a_process_the_suite_starts_finds_its_settings_there_too(tmp_path) -> None:
    code = (
        "from PySide6.QtWidgets import QApplication; import sys; app = QApplication(sys.argv[:1]);"
        "from convscope.ui.layout_memory import app_settings; print(app_settings().fileName())"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    where = Path(out.stdout.strip()).resolve()
    assert where.is_relative_to(Path(os.environ["XDG_CONFIG_HOME"]).resolve()), where
