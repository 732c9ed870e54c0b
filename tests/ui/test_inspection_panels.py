"""The inspection panels (image, feature maps, filters, prediction, activations, kernel
playground) on the FakeLoop, whose snapshots carry real ``model.init`` parameters here.

Every check compares what a panel displays with ``Inspector.run`` (or the viz function)
called directly on the same image and parameters.
"""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import FakeLoop
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.ui.panels.activations import ActivationsPanel
from convscope.ui.panels.architecture import ArchitecturePanel
from convscope.ui.panels.feature_maps import FeatureMapsPanel
from convscope.ui.panels.filters import FiltersPanel
from convscope.ui.panels.inspect_image import ImagePanel
from convscope.ui.panels.playground import KernelPlaygroundPanel
from convscope.ui.panels.prediction import PredictionPanel
from convscope.ui.panels.training import TrainingPanel

# The panels an inspected image reaches (Training: the image column splits off it).
WINDOW_PANELS = [TrainingPanel, ImagePanel, PredictionPanel, ArchitecturePanel, FeatureMapsPanel, FiltersPanel,
                 ActivationsPanel, KernelPlaygroundPanel]  # fmt: skip

pytestmark = pytest.mark.gui

ARCH = ArchSpec(convs=(ConvLayer(filters=6, kernel=3), ConvLayer(filters=8, kernel=3)), dense=(16,))
RNG = np.random.default_rng(7)
# Distinct validation images (a blob at a different place in each), so a click changes things.
X_VAL = np.zeros((24, 28, 28, 1), np.uint8)
for _i in range(len(X_VAL)):
    r, c = 6 + _i % 16, 6 + (3 * _i) % 16
    X_VAL[_i, r : r + 7, c : c + 5] = 255
    X_VAL[_i] = np.maximum(X_VAL[_i], RNG.integers(0, 40, (28, 28, 1), dtype=np.uint8))
DATASET = SimpleNamespace(
    name="blobs",
    image_shape=(28, 28, 1),
    num_classes=10,
    class_names=tuple(f"c{i}" for i in range(10)),
    x_train=X_VAL,
    y_train=np.arange(len(X_VAL)) % 10,
    x_val=X_VAL,
    y_val=np.arange(len(X_VAL)) % 10,
)
NORM = np.array([[0.1], [0.3]], np.float32)


@functools.lru_cache(maxsize=64)
def host_params(arch: ArchSpec, seed: int):
    import jax

    from convscope.model.network import init

    return jax.device_get(init(arch, seed))


def real_snapshot(self: FakeLoop) -> ev.Snapshot:
    params, state = host_params(self.arch, self.step)  # new weights at every step
    return ev.Snapshot(self.step, self.arch, params, state, NORM)


def inspect(image: np.ndarray, step: int = 0):
    from convscope.probes.inspect import Inspector

    params, state = host_params(ARCH, step)
    return Inspector(ARCH).run(params, state, NORM, image)


@pytest.fixture
def win(qtbot, monkeypatch):
    """A window on the FakeLoop, trained on nothing, whose first snapshot was inspected."""
    from convscope.ui.main_window import MainWindow

    monkeypatch.setattr(FakeLoop, "_snapshot", real_snapshot)
    loops: list[FakeLoop] = []

    def factory(a, c, d):
        loops.append(FakeLoop(a, c, d))
        return loops[-1]

    window = MainWindow(DATASET, ARCH, TrainConfig(), loop_factory=factory, panels=WINDOW_PANELS)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    window.loop = lambda: loops[-1]
    c = window.inspection = window.session.findChild(_controller_class())
    qtbot.waitUntil(lambda: c.inspection is not None and c.stats is not None, timeout=20_000)
    yield window
    window.close()
    window.session.shutdown(timeout_s=2.0)


def _controller_class():
    from convscope.ui.inspection import InspectionController

    return InspectionController


def settle(window, qtbot) -> None:
    """Wait until the controller is idle and every panel has drawn what it has."""
    c = window.inspection
    qtbot.waitUntil(lambda: c.idle() and c.inspected_image is c.model_image, timeout=10_000)
    for panel in window.panels.values():
        if hasattr(panel, "redraw"):
            panel.redraw()


def assert_panels_show(window, image: np.ndarray, step: int = 0) -> None:
    """Image, feature-map, prediction and activation panels display Inspector's view of ``image``."""
    from convscope.probes.activations import histogram

    want = inspect(image, step)
    c = window.inspection
    np.testing.assert_array_equal(c.model_image, image)
    panels = window.panels
    np.testing.assert_allclose(panels["Image"].input_view.data, want.input[..., 0], rtol=1e-6, atol=1e-6)
    maps = panels["Feature maps"]
    np.testing.assert_allclose(maps.maps, want.taps[maps.layer], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(
        maps.grid_view.data[:28, :28], want.taps[maps.layer][..., 0], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(panels["Prediction"].probs, want.probs, rtol=1e-5, atol=1e-6)
    top = int(np.argmax(want.probs))
    assert f"<b>{DATASET.class_names[top]}</b>" in panels["Prediction"].heading.text()
    acts = panels["Activations"]
    layer = c.stats.layers[acts.layer]
    counts, _ = histogram(
        want.taps[acts.pre], bins=len(layer.percent), range_=(layer.edges[0], layer.edges[-1])
    )
    np.testing.assert_allclose(acts.image_percent, 100.0 * counts / want.taps[acts.pre].size, atol=1e-9)


def png(path: Path, array: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(array).save(path)
    return path


def drop_file(window, path: Path) -> None:
    """Drag a file over the window and drop it (Qt delivers a drop only after an enter)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(300, 300), *args)
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(window, QDropEvent(QPointF(300, 300), *args))


# ------------------------------------------------------------------ image sources
def test_first_validation_image_is_shown_at_start(win, qtbot) -> None:
    settle(win, qtbot)
    c = win.inspection
    assert c.image.label == "validation example 0" and c.image.true_class == 0
    assert_panels_show(win, X_VAL[0])
    assert win.panels["Image"].strip.checkedId() == 0
    assert "true class c0" in win.panels["Prediction"].heading.text()
    assert "values" in win.panels["Image"].caption.text()  # the tensor's value range is stated


def test_open_image_by_dialog(win, qtbot, monkeypatch, tmp_path) -> None:
    from convscope.data.images import fit_image, load_image
    from convscope.ui import main_window

    picture = np.full((60, 40, 3), 250, np.uint8)  # dark ink on light paper, portrait
    picture[20:40, 10:30] = (20, 40, 200)
    path = png(tmp_path / "photo.png", picture)
    monkeypatch.setattr(main_window.QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    assert win.open_image_action.shortcut().toString() == "Ctrl+O"
    win.open_image_action.trigger()
    c = win.inspection
    assert c.image.label == "photo.png"
    settle(win, qtbot)
    expected = fit_image(load_image(path), ARCH.input_shape)
    assert_panels_show(win, expected)
    np.testing.assert_array_equal(win.panels["Image"].original_view.data, picture)
    assert win.panels["Image"].strip.checkedButton() is None


def test_drop_an_image_on_the_window(win, qtbot, tmp_path) -> None:
    from convscope.data.images import fit_image

    picture = (np.arange(32 * 32, dtype=np.uint32).reshape(32, 32) % 251).astype(np.uint8)
    path = png(tmp_path / "dropped.png", picture)
    drop_file(win, path)
    assert win.inspection.image.label == "dropped.png"
    settle(win, qtbot)
    assert_panels_show(win, fit_image(picture[..., None], ARCH.input_shape))


def test_clicking_a_strip_example(win, qtbot) -> None:
    settle(win, qtbot)
    before = win.panels["Feature maps"].maps.copy()
    qtbot.mouseClick(win.panels["Image"].strip.button(5), Qt.MouseButton.LeftButton)
    assert win.inspection.image.label == "validation example 5"
    settle(win, qtbot)
    assert_panels_show(win, X_VAL[5])
    assert not np.allclose(win.panels["Feature maps"].maps, before)


def test_bad_files_are_reported_and_the_previous_image_and_training_stay(win, qtbot, tmp_path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("this is not an image\n")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    c, loop = win.inspection, win.loop()
    settle(win, qtbot)
    win.session.train()
    qtbot.waitUntil(lambda: loop.step > 2, timeout=5000)
    image = c.image
    for path in (text, empty, folder):
        assert win.open_image(str(path)) is False
        assert str(path) in win.last_error and str(path) in win.notice_label.text()
        assert win.notice_label.property("level") == "error"
        assert c.image is image
        drop_file(win, path)  # dropped, the same file is refused the same way
        assert c.image is image
    assert "not an image" in _error_for(win, text) and "empty" in _error_for(win, empty)
    step = loop.step
    qtbot.waitUntil(lambda: loop.step > step, timeout=5000)  # training carries on
    assert win.session.state == "training"
    win.session.pause()
    settle(win, qtbot)
    assert_panels_show(win, X_VAL[0], c.inspected_step)


def _error_for(win, path: Path) -> str:
    win.open_image(str(path))
    return win.last_error


# ------------------------------------------------------------------ live updates
def test_panels_follow_new_snapshots_while_training(win, qtbot) -> None:
    c, loop = win.inspection, win.loop()
    settle(win, qtbot)
    maps0 = win.panels["Feature maps"].maps.copy()
    filters0 = win.panels["Filters"].weights.copy()
    win.docks["Activations"].raise_()  # on screen: its statistics every 2 s (out of sight, every 10 s)
    win.session.train()
    qtbot.waitUntil(lambda: loop.step >= 3, timeout=5000)
    win.session.request_snapshot()
    qtbot.waitUntil(lambda: c.inspected_step > 0 and c.stats is not None and c.stats.step > 0, timeout=10_000)
    assert win.session.state == "training"
    win.session.pause()
    settle(win, qtbot)
    step = c.inspected_step
    assert_panels_show(win, X_VAL[0], step)
    assert not np.allclose(win.panels["Feature maps"].maps, maps0)
    np.testing.assert_array_equal(win.panels["Filters"].weights, host_params(ARCH, step)[0]["conv1"]["w"])
    assert not np.array_equal(win.panels["Filters"].weights, filters0)
    assert f"step {step:,}" in win.panels["Feature maps"].heading.text()
    # Dead fractions are kept per layer against the step, and stated as text.
    history = c.history["act1"].dead
    assert history.size >= 2 and history.x[-1] == c.stats.step
    assert "% dead" in win.panels["Activations"].current.text()


def test_unit_stats_match_the_probe_on_the_validation_batch(win, qtbot) -> None:
    from convscope.probes.activations import activation_layers, unit_stats
    from convscope.probes.inspect import Inspector

    settle(win, qtbot)
    stats = win.inspection.stats
    params, state = host_params(ARCH, stats.step)
    pre = [p for p, _a in activation_layers(ARCH)]
    taps, _ = Inspector(ARCH).run_batch(params, state, NORM, X_VAL, layers=pre)
    want = unit_stats(ARCH, taps)
    assert stats.images == len(X_VAL)
    for act, layer in stats.layers.items():
        assert layer.dead == pytest.approx(want[act].dead_fraction)
        assert layer.percent.sum() <= 100.0 + 1e-9
    text = win.panels["Activations"].current.text()
    assert f"act1: {100 * want['act1'].dead_fraction:.1f}% dead" in text


def test_move_controls_shift_the_model_input_exactly(win, qtbot) -> None:
    from convscope.data.images import transform_image

    panel, c = win.panels["Image"], win.inspection
    panel.sliders["dx"].setValue(3)
    panel.sliders["dy"].setValue(-2)
    assert (c.transform.dx, c.transform.dy) == (3, -2)
    shifted = transform_image(X_VAL[0], dx=3, dy=-2)
    np.testing.assert_array_equal(c.model_image, shifted)
    np.testing.assert_array_equal(shifted[0:26, 3:], X_VAL[0][2:28, 0:25])  # exactly that shift
    settle(win, qtbot)
    assert_panels_show(win, shifted)
    want = ((shifted.astype(np.float32) / 255 - NORM[0]) / NORM[1])[..., 0]
    np.testing.assert_allclose(panel.input_view.data, want, rtol=1e-5, atol=1e-5)
    assert panel.values["dx"].text() == "+3 px"

    # Rotation and scale go through the same function; Reset puts the image back.
    panel.sliders["angle"].setValue(30)
    panel.sliders["scale"].setValue(150)
    np.testing.assert_array_equal(c.model_image, transform_image(X_VAL[0], 3, -2, 30.0, 1.5))
    panel.reset_button.click()
    np.testing.assert_array_equal(c.model_image, X_VAL[0])
    assert panel.sliders["dx"].value() == 0 and panel.sliders["scale"].value() == 100


def test_dragging_inside_the_input_frame_shifts_the_image(win, qtbot) -> None:
    settle(win, qtbot)
    panel = win.panels["Image"]
    view = panel.input_view
    start = view.image.mapToScene(QPointF(10, 10))
    end = view.image.mapToScene(QPointF(14, 8))  # 4 px right, 2 px up
    drag = SimpleNamespace(
        button=lambda: Qt.MouseButton.LeftButton,
        isStart=lambda: True,
        buttonDownScenePos=lambda: start,
        scenePos=lambda: end,
        accept=lambda: None,
    )
    panel._drag(drag)
    assert (win.inspection.transform.dx, win.inspection.transform.dy) == (4, -2)
    assert panel.sliders["dx"].value() == 4 and panel.sliders["dy"].value() == -2


def test_background_tabs_draw_nothing_until_raised(win, qtbot) -> None:
    """Qt parks tabs that are not current outside the window, still "visible": they must
    not spend the GUI thread on redraws nobody sees."""
    filters, maps = win.panels["Filters"], win.panels["Feature maps"]
    qtbot.wait(400)  # several redraw periods with a snapshot waiting to be drawn
    assert filters.isVisible() and not filters.on_screen()
    assert filters.weights is None and maps.maps is None
    assert win.panels["Prediction"].on_screen()
    win.docks["Filters"].raise_()
    qtbot.waitUntil(lambda: filters.weights is not None, timeout=3000)
    assert maps.maps is None


# ------------------------------------------------------------------ feature maps
def test_layer_picker_click_to_enlarge_and_hover_values(win, qtbot) -> None:
    settle(win, qtbot)
    panel = win.panels["Feature maps"]
    names = [panel.picker.itemData(i) for i in range(panel.picker.count())]
    assert names == ["conv1", "act1", "pool1", "conv2", "act2", "pool2", "dense1", "dense1_act", "logits"]
    panel.select_layer("pool1")
    want = inspect(X_VAL[0]).taps["pool1"]
    np.testing.assert_allclose(panel.maps, want, rtol=1e-5, atol=1e-6)
    assert panel.grid_view.levels == pytest.approx(_levels(want))
    assert "pool1" in panel.heading.text() and "14×14" in panel.heading.text()
    assert "Colour scale" in panel.scale_label.text()

    # Click channel 4's map (14×14 cells, 1 px apart, as many columns as fit best).
    win.docks["Feature maps"].raise_()
    qtbot.waitUntil(lambda: panel.isVisible() and panel.graphics.width() > 100, timeout=3000)
    qtbot.wait(50)
    panel.redraw()
    graphics = panel.graphics
    row, col = divmod(4, panel.cols)
    assert panel.grid_view.data.shape[1] == panel.cols * 15 - 1
    cell_centre = panel.grid_view.image.mapToScene(QPointF(col * 15 + 7.5, row * 15 + 7.5))
    qtbot.mouseClick(graphics.viewport(), Qt.MouseButton.LeftButton, pos=graphics.mapFromScene(cell_centre))
    qtbot.waitUntil(lambda: panel.channel == 4, timeout=3000)
    np.testing.assert_allclose(panel.zoom_view.data, want[..., 4], rtol=1e-5, atol=1e-6)

    # Hover over the enlarged map: the value under the cursor is stated.
    point = panel.zoom_view.image.mapToScene(QPointF(6.5, 3.5))
    panel._on_move(point)
    text = panel.hover.text()
    assert "channel 4 at (x 6, y 3)" in text
    from convscope.ui.panels.mapview import format_number

    assert format_number(want[3, 6, 4]) in text

    panel.select_layer("dense1")
    assert panel.maps.shape == (16,) and "16 units" in panel.heading.text()


def test_the_grid_takes_the_columns_that_fit_the_view_best() -> None:
    from convscope.ui.panels.feature_maps import fit_cols

    assert fit_cols(32, (28, 28), (800, 400)) == 8  # wide: 4 rows of 8
    assert fit_cols(32, (28, 28), (300, 1200)) == 3  # tall: 11 rows of 3
    assert fit_cols(32, (28, 28), (0, 0)) == 6  # unknown: near-square
    assert fit_cols(1, (5, 5), (100, 100)) == 1


def _levels(maps: np.ndarray) -> tuple[float, float]:
    from convscope.viz.tiles import levels_of

    return levels_of(maps)


def test_filters_panel_shows_tile_filters_with_symmetric_levels(win, qtbot) -> None:
    from convscope.viz.tiles import tile_filters

    settle(win, qtbot)
    panel = win.panels["Filters"]
    w = host_params(ARCH, 0)[0]["conv1"]["w"]
    mosaic, m = tile_filters(w)
    np.testing.assert_array_equal(panel.view.data, mosaic)
    assert panel.view.levels == pytest.approx((-m, m))
    panel.select_layer("conv2")
    mosaic, m = tile_filters(host_params(ARCH, 0)[0]["conv2"]["w"])
    assert panel.view.data.shape == mosaic.shape and panel.m == pytest.approx(m)
    assert "Row k = filter k" in panel.layout_label.text()  # 6 input channels: slices layout


# ------------------------------------------------------------------ export
def test_every_panel_exports_png_and_svg(win, qtbot, tmp_path, monkeypatch) -> None:
    from PIL import Image

    from convscope.ui.panels import mapview

    settle(win, qtbot)
    for title in ("Image", "Feature maps", "Filters", "Prediction", "Activations", "Kernel playground"):
        panel = win.panels[title]
        win.docks[title].raise_()
        qtbot.waitUntil(panel.isVisible, timeout=3000)
        out = tmp_path / f"{title}.png"
        panel.export(str(out))
        graphics = getattr(panel, "graphics", None) or panel.plot_widget
        with Image.open(out) as image:
            image.load()
            assert image.format == "PNG"
            assert image.size == (graphics.width(), graphics.height()), title
            assert len(image.convert("RGB").getcolors(1 << 20) or ()) > 5, f"{title}: blank"

        # Through the button, as a user does: the dialog's SVG filter adds the suffix.
        stem = tmp_path / title.replace(" ", "-")
        monkeypatch.setattr(
            mapview.QFileDialog, "getSaveFileName", lambda *a, s=stem, **k: (str(s), "SVG drawing (*.svg)")
        )
        panel.export_button.click()
        head = stem.with_suffix(".svg").read_text(encoding="utf-8")[:300].lstrip()
        assert head.startswith("<?xml") or head.startswith("<svg"), title
        if title not in ("Prediction", "Activations"):  # the maps are embedded as images
            assert "<image" in stem.with_suffix(".svg").read_text(encoding="utf-8"), title


def test_save_maps_as_npy_and_npz(win, qtbot, tmp_path) -> None:
    settle(win, qtbot)
    panel = win.panels["Feature maps"]
    panel.select_layer("act2")
    panel.save_maps(str(tmp_path / "act2.npy"))
    saved = np.load(tmp_path / "act2.npy")
    want = inspect(X_VAL[0]).taps["act2"]
    assert saved.shape == want.shape == (14, 14, 8)
    np.testing.assert_allclose(saved, want, rtol=1e-5, atol=1e-6)
    panel.save_maps(str(tmp_path / "all.npz"))
    with np.load(tmp_path / "all.npz") as archive:
        assert {"input", "conv1", "pool2", "logits"} <= set(archive.files)
        assert archive["conv1"].shape == (28, 28, 6)


# ------------------------------------------------------------------ kernel playground
def test_kernel_playground_applies_presets_and_typed_kernels(win, qtbot) -> None:
    from convscope.viz.kernels import KERNEL_PRESETS, convolve2d

    settle(win, qtbot)
    panel = win.panels["Kernel playground"]
    x = win.inspection.inspection.input
    panel.preset.setCurrentText("Sobel x")
    panel.redraw()
    want = convolve2d(x, KERNEL_PRESETS["Sobel x"])
    np.testing.assert_allclose(panel.result, want, rtol=1e-6)
    np.testing.assert_allclose(panel.result_view.data, want[..., 0], rtol=1e-6)
    np.testing.assert_allclose(
        panel.conv1_view.data[:28, :28], inspect(X_VAL[0]).taps["conv1"][..., 0], rtol=1e-5, atol=1e-6
    )

    panel.preset.setCurrentText("Gaussian blur 5×5")
    panel.redraw()
    assert panel.table.isColumnHidden(4) is False and panel.size.currentText() == "5×5"
    np.testing.assert_allclose(panel.result, convolve2d(x, KERNEL_PRESETS["Gaussian blur 5×5"]), rtol=1e-5)

    # Typing a number makes a custom kernel.
    panel.size.setCurrentIndex(0)  # 3×3: the 5×5 kernel's centre is kept
    panel.table.item(1, 1).setText("2")
    panel.redraw()
    assert panel.preset.currentText().startswith("Custom")
    assert panel.kernel[1, 1] == 2.0
    np.testing.assert_allclose(panel.result, convolve2d(x, panel.kernel), rtol=1e-5)
    panel.table.item(0, 0).setText("not a number")
    assert np.isfinite(panel.kernel).all()


def test_an_rgb_model_gets_colour_filters_and_an_rgb_input(qtbot, monkeypatch) -> None:
    import threading

    from convscope.ui.inspection import InspectionController
    from convscope.ui.main_window import MainWindow
    from convscope.viz.tiles import tile_filters

    arch = ArchSpec(input_shape=(16, 16, 3), convs=(ConvLayer(filters=4, kernel=3),), dense=(8,))
    x_val = np.random.default_rng(1).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    data = SimpleNamespace(
        **{**DATASET.__dict__, "image_shape": (16, 16, 3), "x_val": x_val, "x_train": x_val}
    )
    norm = np.array([[0.5, 0.4, 0.3], [0.25, 0.2, 0.3]], np.float32)

    def rgb_snapshot(self: FakeLoop) -> ev.Snapshot:
        params, state = host_params(self.arch, self.step)
        return ev.Snapshot(self.step, self.arch, params, state, norm)

    monkeypatch.setattr(FakeLoop, "_snapshot", rgb_snapshot)
    window = MainWindow(data, arch, TrainConfig(), loop_factory=lambda a, c, d: FakeLoop(a, c, d), panels=WINDOW_PANELS)
    qtbot.addWidget(window)
    window.show()
    c = window.session.findChild(InspectionController)
    threads = []
    c.inspected.connect(lambda _i: threads.append(threading.current_thread()))
    qtbot.waitUntil(lambda: c.inspection is not None and c.stats is not None, timeout=20_000)
    assert threads and all(t is threading.main_thread() for t in threads)  # slots run on the GUI thread
    for panel in window.panels.values():
        if hasattr(panel, "redraw"):
            panel.redraw()
    filters = window.panels["Filters"]
    mosaic, m = tile_filters(host_params(arch, 0)[0]["conv1"]["w"])
    assert filters.view.data.ndim == 3 and filters.view.data.shape[2] == 3  # colour cells
    np.testing.assert_array_equal(filters.view.data, mosaic)
    assert "in colour" in filters.layout_label.text()
    image = window.panels["Image"]
    want = (x_val[0].astype(np.float32) / 255 - norm[0]) / norm[1]
    np.testing.assert_allclose(image.input_view.data, want, rtol=1e-5, atol=1e-5)
    assert window.panels["Kernel playground"].result.shape == (16, 16, 3)
    window.close()
