"""Architecture editor: conv blocks, filters, kernel, stride, padding, pooling, dense…

Every edit builds a candidate with ``ArchSpec.uniform``. A valid candidate that
differs from the running model is marked "needs restart" and applied with one click
(a fresh initialisation); an invalid one is refused with ArchSpec's own reason, in
red, and Apply stays disabled.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from convscope.config import ACTIVATIONS, INITS, PADDINGS, POOLS, ArchSpec
from convscope.ui.frozen_layers import FrozenLayersBox
from convscope.ui.session import Session

ACTIVATION_LABELS = {
    "relu": "ReLU",
    "leaky_relu": "leaky ReLU",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "elu": "ELU",
    "gelu": "GELU",
}
INIT_LABELS = {"zeros": "zeros", "gaussian": "Gaussian", "xavier": "Xavier / Glorot", "he": "He"}
POOL_LABELS = {"max": "max", "avg": "average", "none": "none"}
PADDING_LABELS = {"valid": "valid (P = 0)", "same": "same"}


def _combo(choices: tuple[str, ...], labels: dict[str, str]) -> QComboBox:
    combo = QComboBox()
    for key in choices:
        combo.addItem(labels.get(key, key), key)
    return combo


def _spin(lo: int, hi: int, special: str = "") -> QSpinBox:
    spin = QSpinBox()
    spin.setRange(lo, hi)
    if special:
        spin.setSpecialValueText(special)
    return spin


class ArchitectureEditor(QWidget):
    """Edit the network as uniform conv blocks; Apply re-initialises with the result."""

    title = "Architecture editor"
    area = "left"
    tab_with = "Hyperparameters"  # each gets the column's full height

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.blocks = _spin(0, 12)
        self.filters = _spin(1, 1024)
        self.double = QCheckBox("double per block")
        self.kernel = _spin(1, 15)
        self.stride = _spin(1, 8)
        self.padding = _combo(PADDINGS, PADDING_LABELS)
        self.activation = _combo(ACTIVATIONS, ACTIVATION_LABELS)
        self.pool = _combo(POOLS, POOL_LABELS)
        self.pool_size = _spin(1, 8)
        self.batch_norm = QCheckBox("batch norm after each conv")
        self.dense = _spin(0, 4096, special="none")
        self.init = _combo(INITS, INIT_LABELS)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.apply_button = QPushButton("Apply (re-initialise)")
        self.apply_button.setObjectName("applyButton")
        self.revert_button = QPushButton("Revert")

        filters_row = QHBoxLayout()
        filters_row.addWidget(self.filters, stretch=1)
        filters_row.addWidget(self.double)
        pool_row = QHBoxLayout()
        pool_row.addWidget(self.pool, stretch=1)
        pool_row.addWidget(QLabel("size"))
        pool_row.addWidget(self.pool_size)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.addRow("Conv blocks", self.blocks)
        form.addRow("Filters (block 1)", filters_row)
        form.addRow("Kernel size", self.kernel)
        form.addRow("Stride", self.stride)
        form.addRow("Padding", self.padding)
        form.addRow("Activation", self.activation)
        form.addRow("Pooling", pool_row)
        form.addRow("", self.batch_norm)
        form.addRow("Dense width", self.dense)
        form.addRow("Initialization", self.init)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button, stretch=1)
        buttons.addWidget(self.revert_button)
        # Frozen layers and learning-rate multipliers: live settings of the running model.
        self.frozen_box = FrozenLayersBox(session)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.status)
        layout.addLayout(buttons)
        layout.addWidget(self.frozen_box)
        layout.addStretch(1)

        self.blocks.setToolTip("Each block: convolution → (batch norm) → activation → (pooling).")
        self.dense.setToolTip(
            "Width of the fully connected layer before the classifier (none: go straight to it)."
        )

        for spin in (self.blocks, self.filters, self.kernel, self.stride, self.pool_size, self.dense):
            spin.valueChanged.connect(self._on_edited)
        for combo in (self.padding, self.activation, self.pool, self.init):
            combo.currentIndexChanged.connect(self._on_edited)
        for box in (self.double, self.batch_norm):
            box.toggled.connect(self._on_edited)
        self.apply_button.clicked.connect(self.apply)
        self.revert_button.clicked.connect(lambda: self.show_arch(self.session.arch))
        session.arch_changed.connect(self.show_arch)
        session.candidate_changed.connect(self._show_status)
        self.show_arch(session.arch)

    # ----------------------------------------------------------------- model → controls
    def show_arch(self, spec: ArchSpec) -> None:
        """Set the controls from ``spec`` (its first block) without echoing edits."""
        first = spec.convs[0] if spec.convs else None
        values: dict[str, Any] = {
            "blocks": len(spec.convs),
            "activation": spec.activation,
            "batch_norm": spec.batch_norm,
            "dense": spec.dense[0] if spec.dense else 0,
            "init": spec.init,
        }
        if first is not None:
            values.update(
                filters=first.filters,
                kernel=first.kernel,
                stride=first.stride,
                padding=first.padding,
                pool=first.pool,
                pool_size=first.pool_size,
                double=len(spec.convs) > 1 and spec.convs[1].filters == 2 * first.filters,
            )
        for name, value in values.items():
            widget = getattr(self, name)
            with QSignalBlocker(widget):
                if isinstance(widget, QSpinBox):
                    widget.setValue(int(value))
                elif isinstance(widget, QCheckBox):
                    widget.setChecked(bool(value))
                else:
                    widget.setCurrentIndex(max(0, widget.findData(value)))
        self._update_enabled()
        self.frozen_box.rebuild(spec)
        # Controls now mirror the running model: nothing is pending, even when that
        # model (say, from a checkpoint) is not one uniform() can express.
        self.session.set_candidate(None)
        self._show_status(None, "")

    # ----------------------------------------------------------------- controls → candidate
    def candidate(self) -> ArchSpec:
        """The spec the controls describe; raises ValueError with a reason if invalid."""
        running = self.session.arch
        dense = self.dense.value()
        return ArchSpec.uniform(
            blocks=self.blocks.value(),
            filters=self.filters.value(),
            double=self.double.isChecked(),
            kernel=self.kernel.value(),
            stride=self.stride.value(),
            padding=self.padding.currentData(),
            pool=self.pool.currentData(),
            pool_size=self.pool_size.value(),
            input_shape=running.input_shape,
            num_classes=running.num_classes,
            dense=(dense,) if dense else (),
            activation=self.activation.currentData(),
            batch_norm=self.batch_norm.isChecked(),
            init=self.init.currentData(),
        )

    def apply(self) -> None:
        """Re-initialise the model with the candidate (only if it is valid and new)."""
        if self.session.candidate is not None and not self.session.candidate_error:
            self.session.reset(self.session.candidate)
            self._show_status(self.session.candidate, "", applying=True)

    def _on_edited(self, *_args: object) -> None:
        self._update_enabled()
        try:
            spec = self.candidate()
        except ValueError as exc:
            self.session.set_candidate(None, str(exc))
        else:
            self.session.set_candidate(spec)

    def _update_enabled(self) -> None:
        has_blocks = self.blocks.value() > 0
        for widget in (self.filters, self.double, self.kernel, self.stride, self.padding, self.pool):
            widget.setEnabled(has_blocks)
        self.pool_size.setEnabled(has_blocks and self.pool.currentData() != "none")
        self.double.setEnabled(has_blocks and self.blocks.value() > 1)

    def _show_status(self, candidate: ArchSpec | None, error: str, applying: bool = False) -> None:
        if error:
            text, kind = f"Refused: {error}", "error"
        elif applying:
            text, kind = "Re-initialising with the new architecture…", "pending"
        elif candidate is not None:
            text, kind = "Needs restart: press Apply to re-initialise with this architecture.", "pending"
        else:
            text, kind = "Matches the running model.", "ok"
        self.status.setText(text)
        self.status.setProperty("kind", kind)
        self.status.style().unpolish(self.status)
        self.status.style().polish(self.status)
        self.apply_button.setEnabled(candidate is not None and not error and not applying)
        self.revert_button.setEnabled(candidate is not None or bool(error))
