"""The timeline: scrubbing to a stored snapshot gives every panel that step's weights
(filters, the inspected image's maps and prediction), live snapshots wait aside while
it does, Live returns to now, and the bar follows the run's snapshots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convscope import events as ev
from convscope.config import ArchSpec, TrainConfig
from convscope.model import init
from convscope.probes.inspect import Inspector
from convscope.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convscope.train.step import to_host
from convscope.ui.panels.feature_maps import FeatureMapsPanel
from convscope.ui.panels.filters import FiltersPanel
from convscope.ui.panels.inspect_image import ImagePanel
from convscope.ui.panels.prediction import PredictionPanel
from convscope.ui.panels.training import TrainingPanel

WINDOW_PANELS = [TrainingPanel, ImagePanel, PredictionPanel, FeatureMapsPanel, FiltersPanel]  # the panels a stored step redraws

pytestmark = pytest.mark.gui

ARCH = ArchSpec()
NORM = np.array([[0.13], [0.3]], np.float32)


def _snapshot(seed: int, step: int) -> ev.Snapshot:
    params, state = init(ARCH, seed)
    return ev.Snapshot(step, ARCH, to_host(params), to_host(state), NORM)


def _run_with_snapshots(root: Path, steps: dict[int, int]) -> Path:
    """A run directory whose snapshots (float16 weights, as a run keeps them) at each
    step are the weights of ``init(seed)``: {step: seed}."""
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    for step, seed in steps.items():
        s = _snapshot(seed, step)
        save_checkpoint(run / "checkpoints" / f"step-{step:08d}.npz",
                        Checkpoint(ARCH, TrainConfig(), s.params, s.state, step, NORM), half=True)
    return run


@pytest.fixture
def scrubbable(window, tmp_path):
    run = _run_with_snapshots(tmp_path, {0: 10, 5: 11, 20: 12})
    timeline = window.timeline
    timeline.run_dir_of = lambda: run
    timeline.refresh()
    return window, timeline, run


def test_scrubbing_shows_the_stored_step_in_every_panel_and_live_returns(scrubbable, qtbot):
    window, timeline, run = scrubbable
    controller = timeline.controller
    live = _snapshot(1, 40)
    window.session.bridge.deliver(live)
    qtbot.waitUntil(lambda: controller.snapshot is live, timeout=5000)
    filters = window.panels["Filters"]
    window.docks["Filters"].raise_()  # a panel out of sight does not redraw
    qtbot.waitUntil(lambda: filters.weights is not None and np.array_equal(filters.weights, live.params["conv1"]["w"]),
                    timeout=5000)
    assert timeline.steps == [0, 5, 20]
    bar = window.findChild(type(window.toolbar), "timelineToolbar")
    assert bar.step_label.text().startswith("Live")

    bar.slider.setValue(1)  # the user drags to the second snapshot: step 5
    qtbot.waitUntil(lambda: timeline.shown_step == 5, timeout=10000)
    stored = load_checkpoint(run / "checkpoints" / "step-00000005.npz")
    assert controller.snapshot.step == 5
    qtbot.waitUntil(lambda: np.array_equal(filters.weights, stored.params["conv1"]["w"]), timeout=5000)
    # The inspected image's maps and prediction are those of the stored weights.
    qtbot.waitUntil(lambda: controller.inspected_step == 5 and controller.inspection is not None, timeout=20000)
    want = Inspector(ARCH).run(stored.params, stored.state, stored.norm, controller.inspected_image)
    np.testing.assert_allclose(controller.inspection.probs, want.probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(controller.inspection.taps["act1"], want.taps["act1"], rtol=1e-4, atol=1e-5)
    assert "step 5" in bar.step_label.text() and bar.live_action.isEnabled()

    # Training goes on: a newer live snapshot waits aside while the past is shown.
    newer = _snapshot(2, 60)
    window.session.bridge.deliver(newer)
    qtbot.wait(200)
    assert controller.snapshot.step == 5 and timeline.latest_live is newer

    bar.live_action.trigger()
    qtbot.waitUntil(lambda: controller.snapshot is newer, timeout=5000)
    qtbot.waitUntil(lambda: np.array_equal(filters.weights, newer.params["conv1"]["w"]), timeout=5000)
    assert timeline.live and bar.step_label.text().startswith("Live") and not bar.live_action.isEnabled()


def test_earlier_and_later_step_through_the_snapshots_and_past_the_newest_is_live(scrubbable, qtbot):
    window, timeline, _run = scrubbable
    bar = window.findChild(type(window.toolbar), "timelineToolbar")
    bar.back_action.trigger()  # from Live: the newest snapshot
    assert timeline.pinned == 20
    bar.back_action.trigger()
    bar.back_action.trigger()
    bar.back_action.trigger()  # stops at the first
    assert timeline.pinned == 0 and bar.slider.value() == 0
    bar.forward_action.trigger()
    assert timeline.pinned == 5
    bar.forward_action.trigger()
    bar.forward_action.trigger()  # past the newest: Live
    assert timeline.live


def test_new_snapshots_appear_and_a_run_without_any_says_so(scrubbable, qtbot):
    window, timeline, run = scrubbable
    bar = window.findChild(type(window.toolbar), "timelineToolbar")
    s = _snapshot(13, 50)
    save_checkpoint(run / "checkpoints" / "step-00000050.npz",
                    Checkpoint(ARCH, TrainConfig(), s.params, s.state, 50, NORM), half=True)
    timeline.refresh()
    assert timeline.steps == [0, 5, 20, 50] and bar.slider.maximum() == 3
    timeline.run_dir_of = lambda: None
    timeline.refresh()
    assert timeline.steps == [] and not bar.slider.isEnabled() and "not recording" in bar.step_label.text()


def test_a_snapshot_of_another_model_is_refused_with_a_message(scrubbable, qtbot):
    window, timeline, run = scrubbable
    other = ArchSpec(dense=(16,))
    params, state = init(other, 0)
    save_checkpoint(run / "checkpoints" / "step-00000030.npz",
                    Checkpoint(other, TrainConfig(), to_host(params), to_host(state), 30, NORM), half=True)
    timeline.refresh()
    with qtbot.waitSignal(timeline.failed, timeout=10000) as blocker:
        timeline.show_step(30)
    assert "another architecture" in blocker.args[0]
    assert timeline.shown_step is None


def test_play_runs_through_the_snapshots_then_returns_to_live(scrubbable, qtbot, monkeypatch):
    window, timeline, _run = scrubbable
    bar = window.findChild(type(window.toolbar), "timelineToolbar")
    seen = []
    timeline.changed.connect(lambda: seen.append(timeline.pinned))
    bar._player.setInterval(50)  # noqa: SLF001 (a quick play)
    bar.play_action.setChecked(True)
    qtbot.waitUntil(lambda: timeline.live and not bar.play_action.isChecked(), timeout=5000)
    assert [s for s in seen if s is not None][:3] == [0, 5, 20]


def test_an_image_inspection_never_waits_behind_the_statistics_timer(session, qtbot) -> None:
    """Snapshots in quick succession (scrubbing): the statistics wait up to 2 s between
    batches; the image's inspection (at most 8 a second) must not wait that long too."""
    from convscope.ui.inspection import INSPECT_S, controller_for

    controller = controller_for(session)
    image = np.zeros((28, 28, 1), np.uint8)
    image[8:20, 12:16] = 220
    controller.set_image_array(image, "bar")
    controller.set_snapshot(_snapshot(1, 1))  # image and statistics both sent
    qtbot.wait(int(INSPECT_S * 1000) + 20)
    controller.set_snapshot(_snapshot(2, 2))  # the image goes; the statistics wait ~1.9 s
    controller.set_snapshot(_snapshot(3, 3))  # the image waits only for its own 125 ms
    assert controller._timer.isActive()  # noqa: SLF001
    assert controller._timer.remainingTime() <= INSPECT_S * 1000 + 5  # noqa: SLF001
    qtbot.waitUntil(lambda: controller.inspected_step == 3, timeout=10_000)
