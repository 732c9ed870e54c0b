"""Feature evolution (probes/evolution.py, ``convscope evolution``): every cell equals a
direct computation on that snapshot's stored weights — the patch is the receptive field
of the image whose map maximum (plain NumPy over the full forward) is largest, the
synthetic image is activation maximization's for those weights, the filter is the
stored kernel; the CLI writes the grid; bad input is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from tiny_runs import TINY_ARCH, TINY_CONFIG, tiny_dataset

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model.network import apply
from convscope.probes import evolution as evo
from convscope.probes.deepvis import ActMaxSettings, activation_maximization
from convscope.probes.topk import crop, receptive_box
from convscope.runs.writer import RunWriter
from convscope.train.checkpoint import load_checkpoint
from convscope.train.headless import run_to_completion
from convscope.train.loop import TrainingLoop

FAST = ActMaxSettings(steps=8)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evo")
    ds = tiny_dataset()
    loop = TrainingLoop(TINY_ARCH, TINY_CONFIG, ds, max_steps=6)
    writer = RunWriter.create(root, arch=TINY_ARCH, config=TINY_CONFIG, dataset=ds, checkpoint_every_s=1e9)
    run_to_completion(loop, lambda e: writer.observe(e, loop))
    writer.finish("finished", loop)
    return writer.dir, ds


def _snapshots(run_dir):
    return [load_checkpoint(p) for p in sorted((run_dir / "checkpoints").glob("step-*.npz"))]


def test_each_cell_is_computed_from_that_snapshots_weights(run) -> None:
    run_dir, ds = run
    snaps = _snapshots(run_dir)
    assert [s.step for s in snaps] == [0, 1, 2, 5]  # history steps; the first epoch ends at 5 too
    images = ds.x_val
    ev = evo.evolution(snaps, "act1", images, channels=[1, 0], settings=FAST)
    assert list(ev.steps) == [s.step for s in snaps] and list(ev.channels) == [1, 0]
    for i, snap in enumerate(snaps):
        x = (images.astype(np.float32) / 255.0 - snap.norm[0]) / snap.norm[1]
        maps = np.asarray(apply(TINY_ARCH, snap.params, snap.state, x)[1]["act1"])  # (N, h, w, C)
        for j, ch in enumerate(ev.channels):
            per_image = maps[..., ch].reshape(len(images), -1)
            best = int(np.argmax(per_image.max(axis=1)))
            assert ev.patch_indices[i, j] == best
            np.testing.assert_allclose(ev.patch_values[i, j], per_image[best].max(), rtol=1e-5)
            r, c = np.unravel_index(int(np.argmax(per_image[best])), maps.shape[1:3])
            box = receptive_box(TINY_ARCH, "act1", int(r), int(c))  # at the NumPy maximum
            np.testing.assert_array_equal(ev.patches[i, j], crop(images[best], box))
        want = activation_maximization(TINY_ARCH, snap.params, snap.state, snap.norm, "act1", FAST, [1, 0])
        np.testing.assert_allclose(ev.synthetic[i], want.images, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(ev.filters[i], np.asarray(snap.params["conv1"]["w"])[..., [1, 0]])
    assert not np.array_equal(ev.filters[0], ev.filters[-1]), "the filters changed while training"


def test_a_deeper_layer_has_no_filters_and_bad_input_is_a_value_error(run) -> None:
    run_dir, ds = run
    arch = ArchSpec(input_shape=(8, 8, 1), num_classes=2, convs=(ConvLayer(2, 3), ConvLayer(3, 3, pool="none")),
                    dense=(4,))
    loop = TrainingLoop(arch, TrainConfig(batch_size=16), ds, max_steps=1)
    loop.reinitialise()
    ckpt = loop.checkpoint()
    ev = evo.evolution([ckpt], "act2", ds.x_val, synthetic=False)
    assert ev.filters is None and ev.synthetic is None and list(ev.channels) == [0, 1, 2]
    snaps = _snapshots(run_dir)
    for kw, message in ((dict(layer="logits"), "not a spatial layer"), (dict(channels=[5]), "channels"),
                        (dict(images=ds.x_val[:, :4]), "images must be"), (dict(snapshots=[]), "no snapshots"),
                        (dict(snapshots=[snaps[0], ckpt]), "different architectures")):
        args = dict(snapshots=snaps, layer="act1", images=ds.x_val) | kw
        with pytest.raises(ValueError, match=message):
            evo.evolution(args.pop("snapshots"), args.pop("layer"), args.pop("images"), synthetic=False, **args)


def test_the_cli_writes_the_grid_and_its_numbers(run, tmp_path, capsys) -> None:
    run_dir, _ds = run
    out = tmp_path / "out"
    assert main(["evolution", str(run_dir), "--layer", "conv1", "--channels", "2", "--out", str(out),
                 "--quiet"]) == 0
    assert "2 channels" in capsys.readouterr().out
    arrays = np.load(out / "evolution.npz")
    steps = [s.step for s in _snapshots(run_dir)]
    assert list(arrays["steps"]) == steps and list(arrays["channels"]) == [0, 1]
    assert arrays["patches"].shape[:2] == (len(steps), 2) and arrays["filters"].shape[0] == len(steps)
    with Image.open(out / "evolution.png") as im:
        assert im.size[0] > 60 * len(steps) and im.size[1] > 100
    assert (out / "evolution.svg").read_text().count("step ") >= len(steps)
    assert json.loads((out / "evolution.json").read_text())["cells"] == ["patch", "synthetic", "filter"]


def test_cli_bad_input_is_one_line_and_exit_2(run, tmp_path, capsys) -> None:
    run_dir, _ds = run
    (tmp_path / "file").write_text("x")
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["evolution", str(run_dir), "--layer", "dense1", "--out", str(tmp_path / "o")], "not a spatial layer"),
        (["evolution", str(empty), "--layer", "conv1", "--out", str(tmp_path / "o")], "run.json"),
        (["evolution", str(run_dir), "--layer", "conv1", "--channels", "0", "--out", str(tmp_path / "o")],
         "--channels"),
        (["evolution", str(run_dir), "--layer", "conv1", "--out", str(tmp_path / "file")], "not a directory"),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("convscope: ") and words in err and "\n" not in err, err


def test_should_stop_ends_it_between_snapshots_with_none(run) -> None:
    run_dir, ds = run
    snaps = _snapshots(run_dir)
    done: list[int] = []
    stop_after = {"calls": 0}

    def should_stop() -> bool:  # true once the first snapshot is done
        stop_after["calls"] += 1
        return bool(done)

    assert evo.evolution(snaps, "act1", ds.x_val, synthetic=True, settings=FAST, should_stop=should_stop,
                         progress=lambda i, n: done.append(i)) is None
    assert done == [1] and stop_after["calls"] > 1
