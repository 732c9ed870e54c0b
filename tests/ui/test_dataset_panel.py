"""The Data panel and File ▸ Open Data Set: a new set restarts training on its shape and
classes; a broken one is reported and changes nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from convscope import events as ev
from convscope.ui.panels.dataset import DatasetPanel, resolve_choice, sample_grid
from convscope.ui.panels.deepvis import DeepVisPanel
from convscope.ui.panels.inspect_image import ImagePanel
from convscope.ui.panels.training import TrainingPanel

WINDOW_PANELS = [TrainingPanel, ImagePanel, DeepVisPanel, DatasetPanel]  # Data, and what a new set resets

pytestmark = pytest.mark.gui


def write_npz(path: Path, n: int = 40, size: int = 12, classes: int = 4, test: bool = True) -> Path:
    rng = np.random.default_rng(0)
    arrays = {
        "x_train": rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
        "y_train": np.arange(n) % classes,
    }
    if test:
        arrays |= {"x_test": arrays["x_train"][:8], "y_test": arrays["y_train"][:8]}
    np.savez(path, **arrays, class_names=np.array([f"c{i}" for i in range(classes)]))
    return path


def test_sample_grid_rows_are_classes() -> None:
    x = np.stack([np.full((2, 3, 1), v, np.uint8) for v in range(6)])
    y = np.array([1, 0, 1, 0, 1, 2], np.int32)
    grid = sample_grid(x, y, num_classes=3, per_class=2, pad=1)
    assert grid.shape == (3 * 3 + 1, 2 * 4 + 1, 3)
    assert (grid[0] == 255).all() and (grid[:, 0] == 255).all()  # padding
    np.testing.assert_array_equal(grid[1:3, 1:4], 1)  # class 0, first: image 1 (value 1), gray → RGB
    np.testing.assert_array_equal(grid[1:3, 5:8], 3)
    np.testing.assert_array_equal(grid[4:6, 1:4], 0)  # class 1: images 0 and 2
    np.testing.assert_array_equal(grid[4:6, 5:8], 2)
    np.testing.assert_array_equal(grid[7:9, 1:4], 5)  # class 2: one image, then blank
    assert (grid[7:9, 5:8] == 255).all()


def test_resolve_choice_maps_member_files_to_their_folder(tmp_path: Path) -> None:
    for name in ("train-images-idx3-ubyte.gz", "data_batch_1", "pic.npz"):
        (tmp_path / name).write_bytes(b"x")
    assert resolve_choice(tmp_path / "train-images-idx3-ubyte.gz") == tmp_path
    assert resolve_choice(tmp_path / "data_batch_1") == tmp_path
    assert resolve_choice(tmp_path / "pic.npz") == tmp_path / "pic.npz"


def test_panel_shows_the_session_data(session, qtbot) -> None:
    panel = DatasetPanel(session)
    qtbot.addWidget(panel)
    assert "fake digits" in panel.heading.text()
    assert panel.class_table.rowCount() == 10 and panel.class_table.item(0, 1).text() == "64"
    assert not panel.resplit_button.isEnabled()  # no val_split on this set
    assert panel.grid_label.pixmap() is not None and not panel.grid_label.pixmap().isNull()


def test_open_data_set_restarts_training_on_its_shape(window, loops, qtbot, tmp_path, monkeypatch) -> None:
    path = write_npz(tmp_path / "tiny.npz")
    window.train_action.trigger()
    qtbot.waitUntil(lambda: window.session.state == "training", timeout=3000)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    assert window.open_dataset(folder=False) == str(path)
    qtbot.waitUntil(lambda: len(loops) == 2 and window.session.state == "training", timeout=10000)
    new = loops[-1]
    assert new.dataset.name == "tiny" and new.arch.input_shape == (12, 12, 3) and new.arch.num_classes == 4
    assert new.arch.convs == loops[0].arch.convs  # the layers are kept
    qtbot.waitUntil(lambda: bool(new.seen(ev.Resume)), timeout=3000)  # and it carries on training
    assert loops[0].seen(ev.Stop)
    panel = window.panels["Data"]
    assert "tiny" in panel.heading.text() and panel.class_table.item(3, 0).text() == "c3"
    assert window.windowTitle() == "ConvScope — tiny" and window.session.arch.input_shape == (12, 12, 3)
    assert "Now training on tiny" in window.notice_label.text()
    # The panels that hold validation images or class names follow the switch.
    data = new.dataset
    controller = window.panels["Image"].controller
    assert controller.examples.shape[1:] == (12, 12, 3)
    assert np.array_equal(controller.model_image, data.x_val[0])
    deepvis = window.panels["Deep visualization"]
    assert np.array_equal(deepvis.images, data.x_val[: len(deepvis.images)])
    assert deepvis.saliency.class_names == ("c0", "c1", "c2", "c3")


def test_broken_data_set_keeps_the_old_one(window, loops, qtbot, tmp_path, monkeypatch) -> None:
    bad = tmp_path / "broken"
    (bad / "only-class").mkdir(parents=True)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(bad))
    old_dataset, old_arch = window.session.dataset, window.session.arch
    window.open_dataset(folder=True)
    qtbot.waitUntil(lambda: "at least two class folders" in window.last_error, timeout=10000)
    assert str(bad) in window.last_error
    assert len(loops) == 1 and not loops[0].seen(ev.Stop) and window.session.state == "paused"
    assert window.session.dataset is old_dataset and window.session.arch == old_arch
    assert "Not loaded" in window.panels["Data"].status_label.text()


def test_builtin_choice_and_resplit(window, loops, qtbot, tmp_path) -> None:
    panel = window.panels["Data"]
    loader = panel.loader
    loader.load(str(write_npz(tmp_path / "nosplit.npz", test=False)))
    qtbot.waitUntil(lambda: len(loops) == 2 and window.session.state == "paused", timeout=10000)
    assert window.session.dataset.val_split == (0.1, 0) and panel.resplit_button.isEnabled()
    panel.fraction_spin.setValue(0.25)
    panel.seed_spin.setValue(7)
    panel.resplit_button.click()
    qtbot.waitUntil(lambda: len(loops) == 3 and window.session.state == "paused", timeout=10000)
    assert window.session.dataset.val_split == (0.25, 7) and len(window.session.dataset.y_val) == 8

    panel.builtin_combo.setCurrentIndex(panel.builtin_combo.findData("builtin:colors"))
    panel.use_builtin.click()
    qtbot.waitUntil(lambda: len(loops) == 4 and window.session.state == "paused", timeout=20000)
    assert loops[-1].arch.input_shape == (32, 32, 3) and loops[-1].dataset.name == "Colors (built-in)"
    assert panel.grid.shape[0] == 10 * 33 + 1


def test_switch_while_the_old_loop_compiles_ignores_its_late_events(qtbot, tmp_path) -> None:
    """A loop busy compiling cannot stop at once; what it says afterwards is dropped."""
    from conftest import FAKE_DATASET, FakeLoop

    from convscope.config import ArchSpec, TrainConfig
    from convscope.data import load_dataset
    from convscope.ui.session import Session

    loops: list[FakeLoop] = []

    def factory(arch, config, data) -> FakeLoop:  # only the first loop is slow to compile
        loops.append(FakeLoop(arch, config, data, block_s=1.0 if not loops else 0.0))
        return loops[-1]

    session = Session(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=factory)
    session.start()
    qtbot.waitUntil(lambda: bool(loops and loops[0].events_sent), timeout=5000)
    data = load_dataset(write_npz(tmp_path / "late.npz"))
    assert session.set_dataset(data) == ""
    qtbot.waitUntil(lambda: len(loops) == 2 and session.state == "paused", timeout=5000)
    qtbot.waitUntil(lambda: any(isinstance(e, ev.Finished) for e in loops[0].events_sent), timeout=5000)
    qtbot.wait(100)  # what the old loop said (Started with the old shape, Finished) would land now
    assert any(isinstance(e, ev.Started) for e in loops[0].events_sent)
    assert session.arch.input_shape == (12, 12, 3) and session.state == "paused" and session.dataset is data
    session.shutdown(timeout_s=2.0)


def test_switch_refused_when_no_network_fits(session) -> None:
    from types import SimpleNamespace

    tiny = SimpleNamespace(name="dots", image_shape=(1, 1, 1), num_classes=2)
    message = session.set_dataset(tiny)
    assert message.startswith("no network fits dots") and session.dataset is not tiny


def test_sample_grid_ignores_labels_beyond_the_images() -> None:
    x = np.zeros((2, 4, 4, 3), np.uint8)
    grid = sample_grid(x, np.arange(6) % 2, num_classes=2, per_class=3)
    assert (
        grid.shape == (2 * 5 + 1, 3 * 5 + 1, 3)
        and (grid[1:5, 1:5] == 0).all()
        and (grid[1:5, 6:10] == 255).all()
    )


def write_image_folder(root: Path, size: tuple[int, int] = (20, 30), per_class: int = 6) -> Path:
    """Two classes of gray PNGs, ``size`` = (height, width)."""
    from PIL import Image

    for c, value in (("dark", 40), ("light", 200)):
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(np.full(size, value + i, np.uint8)).save(root / c / f"{i}.png")
    return root


def test_file_menu_open_uses_the_panels_split_and_image_size(window, loops, qtbot, tmp_path, monkeypatch) -> None:
    panel = window.panels["Data"]
    panel.fraction_spin.setValue(0.25)
    panel.seed_spin.setValue(7)
    npz = write_npz(tmp_path / "nosplit.npz", test=False)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(npz), ""))
    window.open_data_file_action.trigger()
    qtbot.waitUntil(lambda: len(loops) == 2 and window.session.state == "paused", timeout=10000)
    assert window.session.dataset.val_split == (0.25, 7) and len(window.session.dataset.y_val) == 8
    assert "25%, seed 7" in panel.sizes_label.text()

    folder = write_image_folder(tmp_path / "pics")
    panel.size_spin.setValue(16)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    window.open_data_folder_action.trigger()
    qtbot.waitUntil(lambda: len(loops) == 3 and window.session.state == "paused", timeout=10000)
    data = window.session.dataset
    assert data.image_shape == (16, 16, 1) and loops[-1].arch.input_shape == (16, 16, 1)
    assert data.val_split == (0.25, 7) and "resized to 16×16" in data.notes

    panel.size_spin.setValue(panel.size_spin.minimum())  # automatic: the folder's own 20×30
    assert panel.size_spin.text() == "automatic" and panel.resplit_button.isEnabled()
    panel.resplit_button.click()
    qtbot.waitUntil(lambda: len(loops) == 4 and window.session.state == "paused", timeout=10000)
    assert window.session.dataset.image_shape == (20, 30, 1)


def test_the_window_starts_with_the_given_load_options(qtbot) -> None:
    from conftest import FAKE_DATASET, FakeLoop

    from convscope.config import ArchSpec, TrainConfig
    from convscope.data import LoadOptions
    from convscope.ui.main_window import MainWindow

    options = LoadOptions(0.3, 5, 24)
    window = MainWindow(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=FakeLoop, load_options=options)
    qtbot.addWidget(window)  # never shown: no loop starts
    panel = window.panels["Data"]
    assert (panel.fraction_spin.value(), panel.seed_spin.value(), panel.size_spin.value()) == (0.3, 5, 24)
    assert panel.loader.options == LoadOptions(0.3, 5, 24)
