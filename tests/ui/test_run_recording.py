"""Issue 12: the GUI records every training as a run directory (convscope/runs/), on the
loop's thread; Reset, Apply and a data-set change end the run and start another; a
write failure is one message and training goes on; File ▸ Resume Run continues a run
exactly, its earlier curves drawn before the new points; refusals say why.

One real-engine test on purpose: every new architecture compiles, so the checks share
a window (as tests/ui/test_real_engine.py does)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jax
import numpy as np
import pytest
from PySide6.QtCore import QSettings

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.runs import default_root, read_curves, read_summary
from convscope.train.checkpoint import load_checkpoint
from convscope.ui.run_actions import runs_root

pytestmark = [pytest.mark.gui]

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))


def digits(name: str, start: int):
    from convscope.data import Dataset, builtin_mnist

    full = builtin_mnist()
    return Dataset(name, full.x_train[start:start + 512], full.y_train[start:start + 512], full.x_val[:200],
                   full.y_val[:200], full.class_names, full.source, origin=f"test:{name}")


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def status(run: Path) -> str:
    return json.loads((run / "run.json").read_text())["status"]


def test_the_default_runs_root_is_qt_app_data_location(qapp) -> None:
    from PySide6.QtCore import QCoreApplication

    from convscope.ui.run_actions import qt_default_root

    # The app sets no organization name: AppDataLocation is then <data>/ConvScope.
    assert QCoreApplication.applicationName() == "ConvScope" and QCoreApplication.organizationName() == ""
    assert qt_default_root() == default_root()
    assert str(default_root()).startswith(str(Path(__import__("os").environ["XDG_DATA_HOME"])))


@pytest.mark.slow
def test_every_training_is_a_run_and_resume_continues_one(qtbot, tmp_path) -> None:
    from convscope.train.loop import TrainingLoop
    from convscope.ui.main_window import MainWindow

    loops: list[TrainingLoop] = []

    def factory(arch, config, dataset) -> TrainingLoop:
        loops.append(TrainingLoop(arch, config, dataset))
        return loops[-1]

    root = tmp_path / "runs"
    small = digits("small-digits", 0)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(small, TINY, TrainConfig(batch_size=32, eval_every=5, log_every=5), loop_factory=factory,
                        runs_root=root, settings=settings)
    qtbot.addWidget(window)
    window.show()
    session, panel, recorder = window.session, window.panels["Training"], window.runs.recorder
    qtbot.waitUntil(lambda: session.state == "paused" and recorder.current_run is not None, timeout=60_000)
    run1 = recorder.current_run
    assert run1.parent == root and (run1 / "checkpoints" / "step-00000000.npz").exists()

    # Training is recorded as it happens; a live change is its own record.
    window.train_action.trigger()
    qtbot.waitUntil(lambda: loops[-1].step >= 15, timeout=60_000)
    controls = window.panels["Hyperparameters"]
    controls.learning_rate.slider.setValue(controls.learning_rate.values.index(3e-3))
    qtbot.waitUntil(lambda: any(r["kind"] == "hparams" for r in records(run1)), timeout=10_000)
    change = next(r for r in records(run1) if r["kind"] == "hparams")
    assert change["changes"]["learning_rate"][1] == pytest.approx(3e-3)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: status(run1) == "paused", timeout=10_000)
    loop1 = loops[-1]
    steps1 = loop1.step
    weights1 = jax.device_get(loop1.params)

    # The timeline scrubs back through this run's snapshots (exactly at steps 0, 1, 2, 5, 10).
    timeline = window.timeline
    assert timeline.run_dir_of() == run1
    timeline.refresh()
    assert timeline.steps[:5] == [0, 1, 2, 5, 10]
    timeline.show_step(5)
    qtbot.waitUntil(lambda: timeline.shown_step == 5, timeout=10_000)
    stored = load_checkpoint(run1 / "checkpoints" / "step-00000005.npz")
    np.testing.assert_array_equal(timeline.controller.snapshot.params["conv1"]["w"], stored.params["conv1"]["w"])
    timeline.go_live()
    assert timeline.controller.snapshot is timeline.latest_live and timeline.live

    # Reset ends the run (stopped, final checkpoint = the weights it had) and starts another.
    window.reset_action.trigger()
    qtbot.waitUntil(lambda: recorder.current_run not in (None, run1) and session.state == "paused",
                    timeout=60_000)
    run2 = recorder.current_run
    qtbot.waitUntil(lambda: status(run2) == "paused", timeout=10_000)  # the new model waits for Train
    assert status(run1) == "stopped"
    final = load_checkpoint(run1 / "checkpoints" / "final.npz")
    assert final.step == steps1 and final.resume is not None
    for layer, leaves in weights1.items():
        for name, value in leaves.items():
            np.testing.assert_array_equal(final.params[layer][name], np.asarray(value))
    assert max(r["step"] for r in records(run1) if r["kind"] == "step") == steps1

    # A write failure: one message, training goes on, the model in memory is kept. First
    # the paused run's checkpoints are all on disk: the writer's thread was seen adding
    # one as the folder went ("Directory not empty").
    writer = next(r.writer for r in recorder._active if r.writer is not None and r.writer.dir == run2)  # noqa: SLF001
    writer.flush()
    shutil.rmtree(run2 / "checkpoints")
    (run2 / "checkpoints").write_text("a file where the checkpoints folder was")
    window.train_action.trigger()
    qtbot.waitUntil(lambda: loops[-1].step >= 5, timeout=60_000)
    window.pause_action.trigger()  # a pause writes latest.npz: into a folder that is gone
    qtbot.waitUntil(lambda: "no longer recorded" in window.notice_label.text(), timeout=10_000)
    assert window.notice_label.property("level") == "error" and str(run2) in window.notice_label.text()
    step = loops[-1].step
    window.train_action.trigger()
    qtbot.waitUntil(lambda: loops[-1].step > step + 5, timeout=60_000)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: session.state == "paused", timeout=10_000)

    # Resume: another data set first (a data-set change ends the run and starts one), so
    # resuming run1 is refused with the reason; back on its data, it continues exactly.
    other = digits("other-digits", 1000)
    assert session.set_dataset(other) == ""
    qtbot.waitUntil(lambda: recorder.current_run not in (None, run2) and session.state == "paused",
                    timeout=60_000)
    run3 = recorder.current_run
    why = window.runs.resume(str(run1))
    assert "small-digits" in why and "small-digits" in window.last_error
    assert session.set_dataset(small) == ""
    qtbot.waitUntil(lambda: recorder.current_run not in (None, run3) and session.state == "paused",
                    timeout=60_000)
    assert status(run3) == "stopped"
    n_before = len(loops)
    assert window.runs.resume(str(run1)) == ""
    qtbot.waitUntil(lambda: recorder.current_run == run1 and "continues exactly" in window.notice_label.text(),
                    timeout=60_000)
    qtbot.wait(200)  # the Paused that follows the notice
    loop = loops[-1]
    assert len(loops) == n_before and loop.restored_exactly
    ckpt = load_checkpoint(run1 / "checkpoints" / "final.npz")
    got = jax.tree.leaves(jax.device_get(loop.opt_states))
    assert len(got) == len(ckpt.resume.opt_leaves)
    for a, b in zip(got, ckpt.resume.opt_leaves, strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)  # the optimizer moments came back
    assert loop.config.learning_rate == pytest.approx(3e-3)
    # The Training panel shows the run's earlier curves, then the new points.
    earlier = read_curves(run1)
    qtbot.waitUntil(lambda: panel.buffers["loss"].size >= len(earlier.train["step"]), timeout=10_000)
    np.testing.assert_array_equal(panel.buffers["loss"].x[: len(earlier.train["step"])], earlier.train["step"])
    window.train_action.trigger()
    qtbot.waitUntil(lambda: loop.step >= steps1 + 10, timeout=60_000)
    window.pause_action.trigger()
    qtbot.waitUntil(lambda: status(run1) == "paused", timeout=10_000)
    assert panel.buffers["loss"].x[-1] > steps1
    recs = records(run1)
    assert {"kind": "resume", "step": steps1}.items() <= next(r for r in recs if r["kind"] == "resume").items()
    assert read_curves(run1).last_step == loop.step

    # A run whose model does not take these images is refused, saying so.
    odd = tmp_path / "odd"
    shutil.copytree(run1, odd, ignore=shutil.ignore_patterns("annotations.json", ".*.tmp"))  # a write in flight is not part of the copy
    cfg = json.loads((odd / "config.json").read_text())
    cfg["arch"] = dataclasses.replace(TINY, input_shape=(32, 32, 3)).to_dict()
    (odd / "config.json").write_text(json.dumps(cfg))
    info = json.loads((odd / "run.json").read_text())
    (odd / "run.json").write_text(json.dumps({**info, "status": "stopped"}))
    why = window.runs.resume(str(odd))
    assert "32×32×3" in why and "open the run's data set" in window.last_error
    assert read_summary(run1).status == "paused"

    # File ▸ Runs Folder…: the next run goes there, and the choice is kept (--runs wins over it).
    elsewhere = tmp_path / "elsewhere"
    window.runs.choose_root(str(elsewhere))
    window.reset_action.trigger()
    qtbot.waitUntil(lambda: recorder.current_run not in (None, run1) and session.state == "paused", timeout=60_000)
    assert recorder.current_run.parent == elsewhere and status(run1) == "stopped"
    assert runs_root(None, QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)) == elsewhere
    assert runs_root(str(tmp_path / "cli"), settings) == tmp_path / "cli"
    run4 = recorder.current_run

    # Open Checkpoint of a run's newest checkpoint continues that run (not a new one).
    window.open_checkpoint(str(run1 / "checkpoints" / "final.npz"))
    qtbot.waitUntil(lambda: recorder.current_run == run1 and "continues exactly" in window.notice_label.text(),
                    timeout=60_000)
    assert status(run4) == "stopped" and len(list(elsewhere.iterdir())) == 1
    window.session.shutdown(timeout_s=2.0)
    assert window.session.finish_recording(5.0)
    assert status(run1) == "stopped"
    assert status(run4) == "stopped"


def test_the_runs_panel_shows_the_windows_runs_folder_and_follows_its_change(qtbot, tmp_path) -> None:
    """``--runs DIR`` (and File ▸ Runs Folder…) must be what the Runs panel lists: it
    showed the default folder's runs while the window recorded into DIR."""
    from convscope.ui.main_window import MainWindow

    root, other = tmp_path / "runs", tmp_path / "other"
    for folder, name in ((root, "in-root"), (other, "in-other")):
        (folder / name).mkdir(parents=True)  # listed (as damaged: not a run) by name
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(digits("small-digits", 0), TINY, TrainConfig(batch_size=32), runs_root=root, settings=settings)
    qtbot.addWidget(window)
    panel = window.panels["Runs"]
    assert panel.root == root
    names = lambda: {panel.model.index(r, 0).data() for r in range(panel.model.rowCount())}  # noqa: E731
    qtbot.waitUntil(lambda: "in-root" in names(), timeout=10_000)
    window.runs.choose_root(str(other))
    assert panel.root == other
    qtbot.waitUntil(lambda: "in-other" in names() and "in-root" not in names(), timeout=10_000)
