"""ProbeRunner: latest request wins, cancellation, progress, errors, the time share."""

from __future__ import annotations

import threading
import time

import pytest

from convscope.ui.probe_runner import ProbeContext, ProbeRunner

pytestmark = pytest.mark.gui


@pytest.fixture
def runner(qtbot):
    r = ProbeRunner("test")
    yield r
    assert r.shutdown(2.0)


def test_result_and_progress_arrive_on_the_gui_thread(qtbot, runner):
    seen = []
    gui = threading.current_thread()
    runner.progressed.connect(lambda tag, p: seen.append(("progress", tag, p, threading.current_thread() is gui)))
    runner.finished.connect(lambda tag, r: seen.append(("done", tag, r, threading.current_thread() is gui)))

    def job(ctx: ProbeContext) -> int:
        for i in range(3):
            ctx.report(i)
        return 42

    with qtbot.waitSignal(runner.finished, timeout=5000):
        runner.submit("a", job)
    qtbot.wait(20)
    assert seen == [("progress", "a", 0, True), ("progress", "a", 1, True), ("progress", "a", 2, True), ("done", "a", 42, True)]
    assert not runner.busy


def test_latest_request_wins_and_the_running_job_is_stopped(qtbot, runner):
    started = threading.Event()
    stopped = []

    def slow(ctx: ProbeContext) -> str:
        started.set()
        while not ctx.should_stop():
            time.sleep(0.005)
        stopped.append(True)
        return "slow"

    results = []
    runner.finished.connect(lambda tag, r: results.append((tag, r)))
    runner.submit("first", slow)
    assert started.wait(5)
    runner.submit("second", lambda ctx: "fast")
    qtbot.waitUntil(lambda: bool(results) and not runner.busy, timeout=5000)
    assert results == [("second", "fast")]  # the stopped job's result is dropped
    assert stopped == [True]


def test_waiting_requests_collapse_to_the_newest(qtbot, runner):
    gate = threading.Event()
    ran = []

    def blocker(ctx):
        gate.wait(5)
        return None

    def record(name):
        def job(ctx):
            ran.append(name)
            return name
        return job

    runner.submit("block", blocker)
    for name in "bcde":
        runner.submit(name, record(name))
    gate.set()
    qtbot.waitUntil(lambda: not runner.busy, timeout=5000)
    assert ran == ["e"]


def test_cancel_clears_busy(qtbot, runner):
    def loop(ctx):
        while not ctx.should_stop():
            time.sleep(0.005)
        return "never shown"

    got = []
    runner.finished.connect(lambda tag, r: got.append(r))
    with qtbot.waitSignal(runner.busy_changed, timeout=2000):
        runner.submit("x", loop)
    assert runner.busy
    with qtbot.waitSignal(runner.busy_changed, timeout=5000) as blocker:
        runner.cancel()
    assert blocker.args == [False]
    qtbot.wait(50)
    assert got == []


def test_errors_become_a_message(qtbot, runner):
    def bad(ctx):
        raise ValueError("layer 'conv9' does not exist")

    with qtbot.waitSignal(runner.errored, timeout=5000) as blocker:
        runner.submit("t", bad)
    assert blocker.args == ["t", "ValueError: layer 'conv9' does not exist"]
    assert not runner.busy


def test_share_limits_the_computing_fraction(qtbot, runner):
    runner.set_share(0.25)
    busy_s = 0.04

    def job(ctx):
        t0 = time.perf_counter()
        for _ in range(5):
            end = time.perf_counter() + busy_s
            while time.perf_counter() < end:
                pass
            ctx.should_stop()
        return time.perf_counter() - t0

    with qtbot.waitSignal(runner.finished, timeout=10000) as blocker:
        runner.submit("s", job)
    elapsed = blocker.args[1]
    # 5 × 40 ms of work at a 25 % share takes at least 5 × 160 ms.
    assert elapsed >= 5 * busy_s / 0.25 * 0.95
    with pytest.raises(ValueError, match="share"):
        runner.set_share(0.0)
