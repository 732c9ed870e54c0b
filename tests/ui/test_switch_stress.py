"""Issue 11, item 18: the window crashed (a segmentation fault) when the data set was
switched during training — five switches in a row, or to a set with 11 or 20 classes.
The cause was not JAX: the Prediction panel kept the previous model's bar brushes, so a
set with more classes left fewer brushes than bars; ``BarGraphItem.paint`` raised
IndexError inside Qt's paint, and PySide6 6.11 crashes on an exception in a paint
override. The stress run happens in a process of its own (switch_stress_app.py), so that
a crash fails this test rather than ending the test run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("switch_stress_app.py")


@pytest.mark.gui
@pytest.mark.slow
def test_twenty_switches_while_training_leave_the_process_alive_and_the_panels_consistent(tmp_path) -> None:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), "20"], capture_output=True, text=True,
                          timeout=110, env=env, cwd=ROOT)  # fmt: skip
    tail = (proc.stdout + proc.stderr)[-4000:]
    assert proc.returncode == 0, f"the app died (status {proc.returncode}):\n{tail}"
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, tail
    r = json.loads(lines[-1][len("RESULT "):])
    assert r["settled"] and r["state"] == "training", r
    assert r["maps_label"] == r["maps_expected"] and r["maps_expected"].startswith("conv1 · "), r
    assert r["filters_label"] == r["filters_expected"] != "", r
    assert r["prediction_bars"] == r["prediction_brushes"] == r["classes"], r
    assert "Inspection" not in r["notice"] and "rror" not in r["notice"], r
    assert r["errors"] == [] and r["unexpected"] == [], r
    assert "Traceback" not in proc.stderr, proc.stderr[-4000:]


@pytest.mark.gui
def test_prediction_keeps_a_brush_for_every_bar_when_the_classes_grow(qtbot, session) -> None:
    """The crash's cause, in process and without painting: after a prediction drawn for
    10 classes, 11 classes must not leave 10 brushes (``drawPicture`` is what ``paint``
    runs; called from Python it raises instead of crashing)."""
    from types import SimpleNamespace

    from convscope.ui.panels.prediction import PredictionPanel

    panel = PredictionPanel(session)
    qtbot.addWidget(panel)
    probs = np.full(10, 0.05, np.float32)
    probs[3] = 0.55
    panel._on_inspected(SimpleNamespace(probs=probs))
    panel.redraw()
    assert len(panel.bars.opts["brushes"]) == 10
    panel._set_classes(11)
    assert len(panel.bars.opts["brushes"]) == 11
    panel.bars.picture = None
    panel.bars.drawPicture()  # raised IndexError: list index out of range
