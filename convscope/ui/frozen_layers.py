"""The Architecture editor's "Frozen layers" box: per layer, frozen or not, and its
learning-rate multiplier.

Both are live settings of the running model (``TrainConfig.frozen`` and
``TrainConfig.lr_multipliers``, train/freeze.py): a change applies at once through the
session, the weights are kept, nothing recompiles. The box is rebuilt when the running
model's layers change and follows the session's ``frozen_changed``.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QCheckBox, QDoubleSpinBox, QGridLayout, QGroupBox, QLabel, QWidget

from convscope.config import LR_MULTIPLIER_MAX, ArchSpec, freezable_layers
from convscope.ui.session import Session

PAIRS_PER_ROW = 1  # one layer a row: two would widen the editor past its column at 1280×720


class FrozenLayersBox(QGroupBox):
    """One checkbox and one "lr ×" spin box per freezable layer of the running model."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__("Frozen layers (no update)", parent)
        self.session = session
        self.setToolTip(
            "A frozen layer keeps its weights exactly (its batch norm too, normalising with its running\n"
            "statistics). Freeze the first layers of a model started from another data set's checkpoint\n"
            "(File ▸ Start From Checkpoint…) to fine-tune only the rest; freeze all but the classifier to\n"
            "retrain the classifier alone. 'lr ×' multiplies that layer's learning rate.")
        self.grid = QGridLayout(self)
        self.checks: dict[str, QCheckBox] = {}
        self.multipliers: dict[str, QDoubleSpinBox] = {}
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.grid.addWidget(self.status, 99, 0, 1, 2 * PAIRS_PER_ROW)
        session.frozen_changed.connect(lambda _frozen: self.show_config())

    def rebuild(self, spec: ArchSpec) -> None:
        """One row entry per freezable layer of ``spec`` (kept when the names are the same)."""
        names = freezable_layers(spec)
        if tuple(self.checks) != names:
            for widget in (*self.checks.values(), *self.multipliers.values()):
                self.grid.removeWidget(widget)
                widget.deleteLater()
            self.checks, self.multipliers = {}, {}
            for i, name in enumerate(names):
                box = QCheckBox("classifier" if name == "logits" else name)
                box.setObjectName(f"frozen_{name}")
                box.toggled.connect(self._on_frozen_toggled)
                spin = QDoubleSpinBox()
                spin.setObjectName(f"lr_{name}")
                spin.setRange(0.01, LR_MULTIPLIER_MAX)
                spin.setDecimals(2)
                spin.setSingleStep(0.1)
                spin.setPrefix("lr × ")
                spin.setValue(1.0)
                spin.setToolTip(f"{name}: its learning rate is the global one times this")
                spin.valueChanged.connect(self._on_multiplier_changed)
                row, col = divmod(i, PAIRS_PER_ROW)
                self.grid.addWidget(box, row, 2 * col)
                self.grid.addWidget(spin, row, 2 * col + 1)
                self.checks[name], self.multipliers[name] = box, spin
        self.show_config()

    def show_config(self) -> None:
        """The controls as the session's config says, without echoing them back."""
        config = self.session.config
        lrs = dict(config.lr_multipliers)
        for name, box in self.checks.items():
            with QSignalBlocker(box):
                box.setChecked(name in config.frozen)
            spin = self.multipliers[name]
            with QSignalBlocker(spin):
                spin.setValue(lrs.get(name, 1.0))
            spin.setEnabled(name not in config.frozen)
        n = sum(name in config.frozen for name in self.checks)
        self.status.setText(f"{n} of {len(self.checks)} frozen: they keep their weights exactly."
                            if n else "Every layer trains.")

    def set_frozen(self, names: tuple[str, ...]) -> str:
        """Freeze exactly ``names`` (live, the weights kept); returns why refused, or ""."""
        why = self.session.set_hyperparams(frozen=tuple(names))
        if why:
            self.status.setText(f"Refused: {why}")
        else:
            self.show_config()
        return why

    def _on_frozen_toggled(self, _checked: bool) -> None:
        self.set_frozen(tuple(name for name, box in self.checks.items() if box.isChecked()))

    def _on_multiplier_changed(self, _value: float) -> None:
        pairs = tuple((name, round(spin.value(), 2)) for name, spin in self.multipliers.items())
        why = self.session.set_hyperparams(lr_multipliers=pairs)
        if why:
            self.status.setText(f"Refused: {why}")
