"""Issue 16: the Ensemble panel — runs chosen in the Runs panel, evaluated as an
ensemble beside each member, the images they disagree on — through the real window."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import FakeLoop

from convscope.cli import main
from convscope.config import ArchSpec, TrainConfig
from convscope.probes.evaluate import predict_probs
from convscope.runs.reader import list_runs
from convscope.train.checkpoint import load_checkpoint
from convscope.ui.panels.ensemble import EnsemblePanel
from convscope.ui.panels.evaluation import EvaluationPanel
from convscope.ui.panels.runs_panel import RunsPanel
from convscope.ui.panels.training import TrainingPanel

WINDOW_PANELS = [TrainingPanel, RunsPanel, EvaluationPanel, EnsemblePanel]  # the runs chosen, the ensemble, its evaluation

pytestmark = pytest.mark.gui
TINY = ["--set", "blocks=1", "--set", "filters=4", "--set", "dense=8", "--set", "batch_size=16"]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("ensemble-runs")
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (240, 8, 8, 1), dtype=np.uint8)
    y = np.arange(240) % 3
    x[y == 1, :4] //= 3
    x[y == 2, 4:] //= 3
    data = root / "tiny.npz"
    np.savez(data, x_train=x, y_train=y)
    for seed in range(3):
        assert main(["train", "--data", str(data), "--steps", "30", "--quiet", *TINY, "--set", f"seed={seed}",
                     "--runs", str(root / "runs"), "--name", f"member{seed}"]) == 0  # fmt: skip
    return data, root / "runs"


def _window(qtbot, data: Path):
    from convscope.data.dataset import load_dataset
    from convscope.ui.main_window import MainWindow

    ds = load_dataset(str(data), val_fraction=0.1, seed=0)
    arch = ArchSpec.uniform(blocks=1, filters=4, dense=(8,), input_shape=ds.image_shape, num_classes=3)
    window = MainWindow(ds, arch, TrainConfig(), loop_factory=FakeLoop)
    qtbot.addWidget(window)
    window.resize(1280, 720)
    window.show()
    window.docks["Ensemble"].raise_()
    return window, ds


def test_selected_runs_are_evaluated_as_an_ensemble_beside_each_member(tiny_runs, qtbot, tmp_path) -> None:
    data, root = tiny_runs
    window, ds = _window(qtbot, data)
    panel = window.panels["Ensemble"]
    selection = panel.selection
    runs = list_runs(root)
    selection.set_runs(runs)
    selection.select([str(r.dir) for r in runs])
    panel.use_runs.trigger()  # Members ▸ The runs selected in the Runs panel
    assert len(panel.sources) == 3
    panel.evaluate_button.click()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=60000)
    # The numbers against each member's softmax computed here and averaged by hand.
    probs = [predict_probs(c.arch, c.params, c.state, c.norm, ds.x_val)
             for c in (load_checkpoint(Path(s) / "checkpoints" / "final.npz") for s in panel.sources)]  # fmt: skip
    mean = np.mean(probs, axis=0)
    r = panel.outcome.result
    np.testing.assert_allclose(r.evaluation.probs, mean, rtol=1e-5, atol=1e-7)
    table = [[panel.table.item(i, j).text() for j in range(5)] for i in range(panel.table.rowCount())]
    assert [row[0] for row in table][-2:] == ["Ensemble (mean of softmax)", "Majority vote"]
    for row, p in zip(table[:3], probs, strict=True):
        assert row[2] == f"{(p.argmax(1) == ds.y_val).mean():.2%}"
    assert table[3][2] == f"{(mean.argmax(1) == ds.y_val).mean():.2%}"
    preds = np.stack([p.argmax(1) for p in probs])
    disagree = np.flatnonzero((preds != preds[:1]).any(axis=0))
    assert panel.gallery.count() == min(len(disagree), 64)
    if len(disagree):
        index = int(disagree[0])
        panel.gallery.example_clicked.emit(index)
        assert f"validation image {index}" in panel.detail.text()
        assert panel.controller.image is not None
        # Each member's first-block maps for that image, as a direct forward pass gives them.
        qtbot.waitUntil(lambda: panel.member_maps is not None and len(panel.maps.rows) == 3, timeout=30000)
        from convscope.probes.inspect import Inspector

        for source, maps in zip(panel.sources, panel.member_maps.maps, strict=True):
            c = load_checkpoint(Path(source) / "checkpoints" / "final.npz")
            want = Inspector(c.arch).run(c.params, c.state, c.norm, ds.x_val[index]).taps["act1"][..., :8]
            np.testing.assert_allclose(maps, want, rtol=1e-5, atol=1e-6)
    path = panel.export_csv(str(tmp_path / "e.csv"))
    with open(path) as f:
        assert len(list(csv.reader(f))) == 6  # header, 3 members, mean, vote


def test_too_few_members_or_another_split_is_said_not_computed(tiny_runs, qtbot, tmp_path) -> None:
    data, root = tiny_runs
    window, _ds = _window(qtbot, data)
    panel = window.panels["Ensemble"]
    runs = list_runs(root)
    panel.set_members([str(runs[0].dir)])
    assert not panel.evaluate() and "two members at least" in panel.heading.text()
    other = tmp_path / "other"
    assert main(["train", "--data", str(data), "--steps", "3", "--quiet", *TINY, "--split-seed", "5",
                 "--out", str(other)]) == 0  # fmt: skip
    panel.set_members([str(runs[0].dir), str(other)])
    assert panel.evaluate()
    qtbot.waitUntil(lambda: "not evaluated" in panel.heading.text(), timeout=60000)
    assert "validation split" in panel.heading.text() and panel.outcome is None


def test_train_members_records_one_run_per_seed_and_evaluates_them(tiny_runs, qtbot, tmp_path) -> None:
    import json

    from convscope.runs import default_root

    data, _root = tiny_runs
    window, _ds = _window(qtbot, data)
    panel = window.panels["Ensemble"]
    before = {p.name for p in Path(default_root()).glob("*")} if Path(default_root()).exists() else set()
    assert panel.train_members(2, 3.0)
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=120000)
    made = sorted(p for p in Path(default_root()).glob("*") if p.name not in before)
    assert len(made) == 2 and [Path(s) for s in panel.sources] == sorted(made, key=lambda p: panel.sources.index(str(p)))
    seeds = sorted(json.loads((p / "config.json").read_text())["config"]["seed"] for p in made)
    assert seeds == [0, 1]
    assert all((p / "checkpoints" / "final.npz").exists() for p in made)
    assert panel.outcome.result.size == 2 and panel.table.rowCount() == 4


def test_the_evaluation_panel_shows_the_ensemble_as_one_model(tiny_runs, qtbot) -> None:
    data, root = tiny_runs
    window, ds = _window(qtbot, data)
    panel = window.panels["Ensemble"]
    panel.set_members([str(r.dir) for r in list_runs(root)])
    panel.evaluate()
    qtbot.waitUntil(lambda: panel.outcome is not None, timeout=60000)
    assert panel.to_evaluation.isEnabled()
    panel.to_evaluation.click()
    evaluation = window.panels["Evaluation"]
    e = panel.outcome.result.evaluation
    assert evaluation.result.label == "Ensemble of 3" and evaluation.result.evaluation is e
    assert evaluation.summary.text().startswith("Ensemble of 3: accuracy")
    assert not evaluation.auto_check.isChecked()  # stays until the user asks for the model again
    np.testing.assert_array_equal(evaluation.confusion.counts, e.confusion)  # the matrix drawn is the ensemble's
    assert evaluation.table.rowCount() == 3
    assert evaluation.table.item(0, 4).text() == f"{int(e.support[0]):,}"


def test_the_member_maps_mosaic_scales_each_channel_to_its_own_maximum() -> None:
    from convscope.ui.panels.ensemble_maps import GAP, mosaic

    a = np.zeros((2, 2, 2), np.float32)
    a[..., 0] = [[1, 2], [0, 4]]
    a[..., 1] = [[-3, 0], [0, 0]]
    grid = mosaic([a, np.zeros((2, 2, 2), np.float32)])
    assert grid.shape == (2 * (2 + GAP), 2 * (2 + GAP))
    np.testing.assert_allclose(grid[:2, :2], [[0.25, 0.5], [0, 1]])
    np.testing.assert_allclose(grid[:2, 3:5], [[-1, 0], [0, 0]])
    assert np.isnan(grid[2, 0]) and np.all(grid[3:5, :2] == 0)  # a gap; an all-zero map stays 0
