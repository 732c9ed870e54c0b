"""End to end: the real app in a real X server trains for a few seconds and is grabbed.

Runs ``python -m convscope`` under ``xvfb-run`` with CONVSCOPE_AUTOTRAIN_SECONDS (press
Train, then quit) and CONVSCOPE_SCREENSHOT (grab the window first); checks the PNG.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.gui, pytest.mark.slow]

WIDTH, HEIGHT = 1600, 1000


@pytest.mark.skipif(
    shutil.which("xvfb-run") is None, reason="xvfb-run is not installed (Debian: apt install xvfb)"
)
def test_app_trains_under_xvfb_and_the_screenshot_is_not_blank(tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "convscope.png"
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(CONVSCOPE_AUTOTRAIN_SECONDS="3", CONVSCOPE_SCREENSHOT=str(shot), QT_QPA_PLATFORM="xcb")
    command = [
        "xvfb-run",
        "-a",
        "-s",
        f"-screen 0 {WIDTH}x{HEIGHT}x24",
        sys.executable,
        "-m",
        "convscope",
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert "QThread: Destroyed" not in output

    match = re.search(r"autotrain stopped at step (\d+), window (\d+)x(\d+)", result.stdout)
    assert match, output[-3000:]
    step, width, height = (int(g) for g in match.groups())
    assert step > 0, "it trained"
    assert (width, height) == (WIDTH, HEIGHT)

    assert shot.is_file()
    with Image.open(shot) as image:
        assert image.size == (width, height)
        rgb = image.convert("RGB")
        colors = rgb.getcolors(maxcolors=1 << 20)
    assert colors is not None
    assert len(colors) > 200, f"only {len(colors)} distinct colours: a blank or unpainted window?"
    most_common = max(count for count, _color in colors)
    assert most_common < 0.8 * width * height, "one colour covers most of the window"
