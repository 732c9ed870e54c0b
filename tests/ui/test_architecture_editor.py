"""Architecture edits: "needs restart", Apply rebuilds the model, invalid specs refused."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

from convscope import events as ev
from convscope.config import ArchSpec
from convscope.ui.arch_editor import ArchitectureEditor
from convscope.ui.controls import HyperparameterControls
from convscope.ui.panels.architecture import ArchitecturePanel

WINDOW_PANELS = [HyperparameterControls, ArchitectureEditor, ArchitecturePanel]  # the editor and the layer table

pytestmark = pytest.mark.gui


def edit(widget, value) -> None:
    """Change a control as a user would (its signals fire)."""
    if isinstance(widget, QSpinBox):
        widget.setValue(value)
    elif isinstance(widget, QCheckBox):
        widget.setChecked(value)
    elif isinstance(widget, QComboBox):
        index = widget.findData(value)
        assert index >= 0, value
        widget.setCurrentIndex(index)


@pytest.mark.parametrize(
    ("control", "value", "expected"),
    [
        ("blocks", 3, lambda s: len(s.convs) == 3 and s.convs[2].filters == 128),
        ("filters", 16, lambda s: [c.filters for c in s.convs] == [16, 32]),
        ("double", False, lambda s: [c.filters for c in s.convs] == [32, 32]),
        ("kernel", 5, lambda s: all(c.kernel == 5 for c in s.convs)),
        ("stride", 2, lambda s: all(c.stride == 2 for c in s.convs)),
        ("padding", "valid", lambda s: all(c.padding == "valid" for c in s.convs)),
        ("activation", "tanh", lambda s: s.activation == "tanh"),
        ("pool", "avg", lambda s: all(c.pool == "avg" for c in s.convs)),
        ("pool_size", 3, lambda s: all(c.pool_size == 3 for c in s.convs)),
        ("batch_norm", True, lambda s: s.batch_norm),
        ("dense", 64, lambda s: s.dense == (64,)),
        ("dense", 0, lambda s: s.dense == ()),
        ("init", "xavier", lambda s: s.init == "xavier"),
    ],
)
def test_an_edit_needs_restart_and_apply_rebuilds_the_model(
    window, loop, qtbot, control, value, expected
) -> None:
    editor = window.panels["Architecture editor"]
    edit(getattr(editor, control), value)
    candidate = window.session.candidate
    assert candidate is not None and expected(candidate)
    assert "Needs restart" in editor.status.text()
    assert editor.apply_button.isEnabled()
    assert window.panels["Architecture"].heading.text().startswith("Candidate (not applied yet)")

    editor.apply_button.click()
    qtbot.waitUntil(lambda: bool(loop.seen(ev.Reset)), timeout=3000)
    assert loop.seen(ev.Reset)[-1].arch == candidate
    qtbot.waitUntil(lambda: window.session.arch == candidate, timeout=3000)
    assert loop.arch == candidate
    assert window.session.candidate is None
    assert editor.status.text() == "Matches the running model."
    assert not editor.apply_button.isEnabled()
    assert window.panels["Architecture"].heading.text().startswith("Running model")


def test_an_invalid_architecture_is_refused_with_the_reason(window, loop, qtbot) -> None:
    editor = window.panels["Architecture editor"]
    edit(editor.blocks, 5)  # 28 → 14 → 7 → 3 → 1: the fifth 2×2 pool does not fit
    assert window.session.candidate is None
    assert editor.status.text().startswith("Refused: conv block 5")
    assert "smaller than the 2×2 pooling window" in editor.status.text()
    assert editor.status.property("kind") == "error"
    assert not editor.apply_button.isEnabled()
    assert "refused" in window.panels["Architecture"].heading.text()

    editor.apply()  # even if called directly, nothing is sent
    window.session.request_snapshot()
    qtbot.waitUntil(lambda: bool(loop.seen(ev.RequestSnapshot)), timeout=3000)
    assert not loop.seen(ev.Reset)

    edit(editor.padding, "same")
    edit(editor.pool, "none")  # without pooling five blocks are fine
    assert window.session.candidate is not None and not window.session.candidate_error
    assert editor.apply_button.isEnabled()


def test_valid_padding_that_shrinks_below_the_kernel_is_refused(window) -> None:
    editor = window.panels["Architecture editor"]
    edit(editor.padding, "valid")
    edit(editor.kernel, 15)  # 28 → 14 → pool 7: a 15×15 kernel does not fit block 2
    assert "does not fit" in editor.status.text()
    assert not editor.apply_button.isEnabled()


def test_revert_returns_to_the_running_model(window) -> None:
    editor = window.panels["Architecture editor"]
    edit(editor.kernel, 7)
    assert editor.revert_button.isEnabled()
    editor.revert_button.click()
    assert editor.kernel.value() == 3
    assert window.session.candidate is None
    assert not editor.apply_button.isEnabled()


def test_editing_back_to_the_running_model_clears_needs_restart(window) -> None:
    editor = window.panels["Architecture editor"]
    edit(editor.kernel, 5)
    assert "Needs restart" in editor.status.text()
    edit(editor.kernel, 3)
    assert editor.status.text() == "Matches the running model."
    assert not editor.apply_button.isEnabled()


def test_controls_show_a_new_running_model_without_sending(window, loop, qtbot) -> None:
    spec = ArchSpec.uniform(blocks=1, filters=8, kernel=5, pool="avg", activation="gelu", dense=(32,))
    window.session.reset(spec)
    qtbot.waitUntil(lambda: window.session.arch == spec, timeout=3000)
    editor = window.panels["Architecture editor"]
    assert (editor.blocks.value(), editor.filters.value(), editor.kernel.value()) == (1, 8, 5)
    assert editor.pool.currentData() == "avg" and editor.activation.currentData() == "gelu"
    assert editor.dense.value() == 32
    assert window.session.candidate is None
    assert len(loop.seen(ev.Reset)) == 1


def test_pool_size_is_disabled_without_pooling(window) -> None:
    editor = window.panels["Architecture editor"]
    edit(editor.pool, "none")
    assert not editor.pool_size.isEnabled()
    edit(editor.pool, "max")
    assert editor.pool_size.isEnabled()
