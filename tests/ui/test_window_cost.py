"""What the window costs while it trains (issue 14): the Training panel draws only what can
be seen, at most every TRAINING_FRAME_S while training, and catches up when shown; the
window's own loop sends its weights at most every LIVE_SNAPSHOT_S."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import FAKE_DATASET, FakeLoop
from PySide6.QtWidgets import QLabel

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.ui.panels.training import TRAINING_FRAME_S, TrainingPanel

pytestmark = pytest.mark.gui


class Other(QLabel):
    """A panel tabbed with Training: raising it puts Training in a background tab."""

    title = "Other"
    area = "right"
    tab_with = "Training"

    def __init__(self, _session) -> None:
        super().__init__("another tab")


@pytest.fixture
def win(qtbot, loops):
    from convscope.ui.main_window import MainWindow

    def factory(a, c, d):
        loops.append(FakeLoop(a, c, d, step_s=0.004))
        return loops[-1]

    window = MainWindow(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=factory, panels=[TrainingPanel, Other])
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=5000)
    yield window
    window.session.shutdown(timeout_s=2.0)


def count_draws(panel: TrainingPanel, monkeypatch) -> list[float]:
    """Times at which the loss curve was given new data."""
    times: list[float] = []
    curve = panel.curves["loss"]
    original = curve.setData
    monkeypatch.setattr(curve, "setData", lambda *a, **k: (times.append(time.monotonic()), original(*a, **k)))
    return times


def test_a_hidden_training_tab_draws_nothing_and_catches_up_when_shown(win, loops, qtbot, monkeypatch):
    panel = win.panels["Training"]
    win.docks["Other"].raise_()
    qtbot.waitUntil(lambda: panel.visibleRegion().isEmpty(), timeout=2000)
    draws = count_draws(panel, monkeypatch)
    win.session.train()
    qtbot.waitUntil(lambda: loops[-1].step >= 40, timeout=10_000)
    qtbot.wait(300)  # three of the panel's timer periods with new metrics
    assert draws == []  # the steps came in, and nothing was drawn for nobody
    assert panel.buffers["loss"].size >= 40
    win.session.pause()
    qtbot.waitUntil(lambda: win.session.state == "paused", timeout=5000)
    qtbot.wait(50)
    win.docks["Training"].raise_()
    qtbot.waitUntil(lambda: len(draws) >= 1, timeout=2000)
    x = panel.curves["loss"].xData
    assert x is not None and x[-1] == loops[-1].step == panel.buffers["loss"].x[-1]
    assert len(x) == panel.buffers["loss"].size  # every step received while hidden is on the curve


def test_while_training_the_curves_are_live_at_a_bounded_frame_rate(win, loops, qtbot, monkeypatch):
    panel = win.panels["Training"]
    draws = count_draws(panel, monkeypatch)
    win.session.train()
    qtbot.waitUntil(lambda: loops[-1].step >= 5, timeout=5000)
    t0 = time.monotonic()
    qtbot.wait(int(4.2 * TRAINING_FRAME_S * 1000))
    during = [t for t in draws if t >= t0]
    # Live: the curves moved on while training ...
    assert len(during) >= 2
    # ... at most one frame per TRAINING_FRAME_S (the 10 Hz timer drew one per metrics burst).
    assert len(during) <= 5 and np.all(np.diff(during) >= TRAINING_FRAME_S * 0.9)
    steps_drawn = panel.curves["loss"].xData[-1]
    assert steps_drawn > 5
    win.session.pause()
    qtbot.waitUntil(lambda: win.session.state == "paused", timeout=5000)
    qtbot.waitUntil(lambda: panel.curves["loss"].xData[-1] == loops[-1].step, timeout=2000)  # paused: at once


def test_a_minimised_window_draws_nothing_and_catches_up_when_restored(win, loops, qtbot, monkeypatch):
    panel = win.panels["Training"]
    win.showMinimized()
    qtbot.waitUntil(win.isMinimized, timeout=2000)
    draws = count_draws(panel, monkeypatch)
    win.session.train()
    qtbot.waitUntil(lambda: loops[-1].step >= 40, timeout=10_000)
    qtbot.wait(300)
    assert draws == []
    win.showNormal()
    qtbot.waitUntil(lambda: not win.isMinimized(), timeout=2000)
    qtbot.waitUntil(lambda: len(draws) >= 1, timeout=3000)
    assert panel.curves["loss"].xData[-1] >= 40


@pytest.mark.slow
def test_the_windows_own_loop_sends_its_weights_at_most_every_live_snapshot_s(qtbot):
    """The real TrainingLoop, built by the window's default factory, on a tiny model."""
    from convscope.data import Dataset, builtin_mnist
    from convscope.ui.main_window import MainWindow
    from convscope.ui.preferences import LIVE_SNAPSHOT_S
    from convscope.ui.worker import wait_for_stragglers

    full = builtin_mnist()
    data = Dataset("digits (small)", full.x_train[:512], full.y_train[:512], full.x_val[:64],
                   full.y_val[:64], full.class_names, full.source)  # fmt: skip
    tiny = ArchSpec(convs=(ConvLayer(filters=2, kernel=3),), dense=(8,))
    window = MainWindow(data, tiny, TrainConfig(batch_size=16, log_every=2), panels=[TrainingPanel])
    qtbot.addWidget(window)
    made = []
    factory = window.session._loop_factory  # noqa: SLF001  (the window's own: preferences.loop_factory)

    def recording(a, c, d):
        loop = factory(a, c, d)
        original = loop.snapshot
        loop.snapshot = lambda: (made.append((loop.clock(), loop.running)), original())[1]
        return loop

    window.session._loop_factory = recording  # noqa: SLF001
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=60_000)
    steps = []
    window.session.bridge.stepped.connect(lambda m: steps.append(m.step))
    window.session.train()
    qtbot.waitUntil(lambda: len([t for t, running in made if running]) >= 4, timeout=30_000)
    window.session.pause()
    live = [t for t, running in made if running]
    assert len(steps) > len(live)  # metrics came more often than weights
    assert np.all(np.diff(live) >= LIVE_SNAPSHOT_S)
    window.close()
    assert wait_for_stragglers(timeout_s=30)


def test_unseen_unit_statistics_wait_and_come_at_once_when_the_activations_panel_is_shown(qtbot, monkeypatch):
    """The 256-image statistics behind the Activations panel are the costliest inspection:
    out of sight they are not recomputed for every 2 s of new weights."""
    from test_inspection_panels import ARCH, DATASET, real_snapshot

    from convscope.ui.inspection import STATS_AWAY_S, STATS_INTERVAL_S, InspectionController
    from convscope.ui.main_window import MainWindow
    from convscope.ui.panels.activations import ActivationsPanel

    monkeypatch.setattr(FakeLoop, "_snapshot", real_snapshot)
    loops = []

    def factory(a, c, d):
        loops.append(FakeLoop(a, c, d, step_s=0.01))
        return loops[-1]

    window = MainWindow(DATASET, ARCH, TrainConfig(), loop_factory=factory,
                        panels=[TrainingPanel, ActivationsPanel, Other])  # fmt: skip
    qtbot.addWidget(window)
    window.resize(1000, 700)
    window.show()
    c = window.session.findChild(InspectionController)
    window.docks["Other"].raise_()  # Activations in a background tab
    qtbot.waitUntil(lambda: c.stats is not None, timeout=20_000)  # the model's first: at once
    assert c.stats.step == 0
    computed = []
    c.stats_updated.connect(lambda stats: computed.append(stats.step))
    window.session.train()
    t0 = time.monotonic()
    while time.monotonic() - t0 < STATS_INTERVAL_S + 0.6:  # new weights, more than one interval long
        window.session.request_snapshot()
        qtbot.wait(150)
    assert c.snapshot.step > 0 and computed == []
    window.session.pause()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=5000)
    window.session.request_snapshot()  # the paused model's weights
    qtbot.waitUntil(lambda: c.snapshot.step == loops[-1].step, timeout=5000)
    shown = time.monotonic()
    window.docks["Activations"].raise_()
    qtbot.waitUntil(lambda: bool(computed) and computed[-1] == loops[-1].step, timeout=10_000)
    assert time.monotonic() - shown < STATS_AWAY_S / 2  # caught up on showing, not at the next 10 s
    history = c.history["act1"].dead
    assert history.x.tolist() == [0, loops[-1].step]
    window.close()
    window.session.shutdown(timeout_s=2.0)


def test_the_image_panel_redraws_the_model_input_only_when_it_changes(qtbot, monkeypatch):
    """Training's snapshots change the maps and the prediction, not the standardised input:
    the Image panel does not repaint it for each of them, and does for another image."""
    from test_inspection_panels import ARCH, DATASET, real_snapshot

    from convscope.ui.inspection import InspectionController
    from convscope.ui.main_window import MainWindow
    from convscope.ui.panels.inspect_image import ImagePanel

    monkeypatch.setattr(FakeLoop, "_snapshot", real_snapshot)
    window = MainWindow(DATASET, ARCH, TrainConfig(), loop_factory=FakeLoop, panels=[ImagePanel])
    qtbot.addWidget(window)
    window.show()
    c = window.session.findChild(InspectionController)
    panel = window.panels["Image"]
    qtbot.waitUntil(lambda: c.inspection is not None and c.inspected_image is c.model_image, timeout=20_000)
    shows = []
    original = panel.input_view.show
    monkeypatch.setattr(panel.input_view, "show", lambda *a, **k: (shows.append(1), original(*a, **k)))
    window.session.train()
    for _ in range(3):
        qtbot.wait(200)
        window.session.request_snapshot()
    qtbot.waitUntil(lambda: c.inspected_step > 0, timeout=10_000)
    assert shows == []  # new weights, the same input
    np.testing.assert_allclose(panel.input_view.data, np.asarray(c.inspection.input)[..., 0], rtol=1e-6)
    c.choose_example(3)
    qtbot.waitUntil(lambda: c.inspected_image is c.model_image and len(shows) >= 2, timeout=10_000)
    np.testing.assert_allclose(panel.input_view.data, np.asarray(c.inspection.input)[..., 0], rtol=1e-6)
    want = (DATASET.x_val[3][..., 0] / 255.0 - 0.1) / 0.3  # the test's norm: mean 0.1, std 0.3
    np.testing.assert_allclose(panel.input_view.data, want, rtol=1e-5, atol=1e-6)
    window.session.shutdown(timeout_s=2.0)
