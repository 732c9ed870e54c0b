"""``convscope invariance``: the CSV, .npz, PNGs and JSON for a checkpoint, the curves'
identity rows at 0 and the files agreeing with the probe; bad input ends with one line
and exit status 2."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from PIL import Image

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model import init
from convscope.probes import invariance as inv
from convscope.train.checkpoint import Checkpoint, save_checkpoint
from convscope.train.step import to_host

ARCH = ArchSpec(input_shape=(12, 12, 3), convs=(ConvLayer(4, 3),), dense=(8,), num_classes=4, batch_norm=True)


def _checkpoint(tmp_path: Path) -> Path:
    params, state = init(ARCH, 1)
    norm = np.stack([np.full(3, 0.4, np.float32), np.full(3, 0.25, np.float32)])
    return save_checkpoint(tmp_path / "model.npz", Checkpoint(ARCH, TrainConfig(), to_host(params),
                                                              to_host(state), 7, norm))


def _image(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    img = np.zeros((12, 12, 3), np.uint8)
    img[3:9, 2:7] = rng.integers(50, 256, (6, 5, 3))
    Image.fromarray(img).save(tmp_path / "blob.png")
    return tmp_path / "blob.png"


def test_writes_the_curves_of_every_transformation(tmp_path, capsys) -> None:
    ckpt, image = _checkpoint(tmp_path), _image(tmp_path)
    out = tmp_path / "a" / "out"
    assert main(["invariance", str(image), "--checkpoint", str(ckpt), "--class", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "class 2" in printed and str(ckpt) in printed
    with open(out / "invariance.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    layers = inv.feature_layers(ARCH)
    assert rows[0] == ["transform", "value", "class", "p_class", "predicted", *layers]
    for kind in inv.KINDS:
        values, identity = inv.sweep_values(kind, ARCH.input_shape)
        mine = [r for r in rows[1:] if r[0] == kind]
        assert [float(r[1]) for r in mine] == list(values)
        assert all(float(v) == 0.0 for v in mine[identity][5:]), kind
        with Image.open(out / f"invariance_{kind}.png") as picture:
            pixels = np.asarray(picture.convert("RGB"))
        assert pixels.shape == (420, 1100, 3) and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 10
    arrays = np.load(out / "invariance.npz")
    assert list(arrays["rotate/layers"]) == layers and arrays["rotate/images"].dtype == np.uint8
    # The files hold what the probe computes for the same image and checkpoint.
    from convscope.data.images import fit_image, load_image
    from convscope.train.checkpoint import load_checkpoint

    c = load_checkpoint(ckpt)
    s = inv.sweep(ARCH, c.params, c.state, c.norm, fit_image(load_image(image), ARCH.input_shape), "scale", label=2)
    np.testing.assert_allclose(arrays["scale/distances"], np.stack(list(s.distances.values())), rtol=1e-5)
    np.testing.assert_allclose(arrays["scale/probs"][:, 2], s.target_probs, rtol=1e-5)
    summary = json.loads((out / "invariance.json").read_text())
    assert summary["class"] == "2" and summary["class_is_label"] is True


def test_some_transformations_and_layers(tmp_path) -> None:
    image = _image(tmp_path)
    out = tmp_path / "out"
    assert main(["invariance", str(image), "--checkpoint", str(_checkpoint(tmp_path)), "--transforms", "rotate",
                 "--layers", "conv1,logits", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["invariance_rotate.png"]
    with open(out / "invariance.csv", newline="", encoding="utf-8") as f:
        header = next(csv.reader(f))
    assert header[5:] == ["conv1", "logits"]


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys) -> None:
    image, ckpt = _image(tmp_path), _checkpoint(tmp_path)
    (tmp_path / "file").write_text("x")
    cases = [
        (["invariance", str(tmp_path / "none.png"), "--out", str(tmp_path / "o")], "none.png"),
        (["invariance", str(image), "--transforms", "shear", "--out", str(tmp_path / "o")], "shear"),
        (["invariance", str(image), "--checkpoint", str(ckpt), "--layers", "conv7", "--out", str(tmp_path / "o")],
         "conv7"),
        (["invariance", str(image), "--checkpoint", str(ckpt), "--class", "9", "--out", str(tmp_path / "o")], "9"),
        (["invariance", str(image), "--out", str(tmp_path / "file")], "not a directory"),
        (["invariance", str(image), "--checkpoint", str(tmp_path / "file"), "--out", str(tmp_path / "o")], "file"),
    ]
    for argv, words in cases:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("convscope: ") and words in err and "\n" not in err, err
