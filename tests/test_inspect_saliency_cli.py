"""``convscope inspect IMAGE --saliency [--class K]``: the saliency files alone (no
activation maximization, no top-k), equal to the probe's results; prediction.json names
the classes a checkpoint records (``convscope train`` records its data set's)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model import init
from convscope.probes.saliency import METHOD_OPTIONS, METHODS, saliency
from convscope.train.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from convscope.train.step import to_host

ARCH = ArchSpec(input_shape=(12, 12, 3), convs=(ConvLayer(4, 3), ConvLayer(3, 3)), dense=(8,), num_classes=4)
NORM = np.array([[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]], np.float32)
NAMES = ("red", "green", "blue", "grey")


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)
    return path


def test_saliency_flag_writes_the_saliency_files_only(tmp_path: Path, capsys) -> None:
    params, state = (to_host(t) for t in init(ARCH, 2))
    ckpt = save_checkpoint(tmp_path / "m.npz", Checkpoint(ARCH, TrainConfig(), params, state, 7, NORM,
                                                          class_names=NAMES))
    out = tmp_path / "out"
    photo = _photo(tmp_path)
    argv = ["inspect", str(photo), "--checkpoint", str(ckpt), "--out", str(out), "--saliency", "--class", "green"]
    assert main(argv) == 0
    assert "saliency: wrote" in capsys.readouterr().out
    assert not list(out.glob("deepvis_*")), "--saliency must not run activation maximization or top-k"
    summary = json.loads((out / "saliency.json").read_text())
    assert sorted(summary) == sorted(METHODS)
    image = np.asarray(Image.open(photo))
    for method in METHODS:
        want = saliency(ARCH, params, state, NORM, image, method, 1, **METHOD_OPTIONS.get(method, {}))
        assert summary[method]["target_class"] == 1
        np.testing.assert_allclose(np.load(out / f"saliency_{method}.npy"), want.heatmap, atol=1e-6)
        raw = np.load(out / f"saliency_{method}_raw.npy")
        assert raw.shape == want.raw.shape, method
        np.testing.assert_allclose(raw, want.raw, rtol=1e-5, atol=1e-6, err_msg=method)
        for suffix in ("", "_overlay"):
            assert (out / f"saliency_{method}{suffix}.png").is_file()
    assert np.load(out / "saliency_vanilla_raw.npy").shape == (12, 12, 3)
    assert np.load(out / "saliency_occlusion_raw.npy").shape == (12, 12)
    pred = json.loads((out / "prediction.json").read_text())
    assert pred["classes"] == list(NAMES) and pred["top"] == NAMES[pred["top_index"]]


def test_class_without_saliency_or_deepvis_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    out = tmp_path / "o"
    assert main(["inspect", str(_photo(tmp_path)), "--out", str(out), "--class", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--class is used only with --deepvis or --saliency" in err
    assert not out.exists()


@pytest.mark.slow  # trains two steps on the colour set (compiles a tiny model)
def test_prediction_names_the_colour_classes(tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", "builtin:colors", "--steps", "2", "--quiet", "--out", str(run),
                 "--set", "blocks=1", "--set", "filters=4", "--set", "dense=8", "--set", "batch_size=16"]) == 0
    ck = run / "checkpoints" / "final.npz"
    assert load_checkpoint(ck).class_names[0] == "circle"
    photo = tmp_path / "p.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(photo)
    assert main(["inspect", str(photo), "--checkpoint", str(ck), "--out", str(tmp_path / "o")]) == 0
    pred = json.loads((tmp_path / "o" / "prediction.json").read_text())
    assert pred["classes"][:3] == ["circle", "square", "triangle"]
    assert pred["top"] in pred["classes"] and pred["top"] == pred["classes"][pred["top_index"]]
