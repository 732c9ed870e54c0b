"""ProbeFeed, the controller every probe panel shares: a wanted computation waits until
the view is on screen, its runner idle and the minimum interval past; a new model
cancels the running job (its result never arrives) and counts a generation; the CPU
share follows the run state; the timeline's stored step is told apart from live."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from PySide6.QtWidgets import QWidget

from convscope import events as ev
from convscope.config import ArchSpec
from convscope.model import init
from convscope.train.step import to_host
from convscope.ui.probe_feed import ProbeFeed

pytestmark = pytest.mark.gui


@pytest.fixture
def view(qtbot):
    w = QWidget()
    qtbot.addWidget(w)
    w.resize(200, 100)
    return w


def _snapshot(step: int) -> ev.Snapshot:
    params, state = init(ArchSpec(), 0)
    return ev.Snapshot(step, ArchSpec(), to_host(params), to_host(state), np.array([[0.1], [0.3]], np.float32))


def test_a_wanted_computation_waits_for_the_screen_the_runner_and_the_interval(qtbot, view, session):
    feed = ProbeFeed(view, session, "t", min_interval_s=0.3)
    due: list[float] = []
    feed.due.connect(lambda: due.append(time.monotonic()))
    feed.ask()
    assert due == [] and feed.wanted  # hidden: nothing yet
    view.show()
    qtbot.waitExposed(view)
    qtbot.waitUntil(lambda: len(due) == 1, timeout=2000)
    release = threading.Event()
    feed.submit("a", lambda ctx: release.wait(5) and "a")
    feed.ask()  # while the job runs: waits for it
    qtbot.wait(100)
    assert len(due) == 1
    release.set()
    qtbot.waitUntil(lambda: len(due) == 2, timeout=3000)
    assert due[1] - feed.finished_at >= 0.3 - 0.02  # and the interval after it
    feed.runner.shutdown(2.0)


def test_a_new_model_cancels_the_running_job_and_counts_a_generation(qtbot, view, window):
    session = window.session  # a running (fake) loop: a reset goes through it
    feed = ProbeFeed(view, session, "t", follow=True)
    results, started = [], []
    feed.runner.finished.connect(lambda tag, r: results.append((tag, r)))
    feed.model_started.connect(lambda: started.append(feed.generation))

    def job(ctx):
        while not ctx.should_stop():
            time.sleep(0.005)
        return "old model"

    feed.submit("old", job)
    session.reset()
    qtbot.waitUntil(lambda: started == [1] and feed.runner.idle(), timeout=5000)
    qtbot.wait(50)
    assert results == []  # the old model's result never arrives
    # Following: a snapshot asks for a computation; the stored flag is the controller's.
    due = []
    feed.due.connect(lambda: due.append(feed.stored))
    view.show()
    qtbot.waitExposed(view)
    feed.controller.set_snapshot(_snapshot(3), stored=True)
    qtbot.waitUntil(lambda: due == [True], timeout=2000)
    feed.controller.set_snapshot(_snapshot(4))
    qtbot.waitUntil(lambda: due == [True, False], timeout=2000)
    feed.runner.shutdown(2.0)


def test_the_share_follows_the_run_state(qtbot, view, window):
    session = window.session
    feed = ProbeFeed(view, session, "t", training_share=0.25)
    feed.apply_share()
    assert feed.runner.share == 1.0  # the model waits: all of it
    session.train()
    qtbot.waitUntil(lambda: session.is_training, timeout=5000)
    assert feed.runner.share == 0.25
    session.pause()
    qtbot.waitUntil(lambda: not session.is_training, timeout=5000)
    assert feed.runner.share == 1.0
