"""Issue 17.6: the inspection threads wait in ``Condition.wait`` for jobs; closing the
window must tell them to stop, and each must end at once, not at the process's end."""

from __future__ import annotations

import threading
import time

import pytest

pytestmark = pytest.mark.gui


def test_a_waiting_inspection_thread_ends_as_soon_as_it_is_told_to_stop() -> None:
    from convscope.ui.inspection_worker import InspectionWorker

    worker = InspectionWorker(controller=None, name="inspect-test")  # no job: the controller is never used
    deadline = time.monotonic() + 5
    while not (worker.thread.is_alive() and worker.idle()) and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)  # inside Condition.wait now
    assert worker.thread.is_alive()
    t0 = time.monotonic()
    worker.request_stop()
    assert worker.join(2.0), "the thread still waits for a job"
    assert time.monotonic() - t0 < 0.5
    assert worker.thread not in threading.enumerate()
