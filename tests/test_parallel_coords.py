"""Axes of the HParams view: scales, positions, brushes."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from convscope.runs import RunSummary
from convscope.viz.parallel_coords import Brush, axes_for, build_axis, passes_brushes


def run(lr, opt="adam", acc=0.5, batch=64, damaged=""):
    return RunSummary(dir=Path("/r"), id="r", damaged=damaged,
                      hparams={"learning_rate": lr, "optimizer": opt, "batch_size": batch, "dropout": 0.25},
                      metrics={"best_val_acc": acc})


def test_rates_spanning_decades_get_a_log_axis() -> None:
    axis = build_axis("learning_rate", "lr", [1e-4, 1e-3, 1e-2])
    assert axis.kind == "log"
    assert [axis.position(v) for v in (1e-4, 1e-3, 1e-2)] == pytest.approx([0.0, 0.5, 1.0])
    assert axis.value_at(0.5) == pytest.approx(1e-3)
    assert build_axis("dropout", "d", [0.1, 0.5]).kind == "linear"


def test_only_varying_hyperparameters_get_axes_and_the_metric_is_last() -> None:
    axes = axes_for([run(1e-3, "adam"), run(1e-2, "sgd"), run(5e-3, "sgd", damaged="x")], "best_val_acc")
    assert [a.key for a in axes] == ["learning_rate", "optimizer", "best_val_acc"]
    assert axes[1].kind == "category" and axes[1].categories == ("Adam", "SGD")
    assert axes[-1].position(100 * 0.5) == 0.5  # one value: the middle


def test_a_brush_selects_a_value_range_and_categories() -> None:
    lr = build_axis("learning_rate", "lr", [1e-4, 1e-2])
    brush = lr.brush(0.4, 0.6)  # 10^-3.2 … 10^-2.8
    assert brush.lo == pytest.approx(10**-3.2) and brush.hi == pytest.approx(10**-2.8)
    assert passes_brushes(run(1e-3), {"learning_rate": brush})
    assert not passes_brushes(run(1e-2), {"learning_rate": brush})
    assert lr.brush(-0.2, 0.1).lo == -math.inf  # dragged past the end: open-ended
    opt = build_axis("optimizer", "opt", ["adam", "sgd", "rmsprop"])
    b = opt.brush(0.9, 1.1)
    assert b.categories == frozenset({"SGD"})
    assert passes_brushes(run(1e-3, "sgd"), {"optimizer": b}) and not passes_brushes(run(1e-3), {"optimizer": b})
    assert not Brush(0, 1).passes("dropout", None)
