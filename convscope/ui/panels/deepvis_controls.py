"""The activation-maximization settings as a compact, collapsible group of controls.

One spin box (or check box / combo) per field of ``ActMaxSettings`` the user may tune,
plus the number of top-k patches, and a "Defaults" button. Edits are gathered for a
short moment (``DEBOUNCE_MS``) and then announced once as ``changed(settings, k)``, so
typing "128" asks for one computation, not three.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QSignalBlocker, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QGridLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)
from superqt import QCollapsible

from convscope.probes.deepvis import MAX_BLUR_SIGMA, OBJECTIVES, ActMaxSettings
from convscope.probes.topk import DEFAULT_K

DEBOUNCE_MS = 400
COLUMNS = 2  # label + control pairs per row: narrow enough for a small dock


@dataclass(frozen=True)
class Field:
    name: str  # an ActMaxSettings field, or "k"
    label: str
    tip: str
    lo: float = 0.0
    hi: float = 1.0
    step: float = 1.0
    decimals: int = -1  # -1: an integer spin box


FIELDS = (
    Field("steps", "Steps", "Gradient-ascent steps (more: sharper, slower)", 1, 10000, 16),
    Field("learning_rate", "Step size", "Size of each normalised gradient step, in pixel units", 0.001, 1.0, 0.01, 3),
    Field("l2_decay", "L2 decay", "Pull towards grey each step: v ← (1 − decay)·v", 0.0, 0.5, 0.005, 3),
    Field("blur_every", "Blur every", "Gaussian blur every this many steps (0: never)", 0, 100, 1),
    Field("blur_sigma", "Blur σ (px)", "Width of the Gaussian blur, in pixels", 0.0, MAX_BLUR_SIGMA, 0.1, 2),
    Field("norm_clip", "Norm clip %", "Zero the pixels whose norm is below this percentile (0: off)", 0, 99, 5, 0),
    Field("contrib_clip", "Contrib. clip %",
          "Zero the pixels whose contribution |v·grad| is below this percentile (0: off)", 0, 99, 5, 0),
    Field("jitter", "Jitter (px)", "Random shift of up to this many pixels each step", 0.0, 8.0, 0.5, 1),
    Field("scale", "Scale ±", "Random zoom in [1 − s, 1 + s] each step", 0.0, 0.5, 0.01, 2),
    Field("rotate", "Rotate ± (°)", "Random rotation of up to this many degrees each step", 0.0, 45.0, 1.0, 0),
    Field("k", "Top-k", "Validation patches shown per channel", 1, 25, 1),
)


def summary(settings: ActMaxSettings, k: int) -> str:
    """One line for the collapsed group's title."""
    s = settings
    blur = f"blur σ {s.blur_sigma:g}/{s.blur_every}" if s.blur_every and s.blur_sigma else "no blur"
    parts = [f"{s.steps} steps", f"L2 {s.l2_decay:g}", blur, f"jitter {s.jitter:g}px"]
    if s.norm_clip or s.contrib_clip:
        parts.append(f"clip {s.norm_clip:g}/{s.contrib_clip:g}%")
    if s.fourier:
        parts.append("Fourier")
    parts.append(f"top-{k}")
    return "Settings: " + " · ".join(parts)


class RegularizerControls(QWidget):
    """Collapsible settings for activation maximization and top-k; ``changed(settings, k)``."""

    changed = Signal(object, int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.settings = ActMaxSettings()
        self.k = DEFAULT_K
        self.boxes: dict[str, QSpinBox | QDoubleSpinBox] = {}
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._announce)

        body = QWidget()
        grid = QGridLayout(body)
        grid.setContentsMargins(4, 0, 4, 4)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(3)
        for i, f in enumerate(FIELDS):
            box: QSpinBox | QDoubleSpinBox
            if f.decimals < 0:
                box = QSpinBox()
                box.setRange(int(f.lo), int(f.hi))
                box.setSingleStep(int(f.step))
            else:
                box = QDoubleSpinBox()
                box.setDecimals(f.decimals)
                box.setRange(f.lo, f.hi)
                box.setSingleStep(f.step)
            box.setKeyboardTracking(False)  # a value counts when typing ends
            box.setToolTip(f.tip)
            box.valueChanged.connect(self._edited)
            label = QLabel(f.label)
            label.setToolTip(f.tip)
            row, col = divmod(i, COLUMNS)
            grid.addWidget(label, row, 2 * col)
            grid.addWidget(box, row, 2 * col + 1)
            self.boxes[f.name] = box
        self.objective = QComboBox()
        self.objective.addItems(list(OBJECTIVES))
        self.objective.setToolTip("center: the channel at the map's centre; mean: its spatial mean")
        self.objective.currentIndexChanged.connect(self._edited)
        self.fourier = QCheckBox("Fourier parametrization")
        self.fourier.setToolTip("Decorrelated 1/f image parametrization (Lucid): smoother images")
        self.fourier.toggled.connect(self._edited)
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("Back to the default settings")
        self.defaults_button.clicked.connect(self.restore_defaults)
        # The other controls take the next slots of the grid, in the same two columns.
        slot = len(FIELDS)
        row, col = divmod(slot, COLUMNS)
        grid.addWidget(QLabel("Objective"), row, 2 * col)
        grid.addWidget(self.objective, row, 2 * col + 1)
        row, col = divmod(slot + 1, COLUMNS)
        grid.addWidget(self.fourier, row, 2 * col, 1, 2)
        row, col = divmod(slot + 2, COLUMNS)
        grid.addWidget(self.defaults_button, row, 2 * col, 1, 2)
        for col in range(1, 2 * COLUMNS, 2):
            grid.setColumnStretch(col, 1)

        self.group = QCollapsible(summary(self.settings, self.k))
        self.group.setToolTip("Regularizers of activation maximization (click to show or hide)")
        self.group.addWidget(body)
        self.group.setDuration(0)  # no animation: it would re-lay out the plots for 100 ms
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.group)
        self._show(self.settings, self.k)

    def _show(self, settings: ActMaxSettings, k: int) -> None:
        values: dict[str, Any] = {f.name: getattr(settings, f.name, k) for f in FIELDS}
        values["k"] = k
        for name, box in self.boxes.items():
            with QSignalBlocker(box):
                box.setValue(values[name])
        with QSignalBlocker(self.objective):
            self.objective.setCurrentText(settings.objective)
        with QSignalBlocker(self.fourier):
            self.fourier.setChecked(settings.fourier)
        self.group.setText(summary(settings, k))

    def read(self) -> tuple[ActMaxSettings, int]:
        """The settings the controls show (raises ValueError if they are out of range)."""
        changes: dict[str, Any] = {
            name: box.value() for name, box in self.boxes.items() if name != "k"
        }
        changes["objective"] = self.objective.currentText()
        changes["fourier"] = self.fourier.isChecked()
        return self.settings.replace(**changes), int(self.boxes["k"].value())

    def set_settings(self, settings: ActMaxSettings, k: int | None = None) -> None:
        """Show ``settings`` and announce them (at once)."""
        self._show(settings, self.k if k is None else k)
        self._timer.stop()
        self._announce()

    def restore_defaults(self) -> None:
        self.set_settings(ActMaxSettings(), DEFAULT_K)

    def _edited(self, *_args: Any) -> None:
        self._timer.start()

    def flush(self) -> None:
        """Announce pending edits now (tests, and before the panel computes)."""
        if self._timer.isActive():
            self._timer.stop()
            self._announce()

    def _announce(self) -> None:
        settings, k = self.read()
        if settings != self.settings or k != self.k:
            self.settings, self.k = settings, k
            self.group.setText(summary(settings, k))
            self.changed.emit(settings, k)
