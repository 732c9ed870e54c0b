"""The Invariance panel: for the image being inspected and the network shown, the curves
it draws are the sweep's (per-layer distance, exactly 0 at the identity, and p(class)),
the transformation picker changes the sweep, hovering a point shows that moved image and
its maps, and CSV export writes the numbers."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from convscope import events as ev
from convscope.config import ArchSpec
from convscope.model import init
from convscope.probes import invariance as inv
from convscope.probes.inspect import Inspector
from convscope.train.step import to_host
from convscope.viz.pictures import maps_picture

pytestmark = pytest.mark.gui


def test_the_panel_draws_the_sweep_follows_the_picker_and_shows_a_hovered_point(window, qtbot, tmp_path):
    arch = ArchSpec()
    params, state = init(arch, 3)
    snap = ev.Snapshot(7, arch, to_host(params), to_host(state), np.array([[0.13], [0.3]], np.float32))
    controller = window.timeline.controller
    window.session.bridge.deliver(snap)
    image = np.zeros((28, 28, 1), np.uint8)
    image[6:22, 10:18] = 200
    controller.set_image_array(image, "bar")
    panel = window.panels["Invariance"]
    window.docks["Invariance"].raise_()
    qtbot.waitUntil(lambda: panel.sweep is not None and panel.sweep.kind == "shift_x", timeout=30_000)
    s = panel.sweep
    curves = panel.dist_plot.listDataItems()
    assert len(curves) == len(inv.feature_layers(arch))
    x, y = curves[0].getData()
    np.testing.assert_array_equal(x, s.values)
    assert y[s.identity] == 0.0 and np.all(y >= 0)
    want = inv.sweep(arch, snap.params, snap.state, snap.norm, controller.model_image, "shift_x")
    np.testing.assert_allclose(y, want.distances["conv1"], rtol=1e-5, atol=1e-7)
    assert "step 7" in panel.heading.text()

    panel.kind.setCurrentIndex(inv.KINDS.index("rotate"))
    qtbot.waitUntil(lambda: panel.sweep.kind == "rotate", timeout=30_000)
    i = int(np.flatnonzero(panel.sweep.values == 90)[0])
    panel.show_point(i)
    moved = np.clip(np.round(panel.sweep.images[i]), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(panel.image_item.image, moved[..., 0])
    expected = maps_picture(Inspector(arch).run(snap.params, snap.state, snap.norm, moved).taps["act1"])
    qtbot.waitUntil(lambda: panel.maps_item.image is not None and panel.maps_item.image.shape == expected.shape
                    and np.array_equal(panel.maps_item.image, expected), timeout=20_000)
    assert "90" in panel.hover.text()

    out = tmp_path / "inv.csv"
    panel.export(str(out))
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0][:5] == ["transform", "value", "class", "p_class", "predicted"]
    assert len(rows) == 1 + len(panel.sweep.values) and {r[0] for r in rows[1:]} == {"rotate"}
