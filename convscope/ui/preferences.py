"""File ▸ Preferences… (Ctrl+,): the runs folder, the CPU share of the probes, the theme.

Each preference lives in the window's QSettings (none for a window built by a test or a
script unless it is handed one: then they last as long as the window):

* ``runs/root`` — where new runs are recorded; the same setting as File ▸ Runs Folder…
  (:mod:`convscope.ui.run_actions`), which this dialog goes through;
* ``probes/cpu_share`` — the most CPU time (10–100 %) the Loss landscape may take while
  the model trains: the Landscape panel's slider starts there, and the two stay in step
  (moving the slider changes the preference);
* ``appearance/theme`` — System, Light or Dark (:mod:`convscope.ui.theme`), applied at
  once, the open plots included. ``CONVSCOPE_THEME`` overrides it for one launch;
* ``training/devices`` — the most devices training may split each batch across
  (``jax.sharding``, :mod:`convscope.train.parallel`); 0, the default, is every device JAX
  sees. It takes effect when training starts afresh (Reset, a new model or data set); the
  status bar names the devices in use.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from convscope.ui import theme
from convscope.ui.panels.landscape_controls import DEFAULT_SHARE
from convscope.ui.run_actions import ROOT_KEY

SHARE_KEY = "probes/cpu_share"
THEME_KEY = "appearance/theme"
DEVICES_KEY = "training/devices"
SHARE_RANGE = (10, 100)  # the Landscape slider's range
LANDSCAPE = "Loss landscape"


def devices_seen() -> int:
    """How many devices JAX sees (it starts JAX's backend: not before the window exists)."""
    import jax

    return len(jax.devices())


# The window's loop sends the weights at most twice a second while it trains (the loop's
# own default is 4): each snapshot is a device-to-host copy on the training thread, and
# the inspection, the maps and the probes that follow it on two cores; twice a second is
# live to the eye. A step, a pause or a request still sends one at once.
LIVE_SNAPSHOT_S = 0.5


def loop_factory(device_limit: Callable[[], int | None]) -> Callable[..., Any]:
    """TrainingLoop with ``device_limit()`` read each time a model starts or is reset."""

    def make(arch: Any, config: Any, dataset: Any) -> Any:
        from convscope.train.loop import TrainingLoop

        return TrainingLoop(arch, config, dataset, device_limit=device_limit, snapshot_interval_s=LIVE_SNAPSHOT_S)

    return make


def _int(value: object, default: int) -> int:
    try:
        return int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return default


class Preferences(QObject):
    """One window's preferences: read from its settings, applied where they act."""

    changed = Signal()

    def __init__(self, window: QMainWindow, settings: QSettings | None) -> None:
        super().__init__(window)
        self.window = window
        self.settings = settings
        lo, hi = SHARE_RANGE
        self.share = min(hi, max(lo, _int(self._read(SHARE_KEY, DEFAULT_SHARE), DEFAULT_SHARE)))
        saved = self._read(THEME_KEY, theme.SYSTEM)
        self.theme = saved if saved in theme.CHOICES else theme.SYSTEM
        self.devices = max(0, _int(self._read(DEVICES_KEY, 0), 0))  # 0: all
        self.action = QAction("&Preferences…", window, shortcut=QKeySequence("Ctrl+,"))
        self.action.setToolTip("Runs folder, CPU share of the probes, theme")
        self.action.triggered.connect(lambda: self.open_dialog())
        self.dialog: PreferencesDialog | None = None
        slider = self._slider()
        if slider is not None:  # the preference is the slider's start, and they move together
            slider.setValue(self.share)
            slider.valueChanged.connect(lambda v: self.set_share(v, save=not slider.isSliderDown()))
            slider.sliderReleased.connect(lambda: self.set_share(slider.value()))

    def _read(self, key: str, default: object) -> object:
        return default if self.settings is None else self.settings.value(key, default)

    def _write(self, key: str, value: object) -> None:
        if self.settings is not None:
            self.settings.setValue(key, value)
            self.settings.sync()

    def _slider(self) -> object | None:
        panel = getattr(self.window, "panels", {}).get(LANDSCAPE)
        return None if panel is None else panel.controls.share

    @property
    def runs_root(self) -> Path:
        return self.window.runs.root  # type: ignore[attr-defined]

    def set_runs_root(self, path: str | Path) -> None:
        """New runs go to ``path`` (the window's recorder now, and the next launches)."""
        runs = self.window.runs  # type: ignore[attr-defined]
        if runs.recorder is not None:
            runs.choose_root(str(path))  # the recorder, the Runs panel, the setting
        else:
            self._write(ROOT_KEY, str(path))
        self.changed.emit()

    def set_share(self, percent: int, save: bool = True) -> None:
        """The landscape's CPU share while training (%), kept and shown on its slider."""
        lo, hi = SHARE_RANGE
        self.share = min(hi, max(lo, int(percent)))
        slider = self._slider()
        if slider is not None and slider.value() != self.share:
            slider.setValue(self.share)  # the panel applies it to its probe
        if save:
            self._write(SHARE_KEY, self.share)

    @property
    def device_limit(self) -> int | None:
        """The most devices a new training may use (None: all that JAX sees)."""
        return self.devices or None

    def set_devices(self, count: int) -> None:
        """At most ``count`` devices for the next training (0: all)."""
        self.devices = max(0, int(count))
        self._write(DEVICES_KEY, self.devices)
        self.changed.emit()

    def set_theme(self, choice: str) -> None:
        """System, light or dark, applied now to the whole application."""
        self.theme = choice if choice in theme.CHOICES else theme.SYSTEM
        self._write(THEME_KEY, self.theme)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.follower(app).set_choice(self.theme)
        self.changed.emit()

    def open_dialog(self) -> PreferencesDialog:
        """The dialog (window-modal; the event loop goes on)."""
        if self.dialog is None:
            self.dialog = PreferencesDialog(self, self.window)
        self.dialog.load()
        self.dialog.open()
        return self.dialog


class PreferencesDialog(QDialog):
    """The three preferences; OK applies what changed, Cancel nothing."""

    def __init__(self, prefs: Preferences, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.prefs = prefs
        self.setWindowTitle("Preferences")
        self.root = QLineEdit()
        self.root.setMinimumWidth(360)
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.root, 1)
        row.addWidget(browse)
        self.share = QSpinBox(minimum=SHARE_RANGE[0], maximum=SHARE_RANGE[1], singleStep=5, suffix=" %")
        self.share.setToolTip("The most CPU time the loss landscape may take while the model trains")
        self.theme = QComboBox()
        for choice in theme.CHOICES:
            self.theme.addItem(theme.LABELS[choice], choice)
        self.devices = QComboBox()
        seen = devices_seen()
        self.devices.addItem(f"All that JAX sees ({seen})", 0)
        for n in range(1, seen + 1):
            self.devices.addItem(f"At most {n}", n)
        self.devices.setEnabled(seen > 1)
        self.devices.setToolTip("How many devices each batch is split across (jax.sharding); from the next "
                                "Reset or new model. JAX sees one device here" if seen == 1 else
                                "How many devices each batch is split across (jax.sharding); from the next "
                                "Reset or new model")  # fmt: skip
        form = QFormLayout()
        form.addRow("Runs folder:", row)
        form.addRow("CPU share of the probes:", self.share)
        form.addRow("Theme:", self.theme)
        form.addRow("Training devices:", self.devices)
        note = QLabel(
            "New runs are recorded in the runs folder (--runs overrides it for one launch). "
            "The CPU share is the Loss landscape slider's. The theme changes at once, plots "
            "included; System follows the desktop's light or dark setting. Training devices "
            "apply from the next Reset or new model; the status bar names those in use."
        )
        note.setWordWrap(True)
        note.setProperty("kind", "hint")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(note)
        layout.addWidget(buttons)
        self.setWindowModality(Qt.WindowModality.WindowModal)

    def load(self) -> None:
        """Show the preferences as they are now."""
        self.root.setText(str(self.prefs.runs_root))
        self.share.setValue(self.prefs.share)
        self.theme.setCurrentIndex(max(0, self.theme.findData(self.prefs.theme)))
        self.devices.setCurrentIndex(max(0, self.devices.findData(self.prefs.devices)))

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Runs folder", self.root.text())
        if path:
            self.root.setText(path)

    def accept(self) -> None:
        p = self.prefs
        root = self.root.text().strip()
        if root and Path(root).expanduser() != p.runs_root:
            p.set_runs_root(Path(root).expanduser())
        if self.share.value() != p.share:
            p.set_share(self.share.value())
        choice = self.theme.currentData()
        if choice != p.theme:
            p.set_theme(choice)
        if self.devices.currentData() != p.devices:
            p.set_devices(int(self.devices.currentData()))
        super().accept()


def install(window: QMainWindow, settings: QSettings | None) -> Preferences:
    """File ▸ Preferences… for ``window`` (before Quit)."""
    prefs = Preferences(window, settings)
    menu, quit_action = window.file_menu, window.quit_action  # type: ignore[attr-defined]
    menu.insertAction(quit_action, prefs.action)
    menu.insertSeparator(quit_action)
    return prefs
