"""Transfer learning in the window, on the real engine (issue 16): File ▸ Start From
Checkpoint… with a grey checkpoint on colour images says how the first layer was adapted;
the Architecture editor's "frozen" boxes keep those weights bitwise through real training
steps, without re-initialising or recompiling, and the Architecture table marks them."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data.dataset import Dataset
from convscope.ui.arch_editor import ArchitectureEditor
from convscope.ui.controls import HyperparameterControls
from convscope.ui.panels.architecture import ArchitecturePanel
from convscope.ui.panels.training import TrainingPanel

WINDOW_PANELS = [HyperparameterControls, ArchitectureEditor, TrainingPanel, ArchitecturePanel]  # the editor, the table, the markers

pytestmark = [pytest.mark.gui]

GREY = ArchSpec(input_shape=(8, 8, 1), num_classes=3, convs=(ConvLayer(filters=4, kernel=3), ConvLayer(filters=6, kernel=3)),
                dense=(8,))
CONFIG = TrainConfig(batch_size=16, eval_every=1000, dropout=0.0, augment=False, weight_decay=0.01)


def tiny(channels: int, classes: int, seed: int) -> Dataset:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (96, 8, 8, channels), dtype=np.uint8)
    y = (np.arange(96) % classes).astype(np.int32)
    names = tuple(f"{'rgb' if channels == 3 else 'grey'} {i}" for i in range(classes))
    return Dataset(f"tiny {channels}", x[:72], y[:72], x[72:], y[72:], names, "test", "", "")


@pytest.fixture
def colour_window(qtbot):
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow

    loops: list[TrainingLoop] = []

    def factory(arch, config, dataset):
        loops.append(TrainingLoop(arch, config, dataset))
        return loops[-1]

    data = tiny(3, 4, 1)
    arch = ArchSpec(input_shape=(8, 8, 3), num_classes=4, convs=(ConvLayer(filters=2, kernel=3),), dense=())
    window = MainWindow(data, arch, CONFIG, loop_factory=factory)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=60_000)
    yield window, loops
    if window.transfer.box is not None:
        window.transfer.box.close()
    window.session.shutdown(timeout_s=2.0)


def host(tree):
    import jax

    return jax.tree.map(np.asarray, jax.device_get(tree))


def test_start_from_a_grey_checkpoint_then_freeze_conv1_in_the_editor_and_train(qtbot, tmp_path, colour_window):
    from convscope.train.checkpoint import load_checkpoint, save_checkpoint
    from convscope.train.headless import run_to_completion
    from convscope.train.loop import TrainingLoop

    trainer = TrainingLoop(GREY, CONFIG, tiny(1, 3, 0), max_steps=4)
    run_to_completion(trainer)
    path = str(save_checkpoint(tmp_path / "grey.npz", trainer.checkpoint()))
    src = load_checkpoint(path)

    window, loops = colour_window
    loop = loops[-1]
    window.transfer.start_from(path)
    qtbot.waitUntil(lambda: window.transfer.box is not None, timeout=60_000)
    qtbot.waitUntil(lambda: window.session.state == "paused", timeout=10_000)
    text = window.transfer.box.informativeText()
    assert "conv1: adapted (grey → colour: the 1-channel kernel replicated over the 3 channels and divided by 3" in text
    assert "conv2: copied" in text and "logits: rebuilt" in text
    assert "responds as before" in text  # the adaptation said in words
    assert "Started from" in window.notice_label.text()
    assert loop.arch.convs == GREY.convs and loop.arch.input_shape == (8, 8, 3) and loop.arch.num_classes == 4
    adapted = np.repeat(src.params["conv1"]["w"], 3, axis=2) / 3
    np.testing.assert_array_equal(host(loop.params)["conv1"]["w"], adapted)

    editor = window.panels["Architecture editor"]
    assert list(editor.frozen_box.checks) == ["conv1", "conv2", "dense1", "logits"]
    traces = loop.fns.traces["train"]
    window.docks["Architecture editor"].raise_()  # its tab, in front of the Hyperparameters'
    qtbot.waitUntil(editor.frozen_box.checks["conv1"].isVisible, timeout=5000)
    box = editor.frozen_box.checks["conv1"]
    qtbot.mouseClick(box, Qt.MouseButton.LeftButton, pos=QPoint(8, box.height() // 2))  # on its indicator
    qtbot.waitUntil(lambda: loop.config.frozen == ("conv1",), timeout=10_000)
    table = window.panels["Architecture"].table
    names = [table.item(r, 0).text() for r in range(table.rowCount())]
    assert "conv1 ❄" in names and "conv2" in names
    assert table.item(names.index("conv1 ❄"), 1).text() == "convolution · frozen"
    assert "frozen" in window.panels["Architecture"].heading.text()

    # the learning-rate multiplier beside each box reaches the step's traced mask
    assert not editor.frozen_box.multipliers["conv1"].isEnabled()  # frozen: no learning rate
    editor.frozen_box.multipliers["logits"].setValue(2.5)
    qtbot.waitUntil(lambda: loop.config.lr_multipliers == (("logits", 2.5),), timeout=10_000)
    assert float(loop._hp["trainable"]["logits"]) == 2.5 and float(loop._hp["trainable"]["conv1"]) == 0.0  # noqa: SLF001

    before = host(loop.params)
    for _ in range(3):
        window.step_action.trigger()
        step = loop.step
        qtbot.waitUntil(lambda s=step: loop.step == s + 1 and window.session.state == "paused", timeout=30_000)
    window.session.train()
    qtbot.waitUntil(lambda: loop.step >= 12, timeout=60_000)
    window.session.pause()
    qtbot.waitUntil(lambda: window.session.state == "paused" and not loop.running, timeout=10_000)
    after = host(loop.params)
    np.testing.assert_array_equal(after["conv1"]["w"], before["conv1"]["w"])  # the weights kept, bitwise
    np.testing.assert_array_equal(after["conv1"]["w"], adapted)
    np.testing.assert_array_equal(after["conv1"]["b"], before["conv1"]["b"])
    assert not np.array_equal(after["conv2"]["w"], before["conv2"]["w"])
    assert loop.fns.traces["train"] == traces  # the frozen set is live: no recompilation


def test_a_checkpoint_that_does_not_fit_is_refused_naming_the_layer(qtbot, tmp_path, colour_window):
    from convscope.train.checkpoint import save_checkpoint
    from convscope.train.headless import run_to_completion
    from convscope.train.loop import TrainingLoop

    four = ArchSpec(input_shape=(8, 8, 4), num_classes=3, convs=(ConvLayer(filters=2, kernel=3),), dense=())
    trainer = TrainingLoop(four, CONFIG, tiny(4, 3, 0), max_steps=1)
    run_to_completion(trainer)
    path = str(save_checkpoint(tmp_path / "four.npz", trainer.checkpoint()))
    window, loops = colour_window
    before = host(loops[-1].params)
    window.transfer.start_from(path)
    qtbot.waitUntil(lambda: "cannot start from it" in window.notice_label.text(), timeout=30_000)
    assert ("conv1: the checkpoint's kernel is 3×3×4×2, this model's 3×3×3×2 (4 input channels cannot become 3)"
            in window.notice_label.text())
    assert window.transfer.box is None
    np.testing.assert_array_equal(host(loops[-1].params)["conv1"]["w"], before["conv1"]["w"])


def test_freezing_and_a_multiplier_at_the_same_step_make_one_readable_marker(window) -> None:
    from convscope import events as ev

    panel, bridge = window.panels["Training"], window.session.bridge
    frozen = TrainConfig(frozen=("conv1",))
    bridge.hyperparams_changed.emit(ev.HyperParamsChanged(7, {"frozen": ((), ("conv1",))}, frozen))
    both = frozen.replace(lr_multipliers=(("logits", 2.0),))
    bridge.hyperparams_changed.emit(ev.HyperParamsChanged(7, {"lr_multipliers": ((), (("logits", 2.0),))}, both))
    assert [m.text for m in panel.markers] == ["frozen none→conv1, lr× none→logits×2"]
    assert panel.markers[0].label.toPlainText().endswith("frozen none→conv1, lr× none→logits×2")
