"""The Runs panel through the real widgets: runs on disk fill the table, numbers sort
as numbers, the filter hides rows, edits reach annotations.json, Delete asks and
removes the folder (and refuses a run being written), damaged runs are rows with
their reason, new runs appear on the poll, and the CSV export reads back."""

from __future__ import annotations

import csv
import json
import os
import time

import pytest
from PySide6.QtCore import QItemSelectionModel, QPoint, Qt, QTimer
from PySide6.QtWidgets import QApplication, QInputDialog, QLineEdit, QMessageBox, QPlainTextEdit
from run_dirs import damaged_runs, make_run

from convscope.ui.panels.runs_panel import RunsPanel
from convscope.ui.panels.runs_table import COLUMN, KEY_ROLE

pytestmark = pytest.mark.gui


@pytest.fixture
def root(tmp_path):
    make_run(tmp_path, "alpha", lr=1e-4, batch=32, created="2026-12-01T10:00:00+0000", tags=("sweep",))
    make_run(tmp_path, "beta", lr=0.02, batch=128, optimizer="sgd", created="2026-12-01T11:00:00+0000")
    make_run(tmp_path, "gamma", lr=3e-3, batch=64, created="2026-12-01T12:00:00+0000", tags=("sweep", "best"))
    make_run(tmp_path, "delta", lr=1.0, batch=256, created="2026-12-01T13:00:00+0000")
    return tmp_path


@pytest.fixture
def panel(qtbot, session, root):
    p = RunsPanel(session, root=root)
    qtbot.addWidget(p)
    p.resize(1200, 400)
    p.show()
    return p


def column(panel, key):
    return [panel.proxy.index(r, COLUMN[key]).data() for r in range(panel.proxy.rowCount())]


def select_names(panel, *names):
    model = panel.view.selectionModel()
    model.clearSelection()
    for r in range(panel.proxy.rowCount()):
        if panel.proxy.index(r, 0).data() in names:
            model.select(panel.proxy.index(r, 0), QItemSelectionModel.SelectionFlag.Select
                         | QItemSelectionModel.SelectionFlag.Rows)


class ModalAnswer(list):
    """The dialogs answered; ``stop()`` ends the watch (it also ends after its time)."""

    stopped = False

    def stop(self) -> None:
        self.stopped = True


def answer_modal(qtbot, act, within_s: float = 3.0) -> ModalAnswer:
    """Call ``act(dialog)`` on the next modal dialog (QMessageBox / QInputDialog / QFileDialog)
    once it is up. The watch ends after ``within_s``: a watch for a dialog that never came
    must not answer a later test's dialog."""
    seen = ModalAnswer()
    deadline = time.monotonic() + within_s

    def poll():
        if seen.stopped or time.monotonic() > deadline:
            return
        dialog = QApplication.activeModalWidget()
        if dialog is None:
            QTimer.singleShot(20, poll)
            return
        seen.append(dialog)
        act(dialog)

    QTimer.singleShot(20, poll)
    return seen


def test_table_fills_from_runs_on_disk_newest_first(panel):
    assert column(panel, "name") == ["delta", "gamma", "beta", "alpha"]
    assert column(panel, "optimizer") == ["Adam", "Adam", "SGD", "Adam"]
    assert column(panel, "learning_rate") == ["1", "3e-3", "0.02", "1e-4"]
    assert column(panel, "batch_size") == ["256", "64", "128", "32"]
    assert column(panel, "status") == ["finished"] * 4
    assert column(panel, "tags")[1] == "sweep best"
    assert "4 runs" in panel.status.text()


def test_damaged_runs_are_rows_with_their_reason(qtbot, session, tmp_path):
    make_run(tmp_path, "good")
    reasons = damaged_runs(tmp_path)
    (tmp_path / "truncated").mkdir()
    make_run(tmp_path / "truncated", "run")  # a run inside: not itself a run
    panel = RunsPanel(session, root=tmp_path)
    qtbot.addWidget(panel)
    status = dict(zip(column(panel, "name"), column(panel, "status"), strict=True))
    assert status["good"] == "finished"
    for name, word in reasons.items():
        assert status[name].startswith("damaged: ") and word in status[name], status[name]
    assert "damaged" in status["truncated"]
    assert "4 damaged" in panel.status.text()


def test_numeric_columns_sort_as_numbers_and_empty_cells_last(qtbot, panel, root):
    make_run(root, "no-metrics")
    info = json.loads((root / "no-metrics" / "run.json").read_text())
    info["summary"] = {"steps": 0}
    (root / "no-metrics" / "run.json").write_text(json.dumps(info))
    panel.refresh()
    header = panel.view.horizontalHeader()
    x = header.sectionViewportPosition(COLUMN["learning_rate"]) + 5
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    lrs = column(panel, "learning_rate")
    if lrs[0] != "1e-4":  # the first click may sort descending (the column's last order)
        qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
        lrs = column(panel, "learning_rate")
    assert lrs[:4] == ["1e-4", "1e-3", "3e-3", "0.02"] and lrs[-1] == "1"  # as text "0.02" < "1" < "1e-3"
    panel.view.sortByColumn(COLUMN["best_val_acc"], Qt.SortOrder.AscendingOrder)
    accs = column(panel, "best_val_acc")
    assert accs[-1] == "" and all(accs[:-1])
    assert [float(a.rstrip(" %")) for a in accs[:-1]] == sorted(float(a.rstrip(" %")) for a in accs[:-1])
    panel.view.sortByColumn(COLUMN["best_val_acc"], Qt.SortOrder.DescendingOrder)
    assert column(panel, "best_val_acc")[-1] == ""


def test_the_filter_matches_name_tags_data_and_status(qtbot, panel):
    qtbot.keyClicks(panel.filter_edit, "sweep")
    assert sorted(column(panel, "name")) == ["alpha", "gamma"]
    panel.filter_edit.clear()
    qtbot.keyClicks(panel.filter_edit, "sweep best")
    assert column(panel, "name") == ["gamma"]
    panel.filter_edit.clear()
    qtbot.keyClicks(panel.filter_edit, "SGD digits")  # data set and architecture words count; optimizer not
    assert column(panel, "name") == []
    panel.filter_edit.clear()
    qtbot.keyClicks(panel.filter_edit, "finished")
    assert len(column(panel, "name")) == 4


def test_rename_in_place_tags_and_note_persist_and_show_after_refresh(qtbot, panel, root):
    row = column(panel, "name").index("beta")
    index = panel.proxy.index(row, COLUMN["name"])
    panel.view.setCurrentIndex(index)
    panel.view.edit(index)
    editor = panel.view.findChild(QLineEdit)
    editor.selectAll()
    qtbot.keyClicks(editor, "beta renamed")
    qtbot.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "beta renamed" in column(panel, "name"))
    assert json.loads((root / "beta" / "annotations.json").read_text())["name"] == "beta renamed"

    select_names(panel, "beta renamed")
    answer_modal(qtbot, lambda d: (d.setTextValue("lr-sweep  keep"), d.accept()))
    panel.actions["Tags…"].trigger()  # the Edit menu's item
    assert json.loads((root / "beta" / "annotations.json").read_text())["tags"] == ["keep", "lr-sweep"]

    def write_note(dialog):
        assert isinstance(dialog, QInputDialog)
        dialog.findChild(QPlainTextEdit).setPlainText("diverged at first,\nthen fine")
        dialog.accept()

    answer_modal(qtbot, write_note)
    panel.actions["Note…"].trigger()  # the Edit menu's item
    assert json.loads((root / "beta" / "annotations.json").read_text())["notes"] == "diverged at first,\nthen fine"

    fresh = RunsPanel(panel.session, root=root)  # what is on disk, read again
    qtbot.addWidget(fresh)
    row = column(fresh, "name").index("beta renamed")
    assert column(fresh, "tags")[row] == "keep lr-sweep"
    assert column(fresh, "notes")[row] == "diverged at first, then fine"


def test_an_empty_name_is_refused_with_a_message(qtbot, panel, root):
    select_names(panel, "alpha")
    panel.rename_selected("   ")
    assert "cannot be empty" in panel.status.text()
    assert not (root / "alpha" / "annotations.json").exists()


def test_delete_asks_naming_the_run_then_removes_its_folder(qtbot, panel, root):
    select_names(panel, "gamma")
    texts = []

    def cancel(box):
        texts.append(box.text())
        box.button(QMessageBox.StandardButton.Cancel).click()

    answer_modal(qtbot, cancel)
    panel.actions["Delete…"].trigger()  # the Edit menu's item
    assert "gamma" in texts[0]
    assert (root / "gamma").is_dir()

    def delete(box):
        [button] = [b for b in box.buttons() if b.text() == "Delete"]
        button.click()

    answer_modal(qtbot, delete)
    panel.actions["Delete…"].trigger()  # the Edit menu's item
    assert not (root / "gamma").exists()
    assert "gamma" not in column(panel, "name") and len(column(panel, "name")) == 3


def test_delete_refuses_a_run_being_written(qtbot, session, tmp_path):
    make_run(tmp_path, "live", status="running", pid=os.getppid())  # alive, and not this process
    panel = RunsPanel(session, root=tmp_path)
    qtbot.addWidget(panel)
    assert column(panel, "status") == ["running"]
    select_names(panel, "live")
    opened = answer_modal(qtbot, lambda d: d.reject())
    panel.delete_selected()
    qtbot.wait(100)
    opened.stop()
    assert not opened  # no question asked: refused at once
    assert "being written" in panel.status.text() and "live" in panel.status.text()
    assert (tmp_path / "live").is_dir()


def test_new_and_changed_runs_appear_on_the_poll(qtbot, panel, root):
    make_run(root, "epsilon", created="2026-12-02T09:00:00+0000")
    (root / "alpha" / "annotations.json").write_text(json.dumps({"name": "alpha (edited elsewhere)"}))
    os.utime(root / "alpha", ns=(1, 1))  # the folder's mtime moved, as an atomic replace moves it
    panel.poll()
    names = column(panel, "name")
    assert names[0] == "epsilon" and "alpha (edited elsewhere)" in names
    before = [r.run for r in panel.model.rows]
    panel.poll()  # nothing changed: nothing re-read
    assert [r.run for r in panel.model.rows] == before and all(a is b for a, b in zip(
        before, [r.run for r in panel.model.rows], strict=True))


def test_export_csv_writes_the_selected_rows_and_reads_back(qtbot, panel, tmp_path):
    select_names(panel, "alpha", "beta")
    path = tmp_path.parent / f"{tmp_path.name}-export.csv"
    assert panel.export_csv(str(path)) == str(path)
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["name"] for r in rows) == ["alpha", "beta"]
    by_name = {r["name"]: r for r in rows}
    assert float(by_name["beta"]["learning_rate"]) == 0.02 and by_name["beta"]["optimizer"] == "sgd"
    assert float(by_name["alpha"]["best_val_acc"]) == pytest.approx(panel.selection.runs[
        str(tmp_path / "alpha")].metrics["best_val_acc"])
    panel.view.selectionModel().clearSelection()
    with open(panel.export_csv(str(path)), newline="") as f:
        assert len(list(csv.DictReader(f))) == 4  # no selection: every row shown


def test_table_selection_is_the_shared_selection(qtbot, panel, root):
    select_names(panel, "alpha", "gamma")
    assert sorted(panel.selection.selected) == sorted([str(root / "alpha"), str(root / "gamma")])
    assert all(panel.selection.color(k) for k in panel.selection.selected)
    row = column(panel, "name").index("alpha")
    assert panel.proxy.index(row, 0).data(Qt.ItemDataRole.DecorationRole) is not None  # its colour swatch
    panel.selection.select([str(root / "beta")])  # another view selects
    assert [panel.proxy.index(i.row(), 0).data(KEY_ROLE)
            for i in panel.view.selectionModel().selectedRows()] == [str(root / "beta")]


def test_export_csv_through_its_file_dialog(qtbot, panel, tmp_path):
    path = tmp_path.parent / f"{tmp_path.name}-dialog.csv"

    def choose(dialog):  # typed into the dialog's file name field once it is filled in, then Save
        def type_and_save():
            dialog.findChild(QLineEdit, "fileNameEdit").setText(str(path))
            dialog.accept()

        QTimer.singleShot(100, type_and_save)

    answer_modal(qtbot, choose)
    panel.actions["Export CSV…"].trigger()
    with open(path, newline="") as f:
        assert sorted(r["name"] for r in csv.DictReader(f)) == ["alpha", "beta", "delta", "gamma"]
    assert "Exported 4 run(s)" in panel.status.text()
    assert panel.timer.isActive() and panel.timer.interval() <= 5000  # new runs appear on their own


def test_another_root_replaces_the_rows(qtbot, panel, tmp_path_factory):
    other = tmp_path_factory.mktemp("other-root")
    make_run(other, "elsewhere")
    select_names(panel, "alpha")
    panel.set_root(other)
    assert column(panel, "name") == ["elsewhere"] and panel.selection.selected == []
    assert str(other) in panel.status.text()
