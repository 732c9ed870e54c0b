"""File ▸ Start From Checkpoint…: transfer learning in the window.

The loaded data set keeps training, but the model starts from a checkpoint trained on
another data set (train/transfer.py): layers whose shapes fit are copied, a grey ↔
colour first layer is adapted, the classifier is rebuilt for these classes. What became
of each layer is shown in a box when the loop has done it (a :class:`Transferred`
event); a checkpoint that does not fit is refused in the notice line, naming the layer,
and the model stays as it was. Freeze layers in the Architecture editor.
"""

from __future__ import annotations

from PySide6.QtGui import QAction
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from convscope import events as ev

CHECKPOINT_FILTER = "ConvScope checkpoints (*.npz);;All files (*)"


class TransferActions:
    """The action, its file dialog, and the summary box of the last transfer."""

    def __init__(self, window: QMainWindow) -> None:
        self.window = window
        self.box: QMessageBox | None = None  # the summary of the last transfer (tests read it)
        self.action = QAction("Start From Check&point…", window)
        self.action.setToolTip("Transfer learning: a fresh model on this data set that starts from a "
                               "checkpoint trained on another (what fits is copied, the classifier rebuilt)")
        self.action.triggered.connect(lambda: self.start_from())
        window.session.bridge.event_received.connect(self._on_event)  # type: ignore[attr-defined]

    def start_from(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self.window, "Start from checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.window.session.start_from(path)  # type: ignore[attr-defined]
            self.window.statusBar().showMessage(f"Starting from {path}…", 4000)

    def _on_event(self, event: object) -> None:
        if isinstance(event, ev.Transferred):
            self.show_summary(event)

    def show_summary(self, event: ev.Transferred) -> None:
        """A non-modal box: one line per layer (copied, adapted, rebuilt)."""
        if self.box is not None:
            self.box.close()
        box = QMessageBox(QMessageBox.Icon.Information, "Started from a checkpoint",
                          f"The model now starts from {event.path}"
                          + (f", trained on {event.trained_on}" if event.trained_on else "") + ".",
                          QMessageBox.StandardButton.Ok, self.window)
        lines = list(event.lines)
        notes = []
        if any("grey → colour" in line for line in lines):
            notes.append("The first layer was trained on grey images: its kernel is replicated over the colour "
                         "channels and divided by their number, so on a grey picture it responds as before.")
        if any("colour → grey" in line for line in lines):
            notes.append("The first layer was trained on colour images: its kernel is summed over the channels.")
        notes.append("Rebuilt layers start from fresh random weights. Freeze layers in the Architecture editor "
                     "to train only the others (e.g. only the classifier).")
        box.setInformativeText("\n".join(["Layers:", *(f"  • {line}" for line in lines), "", *notes]))
        box.setModal(False)
        box.show()
        self.box = box


def install(window: QMainWindow) -> TransferActions:
    """Add File ▸ Start From Checkpoint… after Open Checkpoint."""
    actions = TransferActions(window)
    menu = window.file_menu  # type: ignore[attr-defined]
    after = window.open_action  # type: ignore[attr-defined]
    entries = menu.actions()
    nxt = entries[entries.index(after) + 1] if after in entries and entries.index(after) + 1 < len(entries) else None
    menu.insertAction(nxt, actions.action) if nxt is not None else menu.addAction(actions.action)
    return actions
