"""Issue 17.7: images far larger than the model's input made the window itself grow
(17,361 px wide for 2048² images, 5,073 px and 14.8 GB RSS for 512²). On the real engine,
a 1600×1000 window opens a 2048² .npz, a 512² image folder and a 2048² picture in the
image dock: the window and every panel keep their size, and memory stays bounded."""

from __future__ import annotations

import resource
import sys

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.gui, pytest.mark.slow]


def _sizes(window) -> dict[str, tuple[int, int]]:
    sizes = {"window": (window.width(), window.height())}
    for title, dock in window.docks.items():
        if dock.isVisible():
            sizes[title] = (dock.width(), dock.height())
    return sizes


@pytest.mark.skipif(sys.platform != "linux", reason="ru_maxrss in KiB, as Linux reports it")
def test_large_images_never_grow_the_window_or_a_panel(qtbot, tmp_path) -> None:
    from convscope.config import ArchSpec, ConvLayer, TrainConfig
    from convscope.data import Dataset, builtin_mnist
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow
    from convscope.ui.panels.dataset import loader_for

    full = builtin_mnist()
    digits = Dataset("digits (small)", full.x_train[:256], full.y_train[:256], full.x_val[:64], full.y_val[:64],
                     full.class_names, full.source)
    loops: list[TrainingLoop] = []

    def factory(arch, config, dataset) -> TrainingLoop:
        loops.append(TrainingLoop(arch, config, dataset))
        return loops[-1]

    # A small model (its layers carry over to each data set) keeps the three compiles short.
    tiny = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))
    window = MainWindow(digits, tiny, TrainConfig(batch_size=8), loop_factory=factory)
    qtbot.addWidget(window)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=60_000)
    qtbot.wait(300)
    before = _sizes(window)
    assert before["window"] == (1600, 1000)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    rng = np.random.default_rng(0)
    big = rng.integers(0, 256, (6, 2048, 2048), dtype=np.uint8)
    np.savez(tmp_path / "big.npz", x_train=big[:4], y_train=np.arange(4) % 2, x_test=big[4:], y_test=np.arange(2) % 2)
    del big
    folder = tmp_path / "folder"
    for c in ("cat", "dog"):
        (folder / c).mkdir(parents=True)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)).save(folder / c / f"{i}.png")
    Image.fromarray(rng.integers(0, 256, (2048, 2048, 3), dtype=np.uint8)).save(tmp_path / "photo.png")

    for n, path in enumerate((tmp_path / "big.npz", folder), start=2):
        loader_for(window.session).load(str(path))
        qtbot.waitUntil(lambda n=n: len(loops) == n and window.session.state == "paused", timeout=60_000)
        window.step_action.trigger()  # a trained step: snapshots, feature maps, filters drawn
        qtbot.waitUntil(lambda: loops[-1].step == 1 and window.session.state == "paused", timeout=60_000)
        qtbot.wait(500)
        assert max(window.session.dataset.image_shape[:2]) <= 256, window.session.dataset.image_shape
        assert _sizes(window) == before, f"after {path.name}"
    assert window.open_image(str(tmp_path / "photo.png"))
    qtbot.wait(800)
    assert _sizes(window) == before, "after a 2048² picture in the image dock"
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 1500, f"peak memory grew {grown_mib:.0f} MiB"
    window.session.shutdown(timeout_s=2.0)
