"""A blow-up that stays finite: training that wrecks a model without a NaN (Adam at
learning rate 1 taking a 97% model to chance, momentum 0.99 sending the loss to 1e12)
is not caught by the loop's finiteness check, so it is watched for here, on the loop's
own events, and said in a warning Notice. Nothing is paused or undone: the user decides.

The rule, per model (a Started — a new model, a reset, an opened checkpoint — begins
it afresh), with ``C`` classes and chance accuracy ``1/C``:

* **accuracy collapse**: an evaluation whose validation accuracy has lost at least half
  of what the model had learned above chance — ``acc ≤ chance + (best − chance) / 2`` —
  once the best so far is at least 30 points above chance (97% → 10% warns; 97% → 90%
  does not; a model still near chance never does);
* **loss explosion**: a training loss above both 100× the lowest reported so far and
  10× the loss of a uniform guess, ``10·ln C`` (23 for ten classes).

Each warns once, and again only after the metric has come back below its threshold.
The warning names the last hyperparameter change, the usual culprit. Plain Python.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from convscope import events as ev

LEARNED_POINTS = 0.30  # best accuracy above chance before a collapse can be told
LOSS_FACTOR = 100.0  # × the lowest training loss so far
CHANCE_LOSS_FACTOR = 10.0  # × ln(classes), the loss of a uniform guess


class BlowUpWatch:
    """Feed it every event of a loop (:meth:`observe`); it returns a warning Notice when
    a finite blow-up begins, else None."""

    def __init__(self, num_classes: int) -> None:
        self.chance = 1.0 / max(num_classes, 2)
        self.chance_loss = math.log(max(num_classes, 2))
        self._begin()

    def _begin(self) -> None:
        self.best_acc = -math.inf
        self.low_loss = math.inf
        self._acc_warned = self._loss_warned = False
        self._last_change = ""

    def observe(self, event: object) -> ev.Notice | None:
        if isinstance(event, ev.Started):
            self._begin()
        elif isinstance(event, ev.HyperParamsChanged):
            self._last_change = ", ".join(f"{k} {_fmt(a)} → {_fmt(b)}" for k, (a, b) in _pairs(event).items())
            self._last_change = f"{self._last_change} at step {event.step:,}" if self._last_change else ""
        elif isinstance(event, ev.EvalMetrics) and math.isfinite(event.val_acc):
            return self._on_accuracy(event.step, event.val_acc)
        elif isinstance(event, ev.StepMetrics) and math.isfinite(event.loss):
            return self._on_loss(event.step, event.loss)
        return None

    def _on_accuracy(self, step: int, acc: float) -> ev.Notice | None:
        best = self.best_acc
        self.best_acc = max(best, acc)
        if best - self.chance < LEARNED_POINTS:
            return None
        if acc > self.chance + (best - self.chance) / 2:
            self._acc_warned = False
            return None
        if self._acc_warned:
            return None
        self._acc_warned = True
        return self._notice(f"Validation accuracy fell from {best:.0%} to {acc:.0%} at step {step:,} "
                            f"(chance is {self.chance:.0%})")

    def _on_loss(self, step: int, loss: float) -> ev.Notice | None:
        low = self.low_loss
        self.low_loss = min(low, loss)
        if not (loss > LOSS_FACTOR * low and loss > CHANCE_LOSS_FACTOR * self.chance_loss):
            self._loss_warned = False
            return None
        if self._loss_warned:
            return None
        self._loss_warned = True
        return self._notice(f"The training loss jumped to {loss:.3g} at step {step:,} (lowest so far {low:.3g})")

    def _notice(self, what: str) -> ev.Notice:
        cause = f"after {self._last_change}" if self._last_change else "a learning rate or momentum too high"
        return ev.Notice("warning", f"{what}: training is blowing up without a NaN ({cause}). Pause and lower the "
                                    "learning rate, or open a checkpoint saved before.")


def watched(events: Iterator[object], num_classes: int) -> Iterator[object]:
    """``events``, each followed by the warning it sets off, if any."""
    watch = BlowUpWatch(num_classes)
    for event in events:
        yield event
        if (warning := watch.observe(event)) is not None:
            yield warning


def _pairs(event: ev.HyperParamsChanged) -> dict[str, tuple[object, object]]:
    return {k: v if isinstance(v, tuple) and len(v) == 2 else (None, v) for k, v in event.changes.items()}


def _fmt(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
