"""The axes of a parallel-coordinates view of runs: which hyperparameters, on which
scale (log for rates spanning decades, categories for the optimizer), each value's
position in [0, 1], and the brushes that select a range of an axis.

Runs are read duck-typed (``.hparams``, ``.metrics``, ``.damaged``: a
:class:`convscope.runs.RunSummary`), so this stays NumPy-only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from convscope.config import OPTIMIZER_LABELS

# (key in the run's hparams, label); the order the axes are drawn in.
HPARAM_AXES = (
    ("learning_rate", "learning rate"),
    ("batch_size", "batch"),
    ("optimizer", "optimizer"),
    ("momentum", "momentum"),
    ("dropout", "dropout"),
    ("weight_decay", "weight decay"),
    ("augment", "augment"),
)
CATEGORICAL = {"optimizer", "augment"}
METRIC_AXES = {
    "best_val_acc": "best val. acc. %",
    "final_val_acc": "final val. acc. %",
    "best_val_loss": "best val. loss",
    "final_val_loss": "final val. loss",
}
MISSING = -0.07  # where a run without a value is drawn: just under its axis, at "n/a"


def run_value(run: Any, key: str) -> Any:
    """The run's value on axis ``key`` (a hyperparameter or a metric), None if it has none."""
    if key in METRIC_AXES:
        v = run.metrics.get(key)
        return 100.0 * v if v is not None and key.endswith("acc") else v
    return run.hparams.get(key)


def category(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "augment":
        return "on" if value else "off"
    return OPTIMIZER_LABELS.get(str(value), str(value)) if key == "optimizer" else str(value)


def _number(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return math.nan


@dataclass(frozen=True)
class Brush:
    """A range of a numeric axis (``lo`` ≤ value ≤ ``hi``) or a set of categories."""

    lo: float = -math.inf
    hi: float = math.inf
    categories: frozenset[str] | None = None

    def passes(self, key: str, value: Any) -> bool:
        if self.categories is not None:
            return value is not None and category(key, value) in self.categories
        x = _number(value)
        return self.lo <= x <= self.hi  # NaN (no value) never passes

    def describe(self, key: str) -> str:
        if self.categories is not None:
            return ", ".join(sorted(self.categories)) or "nothing"
        return f"{format_number(self.lo)} … {format_number(self.hi)}"


def format_number(v: float) -> str:
    if v == 0 or not math.isfinite(v):
        return f"{v:g}"
    if abs(v) < 0.01 or abs(v) >= 1e4:
        mantissa, exponent = f"{v:.1e}".split("e")
        return f"{mantissa.removesuffix('.0')}e{int(exponent)}"
    return f"{v:.3g}"


@dataclass(frozen=True)
class Axis:
    key: str
    label: str
    kind: str  # "log", "linear" or "category"
    lo: float = 0.0
    hi: float = 1.0
    categories: tuple[str, ...] = ()

    def position(self, value: Any) -> float:
        """Where ``value`` sits on the axis, 0 (bottom) … 1 (top); :data:`MISSING` if none."""
        if self.kind == "category":
            return self.category_position(category(self.key, value))
        x = _number(value)
        if math.isnan(x) or (self.kind == "log" and x <= 0):
            return MISSING
        if self.kind == "log":
            x, lo, hi = math.log10(x), math.log10(self.lo), math.log10(self.hi)
        else:
            lo, hi = self.lo, self.hi
        return 0.5 if hi == lo else (x - lo) / (hi - lo)

    def category_position(self, name: str) -> float:
        if not name or name not in self.categories:
            return MISSING
        n = len(self.categories)
        return 0.5 if n == 1 else self.categories.index(name) / (n - 1)

    def value_at(self, p: float) -> float:
        """The inverse of :meth:`position` for numeric axes."""
        if self.kind == "log":
            lo, hi = math.log10(self.lo), math.log10(self.hi)
            return 10.0 ** (lo + p * (hi - lo))
        return self.lo + p * (self.hi - self.lo)

    def brush(self, p0: float, p1: float) -> Brush:
        """The brush that covers axis positions ``p0``…``p1``."""
        a, b = sorted((p0, p1))
        if self.kind == "category":
            return Brush(categories=frozenset(c for c in self.categories if a <= self.category_position(c) <= b))
        if self.lo == self.hi:
            return Brush(self.lo, self.hi) if a <= 0.5 <= b else Brush(math.inf, -math.inf)
        return Brush(self.value_at(max(a, 0.0)) if a > 0 else -math.inf, self.value_at(min(b, 1.0)) if b < 1 else math.inf)

    def brush_span(self, brush: Brush) -> tuple[float, float]:
        """The axis positions a brush covers (to draw it)."""
        if brush.categories is not None:
            ps = [self.category_position(c) for c in brush.categories if c in self.categories]
            return (min(ps) - 0.03, max(ps) + 0.03) if ps else (0.0, 0.0)
        lo = 0.0 if brush.lo == -math.inf else self.position(brush.lo)
        hi = 1.0 if brush.hi == math.inf else self.position(brush.hi)
        return max(0.0, min(lo, 1.0)), max(0.0, min(hi, 1.0))

    def ticks(self) -> list[tuple[float, str]]:
        if self.kind == "category":
            return [(self.category_position(c), c) for c in self.categories]
        if self.lo == self.hi:
            return [(0.5, format_number(self.lo))]
        if self.kind == "log":
            decades = range(math.ceil(math.log10(self.lo) - 1e-9), math.floor(math.log10(self.hi) + 1e-9) + 1)
            inner = [(self.position(10.0**e), f"1e{e}") for e in decades]
            ends = [(0.0, format_number(self.lo)), (1.0, format_number(self.hi))]
            return ends + [t for t in inner if 0.08 < t[0] < 0.92]
        return [(p, format_number(self.value_at(p))) for p in (0.0, 0.5, 1.0)]


def build_axis(key: str, label: str, values: Iterable[Any]) -> Axis:
    values = list(values)
    if key in CATEGORICAL:
        names = sorted({category(key, v) for v in values if v is not None})
        return Axis(key, label, "category", categories=tuple(names))
    xs = np.array([_number(v) for v in values], dtype=np.float64)
    xs = xs[np.isfinite(xs)]
    if xs.size == 0:
        return Axis(key, label, "linear", 0.0, 1.0)
    lo, hi = float(xs.min()), float(xs.max())
    if lo > 0 and hi / lo >= 20:
        return Axis(key, label, "log", lo, hi)
    return Axis(key, label, "linear", lo, hi)


def axes_for(runs: Sequence[Any], metric: str) -> list[Axis]:
    """One axis per hyperparameter that differs among ``runs`` (all of them when none
    differs), then the ``metric`` axis."""
    usable = [r for r in runs if not r.damaged]
    chosen = []
    for key, label in HPARAM_AXES:
        values = [run_value(r, key) for r in usable]
        present = [v for v in values if v is not None]
        if present:
            chosen.append((key, label, values, len({repr(v) for v in values}) > 1))
    varying = [c for c in chosen if c[3]] or chosen
    axes = [build_axis(key, label, values) for key, label, values, _ in varying]
    axes.append(build_axis(metric, METRIC_AXES[metric], [run_value(r, metric) for r in usable]))
    return axes


def passes_brushes(run: Any, brushes: dict[str, Brush]) -> bool:
    if not brushes:
        return True
    if run.damaged:
        return False
    return all(brush.passes(key, run_value(run, key)) for key, brush in brushes.items())
