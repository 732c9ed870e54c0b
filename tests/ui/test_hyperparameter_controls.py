"""Every hyperparameter control reaches the running loop, which keeps training."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from convscope import events as ev
from convscope.config import TrainConfig
from convscope.ui.controls import (
    BATCH_SIZES,
    LEARNING_RATES,
    WEIGHT_DECAYS,
    HyperparameterControls,
    ValueSlider,
    log_values,
)
from convscope.ui.panels.training import TrainingPanel, format_value

WINDOW_PANELS = [HyperparameterControls, TrainingPanel]  # the controls, and the curves they mark

pytestmark = pytest.mark.gui


def move(slider: ValueSlider, value: float) -> None:
    """What a user's click or drag release does: the slider lands on ``value``."""
    slider.slider.setValue(slider.values.index(value))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("learning_rate", 3e-3),
        ("learning_rate", 1e-5),
        ("momentum", 0.5),
        ("weight_decay", 1e-4),
        ("weight_decay", 0.0),
        ("dropout", 0.5),
        ("batch_size", 32),
    ],
)
def test_each_slider_reaches_the_running_loop(window, loop, qtbot, name: str, value: float) -> None:
    controls = window.panels["Hyperparameters"]
    if name == "weight_decay" and value == 0.0:
        move(controls.weight_decay, 1e-3)
        qtbot.waitUntil(lambda: loop.hyperparams_seen().get(name) == 1e-3, timeout=3000)
    window.session.train()
    qtbot.waitUntil(lambda: loop.step > 2, timeout=3000)
    move(getattr(controls, name), value)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get(name) == value, timeout=3000)
    assert getattr(loop.config, name) == value
    assert loop.running, "the run goes on with the new value"
    steps = loop.step
    qtbot.waitUntil(lambda: loop.step > steps + 2, timeout=3000)
    assert getattr(window.session.config, name) == value


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_optimizer_choice_reaches_the_loop(window, loop, qtbot, optimizer: str) -> None:
    controls = window.panels["Hyperparameters"]
    if optimizer == "adam":  # the default: go elsewhere first so there is a change
        controls.optimizer.setCurrentIndex(controls.optimizer.findData("sgd"))
    controls.optimizer.setCurrentIndex(controls.optimizer.findData(optimizer))
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("optimizer") == optimizer, timeout=3000)
    assert loop.config.optimizer == optimizer
    assert controls.momentum.isEnabled() == (optimizer in ("momentum", "rmsprop"))


def test_optimizer_labels_are_the_readable_ones(window) -> None:
    combo = window.panels["Hyperparameters"].optimizer
    assert [combo.itemText(i) for i in range(combo.count())] == ["SGD", "SGD + momentum", "Adam", "RMSprop"]


def test_learning_rate_is_a_fine_log_scale_from_1e5_to_1(window) -> None:
    slider = window.panels["Hyperparameters"].learning_rate
    assert slider.values[0] == 1e-5 and slider.values[-1] == 1.0
    ratios = [b / a for a, b in zip(slider.values, slider.values[1:], strict=False)]
    assert max(ratios) < 1.34, "one stop is at most a third more: 1e-3, 1.2e-3, 1.5e-3, 2e-3 …"
    assert slider.entry.text() == "1e-3"
    move(slider, 3e-3)
    assert slider.entry.text() == "3e-3"


def type_into(qtbot, entry, text: str) -> None:
    entry.setFocus()
    entry.selectAll()
    qtbot.keyClicks(entry, text)
    qtbot.keyClick(entry, Qt.Key.Key_Return)


def test_a_typed_learning_rate_reaches_the_loop_exactly(window, loop, qtbot) -> None:
    """Issue 11.9: a value no slider stop has (3.7e-4) is typed, and exactly it is used."""
    control = window.panels["Hyperparameters"].learning_rate
    type_into(qtbot, control.entry, "3.7e-4")
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 3.7e-4, timeout=3000)
    assert loop.config.learning_rate == 3.7e-4 and window.session.config.learning_rate == 3.7e-4
    assert control.value() == 3.7e-4 and control.entry.text() == "3.7e-4"
    assert control.values[control.slider.value()] == 4e-4, "the slider shows the nearest stop"
    type_into(qtbot, control.entry, "0.002")
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 0.002, timeout=3000)


@pytest.mark.parametrize("text", ["fast", "-1e-3", "0", "nan", "inf"])
def test_a_typed_text_that_is_no_learning_rate_is_refused(window, loop, qtbot, text: str) -> None:
    controls = window.panels["Hyperparameters"]
    type_into(qtbot, controls.learning_rate.entry, text)
    assert controls.error.isVisibleTo(controls) and "learning rate" in controls.error.text()
    assert controls.learning_rate.entry.text() == "1e-3", "the box shows the rate in use again"
    window.session.request_snapshot()
    qtbot.waitUntil(lambda: bool(loop.seen(ev.RequestSnapshot)), timeout=3000)
    assert not loop.seen(ev.SetHyperParams)


def test_a_learning_rate_drag_applies_only_where_it_is_released(window, loop, qtbot) -> None:
    """A drag that passes 0.05 on its way back to 2e-3 never sends 0.05 (it would have
    been applied for a few steps: enough to kill an Adam-trained net)."""
    control = window.panels["Hyperparameters"].learning_rate
    control.slider.setSliderDown(True)
    for value in (5e-3, 2e-2, 5e-2, 1e-2, 2e-3):
        control.slider.setSliderPosition(LEARNING_RATES.index(value))
        assert control.entry.text() == format_value(value), "the box follows the thumb"
    control.slider.setSliderDown(False)
    qtbot.waitUntil(lambda: bool(loop.seen(ev.SetHyperParams)), timeout=3000)
    window.session.request_snapshot()
    qtbot.waitUntil(lambda: bool(loop.seen(ev.RequestSnapshot)), timeout=3000)
    assert [c.changes for c in loop.seen(ev.SetHyperParams)] == [{"learning_rate": 2e-3}]


def status(window) -> str:
    return window.statusBar().currentMessage()


def test_a_learning_rate_change_large_enough_to_diverge_is_warned_about(window, loop, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    move(controls.learning_rate, 1.5e-3)  # Adam, 1e-3 → 1.5e-3: an ordinary change
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 1.5e-3, timeout=3000)
    assert "Learning rate" not in status(window)
    move(controls.learning_rate, 0.05)  # the 1e-3 → 0.05 under Adam
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 0.05, timeout=3000)
    assert "0.05 is high for Adam" in status(window)
    assert window.notice_label.text() == status(window)
    assert loop.config.learning_rate == 0.05, "a warning, not a refusal"
    window.statusBar().clearMessage()
    move(controls.learning_rate, 1e-4)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 1e-4, timeout=3000)
    move(controls.learning_rate, 1e-3)  # ×10 at once, below Adam's ceiling
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 1e-3, timeout=3000)
    assert "raised 10× at once (1e-4 → 1e-3)" in status(window)


def test_switching_to_adam_at_an_sgd_learning_rate_is_warned_about(make_window, loops, qtbot) -> None:
    window = make_window(config=TrainConfig(optimizer="sgd", learning_rate=0.07))
    loop, controls = loops[-1], window.panels["Hyperparameters"]
    move(controls.learning_rate, 0.1)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 0.1, timeout=3000)
    assert "Learning rate" not in status(window), "0.1 is an ordinary rate for SGD"
    controls.optimizer.setCurrentIndex(controls.optimizer.findData("adam"))
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("optimizer") == "adam", timeout=3000)
    assert "0.1 is high for Adam" in status(window)


def test_optimizer_tooltips_say_which_settings_apply(window) -> None:
    controls = window.panels["Hyperparameters"]
    combo = controls.optimizer
    tips = {combo.itemData(i): combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count())}
    for name in ("sgd", "adam"):
        assert "momentum slider does not apply" in tips[name]
    assert "momentum slider" in tips["rmsprop"] and "does not apply" not in tips["rmsprop"]
    assert "uses the momentum slider" in tips["momentum"]
    for name in ("sgd", "momentum", "adam", "rmsprop"):
        combo.setCurrentIndex(combo.findData(name))
        applies = "does not apply" not in tips[name]
        assert controls.momentum.isEnabled() == applies, name


def test_a_drag_sends_few_updates_but_always_the_last_value(window, loop, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    path = LEARNING_RATES[LEARNING_RATES.index(1e-3) : LEARNING_RATES.index(1e-1) + 1]
    for value in path:
        move(controls.learning_rate, value)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 0.1, timeout=3000)
    sent = [c.changes["learning_rate"] for c in loop.seen(ev.SetHyperParams)]
    assert sent[-1] == 0.1
    assert len(sent) < len(path) / 2, f"throttled: {len(sent)} sends for {len(path)} slider moves"


def test_batch_size_sends_only_where_the_drag_ends(window, loop, qtbot) -> None:
    """Each new batch size compiles once: sizes passed over during a drag are not sent."""
    slider = window.panels["Hyperparameters"].batch_size
    slider.slider.setSliderDown(True)
    for size in (256, 512, 1024):
        slider.slider.setSliderPosition(BATCH_SIZES.index(size))
    assert slider.label.text() == "1024"  # the label follows the drag
    slider.slider.setSliderDown(False)
    qtbot.waitUntil(lambda: bool(loop.seen(ev.SetHyperParams)), timeout=3000)
    window.session.request_snapshot()
    qtbot.waitUntil(lambda: bool(loop.seen(ev.RequestSnapshot)), timeout=3000)
    assert [c.changes for c in loop.seen(ev.SetHyperParams)] == [{"batch_size": 1024}]


def test_changes_leave_markers_on_the_curves(window, loop, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    panel = window.panels["Training"]
    window.session.train()
    qtbot.waitUntil(lambda: loop.step > 2, timeout=3000)
    move(controls.learning_rate, 3e-3)
    qtbot.waitUntil(lambda: len(panel.markers) == 1, timeout=3000)
    assert panel.markers[0].text == "lr 1e-3→3e-3"
    assert panel.markers[0].label.toPlainText().endswith("lr 1e-3→3e-3")  # on the change track
    controls.dropout.slider.setValue(controls.dropout.values.index(0.5))
    qtbot.waitUntil(lambda: len(panel.markers) == 2, timeout=3000)
    assert panel.markers[1].text == "dropout 0.25→0.5"


def test_loop_confirmations_do_not_move_the_controls(window, loop, qtbot) -> None:
    """No echo: a HyperParamsChanged arriving mid-drag must not snap the slider back."""
    controls = window.panels["Hyperparameters"]
    move(controls.learning_rate, 2e-3)
    qtbot.waitUntil(lambda: loop.hyperparams_seen().get("learning_rate") == 2e-3, timeout=3000)
    controls.learning_rate.slider.setSliderDown(True)
    move(controls.learning_rate, 5e-3)
    qtbot.wait(300)
    assert controls.learning_rate.value() == 5e-3
    controls.learning_rate.slider.setSliderDown(False)


def test_setting_controls_from_a_config_sends_nothing(window, loop, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    controls.show_config(window.session.config.replace(learning_rate=0.02, dropout=0.5, weight_decay=4e-4))
    assert controls.learning_rate.label.text() == "0.02"
    assert controls.weight_decay.label.text() == "4e-4"  # shown exactly, though not a slider stop
    window.session.request_snapshot()
    qtbot.waitUntil(lambda: bool(loop.seen(ev.RequestSnapshot)), timeout=3000)
    assert not loop.seen(ev.SetHyperParams)


def test_invalid_values_are_refused_with_a_reason(window, loop, qtbot) -> None:
    controls = window.panels["Hyperparameters"]
    controls._send("dropout", 0.99)
    assert controls.error.isVisibleTo(controls)
    assert "dropout" in controls.error.text()
    controls._send("dropout", 0.1)
    assert not controls.error.isVisibleTo(controls)


def test_log_values_are_round_numbers() -> None:
    assert log_values(-3, -1) == [
        1e-3,
        1.5e-3,
        2e-3,
        3e-3,
        5e-3,
        7e-3,
        1e-2,
        1.5e-2,
        2e-2,
        3e-2,
        5e-2,
        7e-2,
        1e-1,
    ]
    assert WEIGHT_DECAYS[0] == 0.0
