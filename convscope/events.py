"""Messages between the training loop (worker thread) and whoever watches it.

Events flow out of the loop, commands flow in. Both are plain dataclasses holding
Python numbers and NumPy arrays, never JAX arrays or Qt objects, so the GUI, the
command line and the tests can consume them alike. NumPy and the standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from convscope.config import ArchSpec, TrainConfig

Params = dict[str, dict[str, np.ndarray]]


# ---------------------------------------------------------------- events (out)
@dataclass(frozen=True)
class Compiling:
    """The loop is about to compile (a new architecture or a new batch size)."""

    what: str


@dataclass(frozen=True)
class Started:
    """A model is ready: emitted after (re)initialisation, before the first step."""

    arch: ArchSpec
    config: TrainConfig
    device: str  # e.g. "CPU" or "GPU (NVIDIA H100)"
    num_params: int
    train_size: int
    val_size: int
    step: int = 0  # where the model starts: 0, or a checkpoint's step
    epoch: float = 0.0  # epochs of training behind it


@dataclass(frozen=True)
class StepMetrics:
    """Training metrics averaged over the steps since the last StepMetrics."""

    step: int
    epoch: float
    loss: float
    acc: float
    lr: float
    examples_per_s: float
    time: float  # seconds of training so far (compilation excluded)


@dataclass(frozen=True)
class EvalMetrics:
    """Loss and accuracy on the whole held-out split."""

    step: int
    epoch: float
    val_loss: float
    val_acc: float
    time: float


@dataclass(frozen=True)
class Snapshot:
    """A host copy of the parameters (and batch-norm statistics) at a step.

    ``norm`` is (2, C): the mean and std that inputs scaled to [0, 1] are standardised
    with before the first layer (see convscope.model.preprocess).
    """

    step: int
    arch: ArchSpec
    params: Params
    state: Params
    norm: np.ndarray


@dataclass(frozen=True)
class HyperParamsChanged:
    """Live hyperparameters took effect at ``step`` (for markers on the curves).

    ``changes`` maps each field that really changed to ``(old, new)``.
    """

    step: int
    changes: dict[str, Any]
    config: TrainConfig


@dataclass(frozen=True)
class Notice:
    """Something the user should know (level is "info", "warning" or "error")."""

    level: str
    message: str


@dataclass(frozen=True)
class Paused:
    """The loop waits for commands. ``reason`` is empty when it obeyed Pause or Step,
    and says why when it paused by itself (e.g. "non-finite loss", "reset")."""

    step: int
    reason: str = ""


@dataclass(frozen=True)
class Saved:
    path: str
    step: int


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str  # "stopped", "done" (step/epoch budget reached)


@dataclass(frozen=True)
class Transferred:
    """The model now starts from another data set's checkpoint (train/transfer.py): one
    line per parameter layer saying whether it was copied, adapted or rebuilt."""

    path: str
    lines: tuple[str, ...]
    trained_on: str = ""


Event = (
    Compiling | Started | StepMetrics | EvalMetrics | Snapshot | HyperParamsChanged
    | Notice | Paused | Saved | Finished | Transferred
)


# -------------------------------------------------------------- commands (in)
@dataclass(frozen=True)
class SetHyperParams:
    """Change live hyperparameters (fields of TrainConfig in LIVE_FIELDS)."""

    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Pause:
    pass


@dataclass(frozen=True)
class Resume:
    pass


@dataclass(frozen=True)
class Step:
    """Run exactly one batch, then stay paused."""


@dataclass(frozen=True)
class Reset:
    """Re-initialise from scratch, optionally with a new architecture (compiles)."""

    arch: ArchSpec | None = None


@dataclass(frozen=True)
class Stop:
    pass


@dataclass(frozen=True)
class Save:
    path: str


@dataclass(frozen=True)
class Load:
    """Replace model, optimizer-free weights and configuration from a checkpoint."""

    path: str


@dataclass(frozen=True)
class StartFrom:
    """Start a fresh model on the loaded data set from a checkpoint of another data set:
    what fits is copied, the classifier rebuilt (transfer learning; train/transfer.py)."""

    path: str


@dataclass(frozen=True)
class RequestSnapshot:
    """Emit a Snapshot now (e.g. when a panel is opened while paused)."""


Command = SetHyperParams | Pause | Resume | Step | Reset | Stop | Save | Load | StartFrom | RequestSnapshot
