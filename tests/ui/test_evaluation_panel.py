"""Evaluation panel: metrics of a real model's snapshot computed off the GUI thread,
drawn as the probes compute them; galleries and confusion cells load their image into
the inspection panels; automatic refresh every N steps; and, on the real training
loop, a false-positive thumbnail clicked shows up in Feature maps and Prediction."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.probes.evaluate import evaluate_probs, one_vs_rest
from convscope.probes.inspect import Inspector

pytestmark = pytest.mark.gui

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
NORM = np.array([[0.13], [0.31]], np.float32)


@pytest.fixture(scope="module")
def digits():
    from convscope.data import Dataset, builtin_mnist

    full = builtin_mnist()
    return Dataset("digits (small)", full.x_train[:256], full.y_train[:256], full.x_val[:300],
                   full.y_val[:300], full.class_names, full.source)  # fmt: skip


def snapshot(step: int, seed: int = 1) -> ev.Snapshot:
    from convscope.model import init
    from convscope.train.step import to_host

    params, state = init(TINY, seed)
    return ev.Snapshot(step, TINY, to_host(params), to_host(state), NORM)


@pytest.fixture
def panel(qtbot, digits):
    from conftest import FakeLoop

    from convscope.ui.panels.evaluation import EvaluationPanel
    from convscope.ui.session import Session

    session = Session(digits, TINY, TrainConfig(), loop_factory=FakeLoop)
    p = EvaluationPanel(session)
    qtbot.addWidget(p)
    p.resize(1100, 700)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.runner.shutdown(2.0)
    p.controller.shutdown(0.5)


def click_thumbnail(qtbot, gallery, row: int) -> None:
    item = gallery.item(row)
    gallery.scrollToItem(item)
    qtbot.mouseClick(gallery.viewport(), Qt.MouseButton.LeftButton, pos=gallery.visualItemRect(item).center())


def test_panel_shows_the_metrics_of_the_snapshot_and_loads_clicked_examples(qtbot, panel, digits):
    snap = snapshot(7)
    panel.auto_check.setChecked(False)
    panel.session.bridge.snapshot_taken.emit(snap)
    assert panel.refresh()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=60_000)
    assert panel.result.step == 7
    _, probs = Inspector(TINY).run_batch(snap.params, snap.state, NORM, digits.x_val, layers=())
    want = evaluate_probs(probs, digits.y_val)
    e = panel.result.evaluation
    np.testing.assert_array_equal(e.confusion, want.confusion)
    np.testing.assert_array_equal(panel.confusion.counts, want.confusion)
    assert f"{100 * want.accuracy:.2f}%" in panel.summary.text()
    cls = want.worst_class()  # the default class: the lowest F1
    assert panel.class_combo.currentIndex() == cls and panel.ranking.cls == cls
    assert panel.table.item(cls, 0).font().bold()
    recall = want.recall[cls]
    assert panel.table.item(cls, 2).text() == f"{100 * recall:.1f}%"

    # A threshold low enough that some digits of other classes pass: false positives.
    panel.set_threshold(0.05)
    ref = one_vs_rest(probs, digits.y_val, cls, 0.05)
    fp = panel.galleries["FP"]
    assert ref.fp > 0 and fp.count() == min(ref.fp, 60)
    np.testing.assert_array_equal(fp.indices, ref.galleries["FP"][:60])
    assert f"FP {ref.fp:,}" in panel.ovr_label.text()
    index = int(ref.galleries["FP"][0])
    click_thumbnail(qtbot, fp, 0)
    c = panel.controller
    np.testing.assert_array_equal(c.image.fitted, digits.x_val[index])  # unmodified, not refitted
    assert c.image.true_class == int(digits.y_val[index]) and c.image.label == f"validation example {index}"
    qtbot.waitUntil(lambda: c.inspected_image is c.model_image, timeout=30_000)
    np.testing.assert_allclose(c.inspection.probs, probs[index], rtol=1e-4, atol=1e-6)

    # A click on a confusion cell → its most confident example; counts or row percentages.
    t, p = (int(v) for v in np.unravel_index(np.argmax(want.confusion), want.confusion.shape))
    assert want.most_confident(t, p) != index  # so the click must change the image
    view = panel.confusion
    at = view.mapFromScene(view.plot.vb.mapViewToScene(QPointF(p, t)))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=at)
    np.testing.assert_array_equal(c.image.fitted, digits.x_val[want.most_confident(t, p)])
    cell = view.texts[t * 10 + p]
    assert f">{want.confusion[t, p]}<" in cell.toHtml()
    panel.fractions_button.setChecked(True)
    share = 100 * want.confusion[t, p] / want.confusion[t].sum()
    assert f">{share:.0f}%<" in cell.toHtml()
    # Another class, chosen by the user, stays chosen for the next result.
    other = (cls + 1) % 10
    panel.table.cellClicked.emit(other, 0)
    assert panel.ranking.cls == other and panel.class_combo.currentIndex() == other
    panel.session.bridge.snapshot_taken.emit(snapshot(9, seed=2))
    panel.refresh()
    qtbot.waitUntil(lambda: panel.result.step == 9, timeout=60_000)
    assert panel.ranking.cls == other


def test_automatic_refresh_every_n_steps_and_busy_indicator(qtbot, panel):
    panel.auto_steps.setValue(200)
    requests: list[int] = []
    original = panel.runner.submit
    panel.runner.submit = lambda tag, job: (requests.append(tag), original(tag, job))
    bridge = panel.session.bridge
    bridge.snapshot_taken.emit(snapshot(0))
    assert requests == [0] and panel.progress.isVisible()  # the first result is due at once
    qtbot.waitUntil(lambda: panel.result is not None and not panel.runner.busy, timeout=60_000)
    assert not panel.progress.isVisible()
    bridge.snapshot_taken.emit(snapshot(150))
    assert requests == [0]  # fewer than 200 steps since
    bridge.snapshot_taken.emit(snapshot(230))
    assert requests == [0, 230]
    qtbot.waitUntil(lambda: panel.result.step == 230 and not panel.runner.busy, timeout=60_000)
    panel.auto_check.setChecked(False)
    bridge.snapshot_taken.emit(snapshot(900))
    assert requests == [0, 230]
    # Hidden panels wait: the due refresh runs when the panel is shown again.
    panel.auto_check.setChecked(True)
    panel.hide()
    bridge.snapshot_taken.emit(snapshot(1200))
    assert requests == [0, 230] and panel.auto_waiting
    panel.show()
    qtbot.waitUntil(lambda: requests == [0, 230, 1200], timeout=5000)


def test_another_data_set_clears_the_results_and_is_evaluated_with_its_classes(qtbot, panel, digits):
    from convscope.data import Dataset
    from convscope.model import init
    from convscope.train.step import to_host

    panel.auto_check.setChecked(False)
    panel.session.bridge.snapshot_taken.emit(snapshot(4))
    panel.refresh()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=60_000)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)
    y = np.arange(40, dtype=np.int32) % 3
    other = Dataset("shapes", x, y, x[:30], y[:30], ("disc", "square", "star"), "random pixels")
    assert panel.session.set_dataset(other) == ""
    assert panel.result is None and panel.confusion.counts is None and panel.table.rowCount() == 3
    assert [panel.class_combo.itemText(i) for i in range(3)] == ["disc", "square", "star"]
    # The digits model went with its data set: nothing to evaluate until the new model's snapshot.
    assert panel.controller.snapshot is None and not panel.refresh()
    assert "waiting for the model" in panel.status.text()
    arch = panel.session.arch
    assert arch.input_shape == (12, 12, 3) and arch.num_classes == 3
    params, state = init(arch, 0)
    new = ev.Snapshot(2, arch, to_host(params), to_host(state), np.array([[0.5] * 3, [0.25] * 3], np.float32))
    panel.controller.set_snapshot(new)
    assert panel.refresh()
    qtbot.waitUntil(lambda: panel.result is not None, timeout=60_000)
    assert panel.result.evaluation.confusion.shape == (3, 3) and panel.result.evaluation.confusion.sum() == 30
    assert panel.galleries["TN"].icon_side == 60  # 12 px images at an integer zoom of 5
    panel.set_threshold(0.0)  # every example predicted "class": TP and FP hold them all
    assert panel.galleries["TP"].count() + panel.galleries["FP"].count() == 30


@pytest.mark.slow
def test_false_positive_clicked_on_the_real_engine_reaches_the_inspection_panels(qtbot, digits):
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow
    from convscope.ui.panels.evaluation import EvaluationPanel
    from convscope.ui.panels.feature_maps import FeatureMapsPanel
    from convscope.ui.panels.inspect_image import ImagePanel
    from convscope.ui.panels.prediction import PredictionPanel
    from convscope.ui.worker import wait_for_stragglers

    window = MainWindow(digits, TINY, TrainConfig(batch_size=32, eval_every=20), loop_factory=TrainingLoop,
                        panels=[ImagePanel, PredictionPanel, FeatureMapsPanel, EvaluationPanel])
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    panel = window.panels["Evaluation"]
    c = panel.controller
    qtbot.waitUntil(lambda: c.snapshot is not None, timeout=60_000)
    window.train_action.trigger()
    qtbot.waitUntil(lambda: c.snapshot.step >= 30, timeout=60_000)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    qtbot.wait(300)  # the loop's last snapshot after the pause
    snap = c.snapshot
    # No button pressed: a paused model is evaluated at its latest step automatically.
    qtbot.waitUntil(lambda: panel.result is not None and panel.result.step == snap.step, timeout=60_000)
    assert snap.step >= 30 and panel.requested_step == snap.step
    assert 0.0 < panel.result.evaluation.accuracy <= 1.0
    panel.tabs.setCurrentIndex(1)
    panel.set_threshold(0.1)
    fp = panel.galleries["FP"]
    assert fp.count() > 0
    index = int(fp.indices[0])
    click_thumbnail(qtbot, fp, 0)
    np.testing.assert_array_equal(c.image.fitted, digits.x_val[index])
    qtbot.waitUntil(lambda: c.idle() and c.inspected_image is c.model_image, timeout=30_000)
    maps, prediction = window.panels["Feature maps"], window.panels["Prediction"]
    window.docks["Feature maps"].raise_()
    maps.redraw()
    prediction.redraw()
    want = Inspector(TINY).run(snap.params, snap.state, snap.norm, digits.x_val[index])
    np.testing.assert_allclose(prediction.probs, want.probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(maps.maps, want.taps[maps.layer], rtol=1e-4, atol=1e-5)
    assert f"true class {digits.class_names[digits.y_val[index]]}" in prediction.heading.text()
    # The FP thumbnail's p is the evaluated p(class) of that very image.
    cls = panel.ranking.cls
    assert fp.item(0).text() == f"{want.probs[cls]:.3f}"
    window.close()
    assert wait_for_stragglers(timeout_s=30)


def test_at_1600x1000_each_gallery_shows_a_whole_row_of_8(qtbot, make_window, digits):
    """In the real window at 1600×1000: every gallery shows at least 8 thumbnails fully,
    side by side in one row (two, the second row cut, before)."""
    window = make_window()
    window.resize(1600, 1000)
    window.window_layout.reset()  # the proportions the app gives a window of this size
    qtbot.wait(100)
    dock = window.docks["Evaluation"]
    dock.show()
    dock.raise_()
    panel = window.panels["Evaluation"]
    panel.tabs.setCurrentIndex(1)
    qtbot.waitUntil(lambda: panel.galleries["TN"].isVisible(), timeout=5000)
    qtbot.wait(50)
    n = 20
    images = digits.x_val[:n]
    for kind, gallery in panel.galleries.items():
        gallery.show_examples(np.arange(n), images, np.linspace(1, 0, n), [kind] * n)
    qtbot.wait(50)
    for kind, gallery in panel.galleries.items():
        view = gallery.viewport()
        visible = view.visibleRegion().boundingRect()  # clipped by the scroll area and the dock
        rects = [gallery.visualItemRect(gallery.item(i)) for i in range(n)]
        whole = [r for r in rects if visible.contains(r) and view.rect().contains(r)]
        first_row = [r for r in whole if r.top() == rects[0].top()]
        assert len(first_row) >= 8, f"{kind}: {len(first_row)} thumbnails fully visible in a row"


def test_the_class_box_shows_the_longest_class_name_of_a_set_opened_later(qtbot, panel):
    """The digits' box was sized for "0"…"9": a set with "triangle" showed "ci" for "circle"."""
    from PySide6.QtWidgets import QStyle, QStyleOptionComboBox

    from convscope.data import Dataset

    panel.tabs.setCurrentIndex(1)  # the box is shown, sized for the digits
    combo = panel.class_combo
    qtbot.waitUntil(combo.isVisible, timeout=2000)
    qtbot.wait(20)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 12, 12, 3), dtype=np.uint8)
    y = np.arange(30, dtype=np.int32) % 3
    assert panel.session.set_dataset(Dataset("shapes", x, y, x, y, ("circle", "triangle", "square"), "")) == ""
    for i in range(combo.count()):
        combo.setCurrentIndex(i)
        qtbot.wait(20)
        opt = QStyleOptionComboBox()
        combo.initStyleOption(opt)
        field = combo.style().subControlRect(QStyle.ComplexControl.CC_ComboBox, opt,
                                             QStyle.SubControl.SC_ComboBoxEditField, combo)  # fmt: skip
        assert combo.fontMetrics().horizontalAdvance(combo.currentText()) <= field.width(), combo.currentText()
