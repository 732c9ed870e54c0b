"""Hyperparameter controls: every change reaches the running loop at once, no restart.

Sliders move over lists of readable values (1e-3, 1.2e-3, 1.5e-3, 2e-3 …) rather than
raw floats, so what a teacher reads off the label is what the loop gets. Controls that
are set from the loop's configuration block their signals, so nothing echoes back.

The learning rate, the one setting that can ruin a trained network in a single step,
has stops at most 1.33× apart, applies a drag only where it is released (the box
beside it shows the value under the thumb meanwhile), takes a typed value (``3e-4``),
and warns in the status bar when a change is large enough to diverge: above the
optimizer's ``LR_TOO_HIGH`` (Adam and RMSprop 1e-2, SGD 0.3), or ten times or more
the previous rate at once.

The Augmentation group (its checkbox is the master switch) holds one slider per
strength, all live (traced in the step, so none recompiles), and a preview grid of
training examples augmented by the step's own function (ui/panels/augment_preview.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMainWindow,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)
from superqt.utils import qthrottled

from convscope.config import (
    LR_TOO_HIGH,
    NORMALIZATION_LABELS,
    NORMALIZATIONS,
    OPTIMIZER_LABELS,
    OPTIMIZERS,
    TrainConfig,
)
from convscope.ui.panels.augment_preview import AugmentPreview
from convscope.ui.session import Session
from convscope.viz.value_text import format_value

SEND_EVERY_MS = 150  # a drag sends at most ~7 updates a second, and always its last value
NICE_MANTISSAS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)
FINE_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)  # neighbours ≤ 1.33× apart
JUMP_WARNING = 10.0  # a learning rate this many times the previous one at once is warned about


def log_values(
    lo_exp: int, hi_exp: int, zero: bool = False, mantissas: Sequence[float] = NICE_MANTISSAS
) -> list[float]:
    """1, 1.5, 2, 3, 5, 7 (or ``mantissas``) per decade from 10**lo_exp to 10**hi_exp
    (optionally 0 first)."""
    values = [0.0] if zero else []
    for e in range(lo_exp, hi_exp):
        values += [float(f"{m:g}e{e}") for m in mantissas]
    values.append(float(f"1e{hi_exp}"))
    return values


LEARNING_RATES = log_values(-5, 0, mantissas=FINE_MANTISSAS)
WEIGHT_DECAYS = log_values(-6, -1, zero=True)
MOMENTA = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99]
DROPOUTS = [round(0.05 * i, 2) for i in range(19)]  # 0 … 0.9
BATCH_SIZES = [2**k for k in range(4, 11)]  # 16 … 1024
# Optimizers that use the momentum setting (Adam has its own β₁).
USES_MOMENTUM = ("momentum", "rmsprop")
OPTIMIZER_TIPS = {
    "sgd": "Plain gradient descent: learning rate (and weight decay) only; the momentum slider does not apply.",
    "momentum": "SGD with heavy-ball momentum: uses the momentum slider.",
    "adam": "Adam (β₁ 0.9, β₂ 0.999, ε 1e-8): the momentum slider does not apply. Learning rates above 1e-2 often diverge.",
    "rmsprop": "RMSprop (decay 0.9, ε 1e-8) with the momentum slider's momentum (0: plain RMSprop). "
               "Learning rates above 1e-2 often diverge.",
}
SHIFTS = list(range(9))  # whole pixels
FLIPS = [round(0.1 * i, 1) for i in range(11)]
ROTATIONS = [0.0, 2.0, 5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 90.0, 180.0]  # degrees
ZOOMS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]
JITTERS = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0]
# (field, label, values, format, tooltip) of each augmentation slider.
AUGMENT_SLIDERS = (
    ("augment_shift", "Shift", SHIFTS, lambda v: f"±{int(v)} px",
     "Move each image by up to this many whole pixels (zero fill)."),
    ("augment_flip", "Flip", FLIPS, lambda v: f"{v:.0%}",
     "Chance of mirroring left↔right. Not for digits or text: a mirrored 2 is no 2."),
    ("augment_rotate", "Rotate", ROTATIONS, lambda v: f"±{v:g}°", "Turn each image by up to this angle."),
    ("augment_zoom", "Zoom", ZOOMS, lambda v: f"±{v:.0%}", "Scale each image by 1 ± this, about its centre."),
    ("augment_brightness", "Brightness", JITTERS, lambda v: f"±{v:g}",
     "Add up to ± this to every pixel (pixels run from 0 to 1)."),
    ("augment_contrast", "Contrast", JITTERS, lambda v: f"±{v:.0%}",
     "Stretch or squeeze each image's pixels about its mean by up to this much."),
    ("augment_saturation", "Saturation", JITTERS, lambda v: f"±{v:.0%}",
     "Make colours up to this much stronger or greyer (colour images only)."),
)


class ValueSlider(QWidget):
    """A horizontal slider over a sorted list of values, with the value shown beside it.

    ``tracking=False`` emits only when the drag ends (batch size: every new size
    compiles once, so the sizes passed over on the way must not be sent).
    """

    valueChanged = Signal(object)

    def __init__(
        self,
        values: Sequence[float],
        fmt: Callable[[Any], str] = format_value,
        tracking: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.values = list(values)
        self._fmt = fmt
        self._value: Any = self.values[0]
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, len(self.values) - 1)
        self.slider.setPageStep(max(1, len(self.values) // 6))
        self.slider.setTracking(tracking)
        self.label = QLabel()
        self.label.setObjectName("sliderValue")
        self.label.setMinimumWidth(self.label.fontMetrics().horizontalAdvance("0.000000") + 8)
        self.label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, stretch=1)
        layout.addWidget(self.label)
        self.slider.valueChanged.connect(self._on_slider)
        self.slider.sliderMoved.connect(lambda i: self.label.setText(self._fmt(self.values[i])))
        self._show()

    def value(self) -> Any:
        return self._value

    def setValue(self, value: Any) -> None:
        """Show ``value`` exactly (the slider goes to the nearest position); no signal."""
        self._value = value
        nearest = min(range(len(self.values)), key=lambda i: abs(self.values[i] - value))
        with QSignalBlocker(self.slider):
            self.slider.setValue(nearest)
        self._show()

    def _on_slider(self, index: int) -> None:
        self._value = self.values[index]
        self._show()
        self.valueChanged.emit(self._value)

    def _show(self) -> None:
        self.label.setText(self._fmt(self._value))


class LearningRateControl(ValueSlider):
    """The learning-rate slider with a box that shows its value and takes a typed one.

    A drag applies where it is released (the box follows the thumb meanwhile): a learning
    rate passed over on the way is never sent. A typed value is used exactly, the slider
    going to the nearest stop; ``rejected`` says why a text is not a learning rate.
    """

    rejected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(LEARNING_RATES, tracking=False, parent=parent)
        self.entry = QLineEdit()
        self.entry.setObjectName("learningRateEntry")
        self.entry.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.entry.setMaximumWidth(self.entry.fontMetrics().horizontalAdvance("0.000000") + 16)
        self.entry.setToolTip("Type a learning rate (3e-4, 0.002) and press Enter.")
        self.layout().replaceWidget(self.label, self.entry)
        self.label.hide()
        self.slider.sliderMoved.connect(lambda i: self.entry.setText(self._fmt(self.values[i])))
        self.entry.editingFinished.connect(self._on_typed)
        self._show()

    def _show(self) -> None:
        super()._show()
        if hasattr(self, "entry"):
            self.entry.setText(self._fmt(self._value))

    def _on_typed(self) -> None:
        text = self.entry.text().strip()
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not (value > 0 and value != float("inf")):
            self._show()
            self.rejected.emit(f"learning rate: {text!r} is not a positive number (type e.g. 3e-4 or 0.01)")
            return
        if value == self._value:
            return
        self.setValue(value)
        self.valueChanged.emit(value)


def learning_rate_warning(optimizer: str, old: float, new: float) -> str:
    """Why the change ``old`` → ``new`` may make training diverge ("" if it should not)."""
    label = OPTIMIZER_LABELS[optimizer]
    ceiling = LR_TOO_HIGH[optimizer]
    if new > ceiling:
        return (f"Learning rate {format_value(new)} is high for {label} (above {format_value(ceiling)} "
                f"training often diverges or leaves units dead for good). Lower it if the loss jumps.")
    if old > 0 and new >= JUMP_WARNING * old:
        return (f"Learning rate raised {new / old:.0f}× at once ({format_value(old)} → {format_value(new)}): "
                f"a jump this large can throw a trained network off for good. Raise it in smaller steps.")
    return ""


class HyperparameterControls(QWidget):
    """Learning rate, optimizer, momentum, weight decay, dropout, batch size, input
    normalization, and the augmentation strengths with their preview."""

    title = "Hyperparameters"
    area = "left"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.learning_rate = LearningRateControl()
        self.optimizer = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer.addItem(OPTIMIZER_LABELS[name], name)
        self.momentum = ValueSlider(MOMENTA, fmt=lambda v: f"{v:.2f}")
        self.weight_decay = ValueSlider(WEIGHT_DECAYS)
        self.dropout = ValueSlider(DROPOUTS, fmt=lambda v: f"{v:.2f}")
        self.batch_size = ValueSlider(BATCH_SIZES, fmt=lambda v: str(int(v)), tracking=False)
        self.normalization = QComboBox()
        for name in NORMALIZATIONS:
            self.normalization.addItem(NORMALIZATION_LABELS[name], name)
        self.augmentation = self._augmentation_group()
        self.error = QLabel()
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Momentum", self.momentum)
        form.addRow("Weight decay", self.weight_decay)
        form.addRow("Dropout", self.dropout)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Inputs", self.normalization)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.augmentation)
        layout.addWidget(self.error)
        layout.addStretch(1)

        self.learning_rate.setToolTip(
            "Step size of each update (log scale). A drag applies where it is released; "
            "or type a value in the box. Applied at the next step."
        )
        for i, name in enumerate(OPTIMIZERS):
            self.optimizer.setItemData(i, OPTIMIZER_TIPS[name], Qt.ItemDataRole.ToolTipRole)
        self.momentum.setToolTip(
            "Fraction of the previous update kept (SGD + momentum, RMSprop). "
            "SGD has none; Adam keeps its own (β₁ 0.9)."
        )
        self.weight_decay.setToolTip("L2 penalty pulling every weight towards zero.")
        self.dropout.setToolTip("Fraction of dense activations zeroed at random while training.")
        self.batch_size.setToolTip("Examples per step. A size used for the first time compiles once.")
        self.normalization.setToolTip(
            "What the network sees: pixels / 255, minus the training set's mean per channel "
            "(Center), and divided by its standard deviation too (Standardize)."
        )

        self._throttled: dict[str, Any] = {}
        for name in ("learning_rate", "momentum", "weight_decay", "dropout"):
            send = qthrottled(partial(self._send, name), timeout=SEND_EVERY_MS, parent=self)
            self._throttled[name] = send
            getattr(self, name).valueChanged.connect(send)
        self.batch_size.valueChanged.connect(lambda v: self._send("batch_size", int(v)))
        self.learning_rate.rejected.connect(self._show_error)
        self.optimizer.currentIndexChanged.connect(self._on_optimizer)
        self.normalization.currentIndexChanged.connect(
            lambda _i: self._send("normalization", self.normalization.currentData())
        )
        for name, *_ in AUGMENT_SLIDERS:
            send = qthrottled(partial(self._send, name), timeout=SEND_EVERY_MS, parent=self)
            self._throttled[name] = send
            slider = getattr(self, name)
            slider.valueChanged.connect(send)
            # The preview follows the slider at once; the worker drops stale requests.
            slider.valueChanged.connect(self._refresh_preview)
        self.augmentation.toggled.connect(self._on_augment_toggled)

        session.config_changed.connect(self.show_config)
        session.arch_changed.connect(self._on_data)
        self._on_data()
        self.show_config(session.config)

    def _augmentation_group(self) -> QGroupBox:
        group = QGroupBox("Augmentation (training only)")
        group.setCheckable(True)
        group.setToolTip("Random changes to each training image, every step. Evaluation sees the originals.")
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        for name, label, values, fmt, tip in AUGMENT_SLIDERS:
            slider = ValueSlider(values, fmt=fmt)
            slider.setToolTip(tip)
            setattr(self, name, slider)
            form.addRow(label, slider)
        self.preview = AugmentPreview(rows=4, cols=8)
        self.new_draw = QPushButton("New draw")
        self.new_draw.setToolTip("Other random augmentations of the same examples.")
        self.new_draw.clicked.connect(self._on_new_draw)
        self.preview_caption = QLabel("What the next steps see:")
        self.preview_caption.setObjectName("caption")
        caption = QHBoxLayout()
        caption.addWidget(self.preview_caption, stretch=1)
        caption.addWidget(self.new_draw)
        layout = QVBoxLayout(group)
        layout.addLayout(form)
        layout.addLayout(caption)
        layout.addWidget(self.preview)
        self.preview.failed.connect(lambda m: self._show_error(f"Preview: {m}"))
        return group

    def show_config(self, config: TrainConfig) -> None:
        """Set every control from ``config`` without sending anything back."""
        for name in ("learning_rate", "momentum", "weight_decay", "dropout", "batch_size"):
            widget = getattr(self, name)
            with QSignalBlocker(widget):
                widget.setValue(getattr(config, name))
        with QSignalBlocker(self.optimizer):
            self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(config.optimizer)))
        self.momentum.setEnabled(config.optimizer in USES_MOMENTUM)
        with QSignalBlocker(self.normalization):
            self.normalization.setCurrentIndex(max(0, self.normalization.findData(config.normalization)))
        for name, *_ in AUGMENT_SLIDERS:
            widget = getattr(self, name)
            with QSignalBlocker(widget):
                widget.setValue(getattr(config, name))
        with QSignalBlocker(self.augmentation):
            self.augmentation.setChecked(config.augment)
        self._show_error("")
        self._refresh_preview()

    def preview_config(self) -> TrainConfig:
        """The session's configuration with the augmentation the controls show now
        (a throttled slider may not have sent its value yet)."""
        changes: dict[str, Any] = {name: getattr(self, name).value() for name, *_ in AUGMENT_SLIDERS}
        changes["augment_shift"] = int(changes["augment_shift"])
        try:
            return self.session.config.replace(augment=self.augmentation.isChecked(), **changes)
        except ValueError:
            return self.session.config

    def _refresh_preview(self, *_args: Any) -> None:
        self.preview.request(self.preview_config())

    def _on_new_draw(self) -> None:
        self.preview.new_draw()
        self._refresh_preview()

    def _on_augment_toggled(self, on: bool) -> None:
        self._send("augment", on)
        self._refresh_preview()

    def _on_data(self, *_args: Any) -> None:
        """A (new) data set: preview its images; saturation only where there is colour."""
        x = getattr(self.session.dataset, "x_train", None)
        if x is not None:
            self.preview.set_images(x)
        shape = getattr(self.session.dataset, "image_shape", None)
        color = shape is not None and shape[-1] == 3
        self.augment_saturation.setEnabled(color)

    def flush(self) -> None:
        """Send any value a throttled slider is still holding back."""
        for send in self._throttled.values():
            send.flush()

    def _on_optimizer(self, _index: int) -> None:
        name = self.optimizer.currentData()
        self.momentum.setEnabled(name in USES_MOMENTUM)
        self._send("optimizer", name)

    def _send(self, name: str, value: Any) -> None:
        before = self.session.config
        error = self.session.set_hyperparams(**{name: value})
        self._show_error(error)
        if error or name not in ("learning_rate", "optimizer"):
            return
        # A switch of optimizer keeps the rate, so only the new optimizer's ceiling applies
        # (SGD's 0.1 is ten times Adam's).
        after = self.session.config
        warning = learning_rate_warning(after.optimizer, before.learning_rate, after.learning_rate)
        if warning:
            self._warn(warning)

    def _warn(self, message: str) -> None:
        """A warning in the window's status bar (its notice line where it has one)."""
        window = self.window()
        show_notice = getattr(window, "show_notice", None)
        if callable(show_notice):
            show_notice("warning", message)
        elif isinstance(window, QMainWindow):
            window.statusBar().showMessage(message, 10000)

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
