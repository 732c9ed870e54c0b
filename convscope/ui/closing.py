"""What the window does as it closes: every worker told to stop, the run ended."""

from __future__ import annotations

import logging
from typing import Any

from convscope.ui.controls import HyperparameterControls
from convscope.ui.inspection import InspectionController
from convscope.ui.panels.augment_preview import AugmentPreview
from convscope.ui.probe_runner import shutdown_runners

log = logging.getLogger(__name__)


def stop_everything(window: Any, record_wait_s: float) -> None:
    """Every worker is told to stop first, without waiting; then the loop gets 0.3 s (it
    answers between chunks, every 0.2 s, but not while XLA compiles), and its thread up to
    ``record_wait_s`` to end the run (final checkpoint, status). What still runs ends on
    its own; at exit the app waits a bounded time and leaves (ui/app.py)."""
    controls = window.panels.get(HyperparameterControls.title)
    if isinstance(controls, HyperparameterControls):
        controls.flush()
    window.runs.shutdown()
    inspection = window.session.findChild(InspectionController)
    if inspection is not None:
        inspection.shutdown(timeout_s=0.0)
    shutdown_runners(window, timeout_s=0.0)
    shutdown_runners(window.session, timeout_s=0.0)
    for preview in window.findChildren(AugmentPreview):
        preview.stop()
    if not window.session.shutdown(timeout_s=0.3):
        log.info("the training loop is still busy (XLA); it ends on its own")
    if not window.session.finish_recording(record_wait_s):
        log.info("the run was ended without a final checkpoint (the loop was busy)")
