"""The activation-maximization settings as a compact, collapsible group of controls.

One spin box (or check box / combo) per field of ``ActMaxSettings`` the user may tune,
plus the number of top-k patches, and a "Defaults" button; each tooltip says what the
setting does and its default (read from ``ActMaxSettings()``, so the two cannot drift
apart). Edits are gathered for a short moment (``DEBOUNCE_MS``) and then announced once
as ``changed(settings, k)``, so typing "128" asks for one computation, not three.
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
    Field("steps", "Steps", "Gradient-ascent steps: more give sharper images and take longer", 1, 10000, 16),
    Field("learning_rate", "Step size", "How far each step moves the pixels (the gradient is normalised to "
          "an RMS of 1; pixels are in [0, 1])", 0.001, 1.0, 0.01, 3),
    Field("l2_decay", "L2 decay", "L2 decay: each step shrinks the image's difference from grey, "
          "v ← (1 − decay)·v, so that a few pixels cannot grow extreme; what stays is what the channel "
          "needs", 0.0, 0.5, 0.005, 3),
    Field("blur_every", "Blur every", "Gaussian blur every this many steps: removes the high-frequency "
          "noise gradient ascent builds up (0: never)", 0, 100, 1),
    Field("blur_sigma", "Blur σ (px)", "Width of that blur, in pixels: wider is smoother but lowers the "
          "activation reached", 0.0, MAX_BLUR_SIGMA, 0.1, 2),
    Field("norm_clip", "Norm clip %", "Norm clip: after each step, set this share of each image's pixels, "
          "those of smallest norm, to grey, so that only the strong parts stay (0: off)", 0, 99, 5, 0),
    Field("contrib_clip", "Contrib. clip %",
          "Contribution clip: after each step, set this share of the pixels, those that contribute least "
          "|pixel·gradient| to the activation, to grey; outside the unit's receptive field they contribute "
          "nothing and go first (0: off)", 0, 99, 5, 0),
    Field("jitter", "Jitter (px)", "Each step sees the image shifted at random by up to this many pixels, "
          "so the image must work at any position, not as one fragile pattern", 0.0, 8.0, 0.5, 1),
    Field("scale", "Scale ±", "Each step sees the image zoomed at random by a factor in [1 − s, 1 + s]",
          0.0, 0.5, 0.01, 2),
    Field("rotate", "Rotate ± (°)", "Each step sees the image rotated at random by up to this many degrees",
          0.0, 45.0, 1.0, 0),
    Field("k", "Top-k", "Validation patches shown per channel, best first", 1, 25, 1),
)
DEFAULTS = ActMaxSettings()
OBJECTIVE_TIP = ("What is maximised. center: the channel at the centre of its map (the image fills the "
                 "unit's receptive field, grey outside it); mean: the channel's mean over the map "
                 "(patterns over the whole frame)")
FOURIER_TIP = ("Steps in Lucid's decorrelated 1/f Fourier parametrization: smoother, lower-frequency "
               "images (on small inputs: colour blobs over the whole frame)")


def default_text(name: str) -> str:
    """The default of an ActMaxSettings field (or of "k") as the controls show it."""
    value = DEFAULT_K if name == "k" else getattr(DEFAULTS, name)
    if isinstance(value, bool):
        return "on" if value else "off"
    if name in ("norm_clip", "contrib_clip") and not value:
        return "0 (off)"
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def tip(text: str, name: str) -> str:
    return f"{text}. Default: {default_text(name)}."


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
            box.setToolTip(tip(f.tip, f.name))
            box.valueChanged.connect(self._edited)
            label = QLabel(f.label)
            label.setToolTip(tip(f.tip, f.name))
            row, col = divmod(i, COLUMNS)
            grid.addWidget(label, row, 2 * col)
            grid.addWidget(box, row, 2 * col + 1)
            self.boxes[f.name] = box
        self.objective = QComboBox()
        self.objective.addItems(list(OBJECTIVES))
        self.objective.setToolTip(tip(OBJECTIVE_TIP, "objective"))
        self.objective.currentIndexChanged.connect(self._edited)
        self.fourier = QCheckBox("Fourier parametrization")
        self.fourier.setToolTip(tip(FOURIER_TIP, "fourier"))
        self.fourier.toggled.connect(self._edited)
        self.defaults_button = QPushButton("Defaults")
        self.defaults_button.setToolTip("Back to the defaults: " + summary(DEFAULTS, DEFAULT_K)[len("Settings: "):])
        self.defaults_button.clicked.connect(self.restore_defaults)
        # The other controls take the next slots of the grid, in the same two columns.
        slot = len(FIELDS)
        row, col = divmod(slot, COLUMNS)
        objective_label = QLabel("Objective")
        objective_label.setToolTip(self.objective.toolTip())
        grid.addWidget(objective_label, row, 2 * col)
        grid.addWidget(self.objective, row, 2 * col + 1)
        row, col = divmod(slot + 1, COLUMNS)
        grid.addWidget(self.fourier, row, 2 * col, 1, 2)
        row, col = divmod(slot + 2, COLUMNS)
        grid.addWidget(self.defaults_button, row, 2 * col, 1, 2)
        for col in range(1, 2 * COLUMNS, 2):
            grid.setColumnStretch(col, 1)

        self.group = QCollapsible(summary(self.settings, self.k))
        self.group.setToolTip("Regularizers of activation maximization (click to show or hide); each "
                              "control's tip says what it does and its default")
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
