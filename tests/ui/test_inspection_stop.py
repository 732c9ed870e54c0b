"""Issue 17.6: the inspection threads wait for jobs; closing the window must tell them
to stop, and each must end at once, not at the process's end."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def test_the_waiting_inspection_threads_end_as_soon_as_they_are_told_to_stop(qtbot, session) -> None:
    from convscope import events as ev
    from convscope.config import ArchSpec
    from convscope.model import init
    from convscope.train.step import to_host
    from convscope.ui.inspection import controller_for

    before = set(threading.enumerate())  # other tests' threads are not this controller's
    controller = controller_for(session)
    params, state = init(ArchSpec(), 0)
    controller.set_snapshot(ev.Snapshot(0, ArchSpec(), to_host(params), to_host(state),
                                        np.array([[0.1], [0.3]], np.float32)))
    qtbot.waitUntil(lambda: len(controller._workers) == 2 and controller.idle(), timeout=60_000)  # noqa: SLF001
    threads = [t for t in set(threading.enumerate()) - before if t.name.startswith("convscope-inspect-")]
    assert len(threads) == 2 and all(t.is_alive() for t in threads)
    time.sleep(0.05)  # both waiting for a job now
    t0 = time.monotonic()
    assert controller.shutdown(2.0), "a thread still waits for a job"
    assert time.monotonic() - t0 < 0.5
    assert not any(t.is_alive() for t in threads)
