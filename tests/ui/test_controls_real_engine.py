"""Every live hyperparameter control changes what the real engine computes.

Through the window's own widgets: each change is followed by Reset (the same seed, so
the same weights, batches and keys) and two Steps, and the weights after them must
differ from those before the change. Two steps, because the first update of a
momentum method does not depend on the momentum (its trace starts at zero): RMSprop's
momentum was ignored (issue 11.1) and a single step could not have shown it.
Each augmentation strength's effect on the step is in tests/test_train_loop.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from convscope.config import ArchSpec, ConvLayer, TrainConfig

pytestmark = [pytest.mark.gui, pytest.mark.slow]

ARCH = ArchSpec(convs=(ConvLayer(filters=3, kernel=3),), dense=(8,), input_shape=(8, 8, 1), num_classes=2)


@pytest.fixture(scope="module")
def tiny_data():
    from convscope.data import Dataset

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (96, 8, 8, 1), dtype=np.uint8)
    y = (x.reshape(96, -1).mean(axis=1) > 127).astype(np.int32)
    return Dataset("tiny", x[:64], y[:64], x[64:], y[64:], ("dark", "light"), "test")


def test_each_live_control_changes_what_the_engine_computes(qtbot, tiny_data) -> None:
    from convscope.train.loop import TrainingLoop
    from convscope.ui.controls import HyperparameterControls
    from convscope.ui.main_window import MainWindow

    loops: list[TrainingLoop] = []

    def factory(arch, config, dataset):
        loops.append(TrainingLoop(arch, config, dataset))
        return loops[-1]

    config = TrainConfig(batch_size=16, dropout=0.0, augment=False, eval_every=1000)
    # Only the controls: the inspection panels would compute on every snapshot meanwhile.
    window = MainWindow(tiny_data, ARCH, config, loop_factory=factory, panels=[HyperparameterControls])
    qtbot.addWidget(window)
    window.show()
    session, controls = window.session, window.panels["Hyperparameters"]
    qtbot.waitUntil(lambda: session.state == "paused", timeout=60_000)
    loop = loops[0]

    def weights_after_two_steps() -> list[np.ndarray]:
        session.reset()
        qtbot.waitUntil(lambda: session.state == "paused" and loop.step == 0, timeout=60_000)
        for n in (1, 2):
            session.step()
            qtbot.waitUntil(lambda n=n: loop.step == n and session.state == "paused", timeout=60_000)
        import jax

        return [np.asarray(a).copy() for a in jax.tree.leaves(loop.params)]

    def applied(field: str, value) -> None:
        controls.flush()
        qtbot.waitUntil(lambda: getattr(loop.config, field) == value, timeout=10_000)

    before = weights_after_two_steps()
    assert weights_after_two_steps()[0].tobytes() == before[0].tobytes(), "Reset repeats the same two steps"

    def changed(what: str) -> None:
        nonlocal before
        after = weights_after_two_steps()
        assert any(not np.array_equal(a, b) for a, b in zip(after, before, strict=True)), f"{what} changed nothing"
        before = after

    entry = controls.learning_rate.entry  # typed: exactly this value reaches the traced step
    entry.setFocus()
    entry.selectAll()
    qtbot.keyClicks(entry, "3.7e-3")
    qtbot.keyClick(entry, Qt.Key.Key_Return)
    applied("learning_rate", 3.7e-3)
    qtbot.waitUntil(lambda: float(loop._hp["lr"]) == np.float32(3.7e-3), timeout=10_000)  # noqa: SLF001
    changed("the learning rate")

    controls.optimizer.setCurrentIndex(controls.optimizer.findData("rmsprop"))
    applied("optimizer", "rmsprop")
    changed("the optimizer")

    assert controls.momentum.isEnabled(), "RMSprop uses the momentum slider"
    controls.momentum.slider.setValue(controls.momentum.values.index(0.0))
    applied("momentum", 0.0)
    changed("RMSprop's momentum")

    controls.weight_decay.slider.setValue(controls.weight_decay.values.index(1e-2))
    applied("weight_decay", 1e-2)
    changed("the weight decay")

    controls.dropout.slider.setValue(controls.dropout.values.index(0.5))
    applied("dropout", 0.5)
    changed("the dropout")

    controls.augmentation.setChecked(True)  # the group's switch, with the default ±2 px shift
    applied("augment", True)
    changed("the augmentation switch")

    controls.normalization.setCurrentIndex(controls.normalization.findData("none"))
    applied("normalization", "none")
    changed("the input normalization")

    controls.batch_size.slider.setValue(controls.batch_size.values.index(32))
    applied("batch_size", 32)
    changed("the batch size")
    assert loop.examples_seen == 2 * 32
    session.shutdown(timeout_s=5.0)
