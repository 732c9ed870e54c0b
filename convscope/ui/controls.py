"""Hyperparameter controls: every change reaches the running loop at once, no restart.

Sliders move over lists of readable values (1e-3, 1.5e-3, 2e-3, 3e-3 …) rather than
raw floats, so what a teacher reads off the label is what the loop gets. Controls that
are set from the loop's configuration block their signals, so nothing echoes back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget
from superqt.utils import qthrottled

from convscope.config import OPTIMIZER_LABELS, OPTIMIZERS, TrainConfig
from convscope.ui.panels.training import format_value
from convscope.ui.session import Session

SEND_EVERY_MS = 150  # a drag sends at most ~7 updates a second, and always its last value
NICE_MANTISSAS = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)


def log_values(lo_exp: int, hi_exp: int, zero: bool = False) -> list[float]:
    """1, 1.5, 2, 3, 5, 7 per decade from 10**lo_exp to 10**hi_exp (optionally 0 first)."""
    values = [0.0] if zero else []
    for e in range(lo_exp, hi_exp):
        values += [float(f"{m}e{e}") for m in NICE_MANTISSAS]
    values.append(float(f"1e{hi_exp}"))
    return values


LEARNING_RATES = log_values(-5, 0)
WEIGHT_DECAYS = log_values(-6, -1, zero=True)
MOMENTA = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.97, 0.99]
DROPOUTS = [round(0.05 * i, 2) for i in range(19)]  # 0 … 0.9
BATCH_SIZES = [2**k for k in range(4, 11)]  # 16 … 1024
# Optimizers that use the momentum setting (Adam has its own β₁).
USES_MOMENTUM = ("momentum", "rmsprop")


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


class HyperparameterControls(QWidget):
    """Learning rate, optimizer, momentum, weight decay, dropout and batch size."""

    title = "Hyperparameters"
    area = "left"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.learning_rate = ValueSlider(LEARNING_RATES)
        self.optimizer = QComboBox()
        for name in OPTIMIZERS:
            self.optimizer.addItem(OPTIMIZER_LABELS[name], name)
        self.momentum = ValueSlider(MOMENTA, fmt=lambda v: f"{v:.2f}")
        self.weight_decay = ValueSlider(WEIGHT_DECAYS)
        self.dropout = ValueSlider(DROPOUTS, fmt=lambda v: f"{v:.2f}")
        self.batch_size = ValueSlider(BATCH_SIZES, fmt=lambda v: str(int(v)), tracking=False)
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
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.error)
        layout.addStretch(1)

        self.learning_rate.setToolTip("Step size of each update (log scale). Applied at the next step.")
        self.momentum.setToolTip("Fraction of the previous update kept (SGD + momentum, RMSprop).")
        self.weight_decay.setToolTip("L2 penalty pulling every weight towards zero.")
        self.dropout.setToolTip("Fraction of dense activations zeroed at random while training.")
        self.batch_size.setToolTip("Examples per step. A size used for the first time compiles once.")

        self._throttled: dict[str, Any] = {}
        for name in ("learning_rate", "momentum", "weight_decay", "dropout"):
            send = qthrottled(partial(self._send, name), timeout=SEND_EVERY_MS, parent=self)
            self._throttled[name] = send
            getattr(self, name).valueChanged.connect(send)
        self.batch_size.valueChanged.connect(lambda v: self._send("batch_size", int(v)))
        self.optimizer.currentIndexChanged.connect(self._on_optimizer)

        session.config_changed.connect(self.show_config)
        self.show_config(session.config)

    def show_config(self, config: TrainConfig) -> None:
        """Set every control from ``config`` without sending anything back."""
        for name in ("learning_rate", "momentum", "weight_decay", "dropout", "batch_size"):
            widget = getattr(self, name)
            with QSignalBlocker(widget):
                widget.setValue(getattr(config, name))
        with QSignalBlocker(self.optimizer):
            self.optimizer.setCurrentIndex(max(0, self.optimizer.findData(config.optimizer)))
        self.momentum.setEnabled(config.optimizer in USES_MOMENTUM)
        self._show_error("")

    def flush(self) -> None:
        """Send any value a throttled slider is still holding back."""
        for send in self._throttled.values():
            send.flush()

    def _on_optimizer(self, _index: int) -> None:
        name = self.optimizer.currentData()
        self.momentum.setEnabled(name in USES_MOMENTUM)
        self._send("optimizer", name)

    def _send(self, name: str, value: Any) -> None:
        self._show_error(self.session.set_hyperparams(**{name: value}))

    def _show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
