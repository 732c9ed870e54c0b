"""run_gui: an unusable data set is a message and exit code 2, never a traceback."""

from __future__ import annotations

import pyqtgraph as pg
import pytest

from convscope.ui import app as app_module

pytestmark = pytest.mark.gui


def test_a_missing_data_set_is_a_message_and_exit_code_2(qapp, monkeypatch, tmp_path) -> None:
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(
        app_module.QMessageBox, "critical", lambda _parent, title, text: shown.append((title, text))
    )
    missing = tmp_path / "no-such-folder"
    assert app_module.run_gui(str(missing)) == 2
    assert len(shown) == 1
    title, text = shown[0]
    assert "data set" in title
    assert str(missing) in text and "no such file" in text


def test_a_folder_that_is_not_a_data_set_is_refused(qapp, monkeypatch, tmp_path) -> None:
    shown: list[str] = []
    monkeypatch.setattr(app_module.QMessageBox, "critical", lambda _parent, _title, text: shown.append(text))
    (tmp_path / "notes.txt").write_text("hello")
    assert app_module.run_gui(str(tmp_path)) == 2
    assert shown and str(tmp_path) in shown[0]


def test_default_arch_fits_the_data_set() -> None:
    class Colour:
        image_shape = (32, 32, 3)
        num_classes = 10

    spec = app_module.default_arch(Colour())
    assert spec.input_shape == (32, 32, 3) and spec.num_classes == 10


def test_look_is_configured_for_a_projector(qapp) -> None:
    app_module.configure_app(qapp)
    assert qapp.font().pointSize() >= 11
    assert pg.getConfigOption("imageAxisOrder") == "row-major"
    assert pg.getConfigOption("antialias") is True


def test_an_exception_in_a_slot_becomes_a_message(window, monkeypatch) -> None:
    import sys

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    app_module._install_excepthook(window)
    try:
        raise ValueError("a bad value from somewhere")
    except ValueError as exc:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    assert window.last_error == "ValueError: a bad value from somewhere"
    assert window.notice_label.property("level") == "error"
