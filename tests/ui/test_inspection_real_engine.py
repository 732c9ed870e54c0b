"""The inspection panels on the real JAX TrainingLoop: maps, prediction and unit
statistics follow the network while it trains. One test: the model compiles once."""

from __future__ import annotations

import numpy as np
import pytest

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.ui.worker import wait_for_stragglers

pytestmark = [pytest.mark.gui, pytest.mark.slow]

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))


def test_panels_follow_the_real_loop_while_it_trains(qtbot) -> None:
    from convscope.data import Dataset, builtin_mnist
    from convscope.probes.inspect import Inspector
    from convscope.train.loop import TrainingLoop
    from convscope.ui.inspection import InspectionController
    from convscope.ui.main_window import MainWindow

    full = builtin_mnist()
    data = Dataset("digits (small)", full.x_train[:512], full.y_train[:512], full.x_val[:300],
                   full.y_val[:300], full.class_names, full.source)  # fmt: skip
    window = MainWindow(data, TINY, TrainConfig(batch_size=32, eval_every=20), loop_factory=TrainingLoop)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    c = window.session.findChild(InspectionController)
    maps = window.panels["Feature maps"]
    window.docks["Feature maps"].raise_()  # on screen, it redraws on its own timer
    qtbot.waitUntil(lambda: c.inspection is not None and c.stats is not None, timeout=60_000)
    qtbot.waitUntil(lambda: maps.maps is not None, timeout=5000)
    first = maps.maps.copy()
    assert c.inspected_step == 0 and c.stats.images == 256

    # Activations on screen while it trains: its unit statistics every 2 s (every 10 s
    # out of sight, which made this test wait ~20 s for three); the maps are redrawn below.
    window.docks["Activations"].raise_()
    window.train_action.trigger()
    qtbot.waitUntil(lambda: c.inspected_step >= 20 and len(c.history["act1"].dead.x) >= 3, timeout=60_000)
    assert window.session.state == "training"
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    qtbot.wait(300)  # the loop's last snapshot after the pause
    qtbot.waitUntil(lambda: c.idle() and c.inspected_step == c.snapshot.step, timeout=10_000)
    maps.redraw()
    window.panels["Prediction"].redraw()

    snap = c.snapshot
    want = Inspector(TINY).run(snap.params, snap.state, snap.norm, data.x_val[0])
    np.testing.assert_allclose(maps.maps, want.taps[maps.layer], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(window.panels["Prediction"].probs, want.probs, rtol=1e-4, atol=1e-6)
    assert not np.allclose(maps.maps, first)  # the maps moved with the weights
    steps = c.history["act1"].dead.x
    assert np.all(np.diff(steps) > 0) and steps[-1] <= snap.step

    window.close()
    assert wait_for_stragglers(timeout_s=30)
