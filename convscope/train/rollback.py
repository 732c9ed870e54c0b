"""Where a non-finite loss sends training back to: "the last good weights".

The loop trains in chunks of steps and checks each chunk's losses and weights for
NaN/infinity. The weights at a chunk's start are the natural restore point, unless the
loss has exploded since (finite, but above both 4× the lowest so far and chance's,
ln C: worse than a guess): then the weights from before the explosion are kept. A step's
loss is of the weights before its update, so the weights a chunk with an exploded loss
started from are suspect too: the previous chunk's start is kept. Chunks end at every
snapshot step (1, 2, 5, …, ``runs/layout.py``), so a blow-up often spans several.
Plain Python and NumPy: the weights are whatever trees the loop holds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from convscope.config import LR_TOO_HIGH, TrainConfig

RESTORE_FACTOR = 4.0  # a chunk's mean loss above this × the lowest so far (and chance's) exploded

# (params, state, opt_states, step, examples_seen)
Point = tuple[Any, Any, Any, int, int]


class Rollback:
    """The restore point of one loop: :meth:`start` at a chunk's start, :meth:`after`
    a finite chunk, :meth:`point` when a chunk went non-finite."""

    def __init__(self) -> None:
        self.kept: Point | None = None  # from before an explosion, while it lasts
        self.low_loss = float("inf")  # the lowest training loss of these weights' line
        self._prev_start: Point | None = None  # where the last finite chunk began
        self._chunk_end: object = None  # the weights the last finite chunk left

    def start(self, loop: Any) -> Point:
        """The loop's state at a chunk's start (new weights since the last chunk — a
        reset, an opened file, a restore — begin the watch afresh)."""
        if loop.params is not self._chunk_end:
            self.kept, self._prev_start, self.low_loss = None, None, float("inf")
        return (loop.params, loop.state, loop.opt_states, loop.step, loop.examples_seen)

    def point(self, start: Point) -> Point:
        """Where to go back to after the chunk begun at ``start`` went non-finite."""
        point = self.kept if self.kept is not None else start
        self.kept = None
        return point

    def after(self, losses: np.ndarray, start: Point, loop: Any) -> None:
        """After a finite chunk begun at ``start``: keep the weights from before an
        explosion while it lasts, else forget them."""
        self.low_loss = min(self.low_loss, float(losses.min()))
        mean = float(losses.mean())
        chance = float(np.log(max(loop.dataset.num_classes, 2)))
        exploded = mean > RESTORE_FACTOR * self.low_loss and mean > chance
        if not exploded:
            self.kept = None
        elif self.kept is None:
            self.kept = self._prev_start if self._prev_start is not None else start
        self._prev_start = start
        self._chunk_end = loop.params


def likely_cause(config: TrainConfig) -> str:
    """A plain-language guess at which hyperparameter made the loss non-finite."""
    lr, opt = config.learning_rate, config.optimizer
    if lr > LR_TOO_HIGH[opt]:
        suggestion = "1e-3" if opt in ("adam", "rmsprop") else "0.01–0.1"
        return f"the learning rate ({lr:g}) is too high for {opt}; try about {suggestion}"
    if opt == "momentum" and config.momentum > 0.95:
        return f"the momentum ({config.momentum:g}) is very high with learning rate {lr:g}; lower either"
    return f"the learning rate ({lr:g}) is the most likely cause; lower it"
