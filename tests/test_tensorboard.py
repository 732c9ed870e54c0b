"""TensorBoard event files of runs (``convscope export-tensorboard``, ``train --tensorboard``),
read back with TensorBoard's own reader and its HParams backend, checked against the
run's own files: metrics.jsonl (scalars), config.json / run.json (hyperparameters and
metrics), the history checkpoints (filter images, pixel by pixel against the diverging
colour scale computed here) and the built-in digits (the fixed image)."""

from __future__ import annotations

import io
import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator as ea  # the test extra's reader

from convscope.cli import EXIT_USAGE, main
from convscope.runs.reader import arch_summary, checkpoint_steps
from convscope.train.checkpoint import load_checkpoint

TINY = ["--set", "filters=4", "--set", "dense=16", "--steps", "30", "--set", "eval_every=10",
        "--set", "log_every=5", "--set", "learning_rate=3e-3", "--quiet"]
TAGS = {"filters/conv1", "filters/conv2", "feature_maps/act1", "feature_maps/act2", "feature_maps/input"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real run (``convscope train --tensorboard``), its live event files and its export."""
    base = tmp_path_factory.mktemp("tb")
    run, live, export = base / "run", base / "live", base / "export"
    assert main(["train", "--out", str(run), "--tensorboard", str(live), *TINY]) == 0
    assert main(["export-tensorboard", str(run), "--out", str(export)]) == 0
    return {"run": run, "live": live / "run", "export": export / "run", "base": base}


def accumulator(path):
    acc = ea.EventAccumulator(str(path), size_guidance={ea.SCALARS: 0, ea.IMAGES: 0, ea.TENSORS: 0})
    acc.Reload()
    return acc


def records(run, kind):
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r["kind"] == kind]


def png(image_event):
    return np.asarray(Image.open(io.BytesIO(image_event.encoded_image_string)).convert("RGB"))


@pytest.mark.parametrize("which", ["live", "export"])
def test_scalars_are_the_runs_metrics_at_their_steps(trained, which):
    acc = accumulator(trained[which])
    for kind, fields in (("step", {"loss": "train/loss", "acc": "train/acc", "lr": "train/learning_rate"}),
                         ("eval", {"val_loss": "val/loss", "val_acc": "val/acc"})):
        recs = records(trained["run"], kind)
        assert len(recs) >= 3
        for key, tag in fields.items():
            events = acc.Scalars(tag)
            assert [e.step for e in events] == [r["step"] for r in recs], tag
            np.testing.assert_allclose([e.value for e in events], [r[key] for r in recs], rtol=1e-6, err_msg=tag)
            walls = np.array([e.wall_time for e in events]) - np.array([r["wall"] for r in recs])
            # the export uses the records' wall times; live, the time of the event, a moment apart
            assert np.all(np.abs(walls) < (1e-3 if which == "export" else 0.5)), (tag, walls)


def _session_groups(logdir):
    """What TensorBoard's HParams dashboard lists: its backend's session groups."""
    from tensorboard import context
    from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.hparams import api_pb2, backend_context, list_session_groups

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(logdir))
    mux.Reload()
    tb = base_plugin.TBContext(logdir=str(logdir), multiplexer=mux,
                               data_provider=data_provider.MultiplexerDataProvider(mux, str(logdir)))
    request = api_pb2.ListSessionGroupsRequest(start_index=0, slice_size=100, allowed_statuses=[0, 1, 2, 3],
                                               include_metrics=True)
    response = list_session_groups.Handler(context.RequestContext(), backend_context.Context(tb), "", request).run()
    out = {}
    for g in response.session_groups:
        hp = {k: getattr(v, v.WhichOneof("kind")) for k, v in g.hparams.items()}
        out[g.name] = (hp, {m.name.tag: m.value for m in g.metric_values}, [s.status for s in g.sessions])
    return out


@pytest.mark.parametrize("which", ["live", "export"])
def test_the_hparams_dashboard_lists_the_run_with_its_hyperparameters_and_metrics(trained, which):
    run = trained["run"]
    config = json.loads((run / "config.json").read_text())
    info = json.loads((run / "run.json").read_text())
    groups = _session_groups(trained[which].parent)
    assert list(groups) == ["run"]
    hp, metrics, statuses = groups["run"]
    c = config["config"]
    assert hp["optimizer"] == "adam" and hp["learning_rate"] == pytest.approx(3e-3)
    assert (hp["batch_size"], hp["dropout"], hp["weight_decay"], hp["augment"]) == (
        c["batch_size"], c["dropout"], c["weight_decay"], c["augment"])
    assert hp["arch"] == arch_summary(config["arch"]) == "conv 4-8 k3, dense 16, relu"
    assert hp["params"] == info["summary"]["params"] > 0
    assert hp["data"] == "MNIST (built-in)"
    evals = records(run, "eval")
    val_acc, val_loss = [r["val_acc"] for r in evals], [r["val_loss"] for r in evals]
    expect = {"summary/best_val_acc": max(val_acc), "summary/final_val_acc": val_acc[-1],
              "summary/best_val_loss": min(val_loss), "summary/final_val_loss": val_loss[-1],
              "val/acc": val_acc[-1], "train/loss": records(run, "step")[-1]["loss"]}
    for tag, value in expect.items():
        assert metrics[tag] == pytest.approx(value, rel=1e-6), tag
    assert statuses == [1]  # STATUS_SUCCESS: the run finished


def _expected_filter_size(k, f):
    cols = math.ceil(math.sqrt(k))
    rows = math.ceil(k / cols)
    return rows * (f + 1) - 1, cols * (f + 1) - 1


@pytest.mark.parametrize("which", ["live", "export"])
def test_images_at_every_history_checkpoint_show_that_checkpoints_filters(trained, which):
    run = trained["run"]
    history = checkpoint_steps(run)
    # the first logged steps at or after 0, 1, 2, 5, 10, 20 (logs come every 5 steps, or 0.2 s)
    assert list(history)[0] == 0 and len(history) >= 4
    acc = accumulator(trained[which])
    assert set(acc.Tags()["images"]) == TAGS
    for tag in TAGS - {"feature_maps/input"}:
        assert [e.step for e in acc.Images(tag)] == list(history), tag
    lut = _rdbu()
    for event in acc.Images("filters/conv1"):
        w = load_checkpoint(history[event.step]).params["conv1"]["w"]  # (3, 3, 1, 4): one cell per filter
        f, _, _, k = w.shape
        h, wd = _expected_filter_size(k, f)
        scale = min(32, 256 // max(h, wd))
        assert (event.height, event.width) == (h * scale, wd * scale)
        picture = png(event)[::scale, ::scale]  # one pixel per weight
        m = np.abs(w).max()
        for i in range(k):
            r0, c0 = (i // 2) * (f + 1), (i % 2) * (f + 1)
            cell = picture[r0:r0 + f, c0:c0 + f].astype(int)
            t = np.clip((w[:, :, 0, i].astype(np.float64) + m) / (2 * m), 0, 1)
            bins = np.minimum((t * 256).astype(int), 255)
            # The snapshot holds float16 weights; the live image was drawn from float32
            # ones, which may fall into the colour bin next door.
            near = [lut[np.clip(bins + d, 0, 255)] for d in ((-1, 0, 1) if which == "live" else (0,))]
            err = np.min([np.abs(cell - want).max(axis=-1) for want in near], axis=0)
            assert err.max() <= 1, (event.step, i)
        assert (picture[f, :] == 96).all(), "a grey gap between rows of cells"
    steps = acc.Images("filters/conv1")
    assert not np.array_equal(png(steps[0]), png(steps[-1])), "the filters changed while training"
    maps = acc.Images("feature_maps/act1")  # 4 maps of 28×28, 2×2, one pixel of gap
    assert (maps[0].height, maps[0].width) == (57 * 4, 57 * 4)
    assert not np.array_equal(png(maps[0]), png(maps[-1]))


@pytest.mark.parametrize("which", ["live", "export"])
def test_the_fixed_image_is_the_first_validation_image(trained, which):
    from convscope.data.dataset import load_dataset

    (event,) = accumulator(trained[which]).Images("feature_maps/input")
    assert event.step == 0 and (event.height, event.width) == (28 * 9, 28 * 9)
    first = load_dataset(None).x_val[0][..., 0]
    picture = png(event)[::9, ::9]
    assert all(np.array_equal(picture[..., c], first) for c in range(3))


def _rdbu():
    """ColorBrewer RdBu reversed, 256 entries: the Filters panel's scale, from its anchors."""
    anchors = np.array([(5, 48, 97), (33, 102, 172), (67, 147, 195), (146, 197, 222), (209, 229, 240),
                        (247, 247, 247), (253, 219, 199), (244, 165, 130), (214, 96, 77), (178, 24, 43),
                        (103, 0, 31)], float)
    t = np.linspace(0, 1, 256)
    pos = np.linspace(0, 1, len(anchors))
    return np.rint(np.stack([np.interp(t, pos, anchors[:, i]) for i in range(3)], axis=1)).astype(int)


def test_a_damaged_run_is_skipped_with_its_reason_and_the_others_are_exported(trained, capsys):
    base = trained["base"]
    newer = base / "newer"
    shutil.copytree(trained["run"], newer)
    info = json.loads((newer / "run.json").read_text())
    (newer / "run.json").write_text(json.dumps({**info, "version": 99}))
    garbage = base / "garbage"
    garbage.mkdir()
    (garbage / "run.json").write_text("{not json")
    out = base / "mixed"
    capsys.readouterr()
    assert main(["export-tensorboard", str(newer), str(trained["run"]), str(garbage), "--out", str(out)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"convscope: skipped {newer}: written by a newer ConvScope (run format 99; this version reads 1)"
    assert err[1].startswith(f"convscope: skipped {garbage}: run.json cannot be read")
    assert len(err) == 2
    assert sorted(p.name for p in out.iterdir()) == ["run"]
    acc = accumulator(out / "run")
    assert [e.step for e in acc.Scalars("val/acc")] == [r["step"] for r in records(trained["run"], "eval")]


def test_exporting_again_replaces_the_earlier_export(trained, tmp_path):
    out = tmp_path / "tb"
    for _ in range(2):
        assert main(["export-tensorboard", str(trained["run"]), "--out", str(out)]) == 0
    assert len(list((out / "run").glob("events.out.tfevents.*"))) == 1


def test_usage_errors_exit_2_with_one_line_and_write_nothing(trained, tmp_path, capsys):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    cases = [
        (["export-tensorboard", str(tmp_path / "nope"), "--out", str(tmp_path / "o1")], "no such run"),
        (["export-tensorboard", str(trained["run"]), "--out", str(a_file)], "exists and is not a directory"),
        (["export-tensorboard", str(trained["run"]), "--out", str(a_file / "sub")], "cannot write there"),
        (["train", "--runs", str(tmp_path / "runs"), "--tensorboard", str(a_file / "tb"), *TINY], "--tensorboard"),
    ]
    for argv, message in cases:
        capsys.readouterr()
        assert main(argv) == EXIT_USAGE, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "o1").exists() and not (tmp_path / "runs").exists()


def test_a_resumed_run_goes_on_in_the_same_tensorboard_run_without_what_it_superseded(trained, tmp_path):
    """A run killed after a latest.npz resumes from it: TensorBoard shows the steps logged
    up to that checkpoint, then the new ones, as metrics.jsonl's reader does."""
    from convscope.runs.reader import read_curves

    run, tb = tmp_path / "run", tmp_path / "tb"
    shutil.copytree(trained["run"], run)
    shutil.copytree(trained["live"], tb / "run")
    for name in ("final.npz", "latest.npz"):  # as if killed before these were written
        (run / "checkpoints" / name).unlink()
    # ... after a latest.npz of step 10: the same training stopped there (snapshots are
    # weights only, never a resume point).
    early = tmp_path / "early"
    assert main(["train", "--out", str(early), *[a if a != "30" else "10" for a in TINY]]) == 0
    shutil.copy(early / "checkpoints" / "final.npz", run / "checkpoints" / "latest.npz")
    resumed_at = 10
    before = [r["step"] for r in records(run, "step")]
    assert max(before) > resumed_at, "steps after the checkpoint were logged (and are superseded)"
    assert main(["train", "--resume", str(run), "--steps", "10", "--tensorboard", str(tb), "--quiet"]) == 0
    curves = read_curves(run)
    events = accumulator(tb / "run").Scalars("train/loss")
    assert [e.step for e in events] == [int(s) for s in curves.train["step"]]
    np.testing.assert_allclose([e.value for e in events], curves.train["loss"], rtol=1e-6)
    assert min(e.step for e in events) < resumed_at < max(e.step for e in events)


def test_the_fixed_image_comes_from_the_runs_own_data_else_the_built_in_digits(trained, tmp_path, capsys):
    from convscope.data.dataset import load_dataset

    rng = np.random.default_rng(1)
    data = tmp_path / "noise.npz"
    np.savez(data, x_train=rng.integers(0, 256, (50, 28, 28, 1), dtype=np.uint8), y_train=np.arange(50) % 10)
    own, lost = tmp_path / "own", tmp_path / "lost"
    for run, origin in ((own, str(data)), (lost, str(tmp_path / "gone.npz"))):
        shutil.copytree(trained["run"], run)
        config = json.loads((run / "config.json").read_text())
        config.update(data_origin=origin, val_split=[0.2, 3])
        (run / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    assert main(["export-tensorboard", str(own), str(lost), "--out", str(tmp_path / "tb")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{lost}: feature maps of the built-in digits' first validation image" in err
    assert "gone.npz" in err
    expect = {"own": load_dataset(data, val_fraction=0.2, seed=3).x_val[0], "lost": load_dataset(None).x_val[0]}
    assert not np.array_equal(expect["own"], expect["lost"])
    for name, image in expect.items():
        (event,) = accumulator(tmp_path / "tb" / name).Images("feature_maps/input")
        assert np.array_equal(png(event)[::9, ::9, 0], image[..., 0]), name


def test_a_truncated_history_checkpoint_loses_only_its_images(trained, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(trained["run"], run)
    steps = list(checkpoint_steps(run))
    bad = checkpoint_steps(run)[steps[1]]
    bad.write_bytes(bad.read_bytes()[:1000])
    capsys.readouterr()
    assert main(["export-tensorboard", str(run), "--out", str(tmp_path / "tb")]) == 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{run}: no images at step {steps[1]:,}: " in err
    acc = accumulator(tmp_path / "tb" / "run")
    assert [e.step for e in acc.Images("filters/conv1")] == [s for s in steps if s != steps[1]]
    assert len(acc.Scalars("train/loss")) == len(records(run, "step"))


def test_a_runs_root_exports_every_run_in_it(trained, tmp_path):
    root = tmp_path / "runs"
    for name in ("a", "b"):
        shutil.copytree(trained["run"], root / name)
    out = root / "tb"  # inside the root: not taken for a run on the second export
    for _ in range(2):
        assert main(["export-tensorboard", str(root), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]
    assert set(_session_groups(out)) == {"a", "b"}
