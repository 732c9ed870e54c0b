"""``convscope inspect``: every file written with the right shapes, a valid
prediction.json, with and without a checkpoint; bad input ends with one line, exit 2."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model import init
from convscope.shapes import layer_table
from convscope.train.checkpoint import Checkpoint, save_checkpoint
from convscope.train.step import to_host

PHOTO = Path(__file__).resolve().parent / "data" / "chelsea.png"  # shipped: tests/data/PROVENANCE.md
RGB_ARCH = ArchSpec(
    input_shape=(12, 12, 3), convs=(ConvLayer(4, 3),), dense=(8,), num_classes=4, batch_norm=True
)


def _digit(path: Path) -> Path:
    """A dark "7" drawn on light paper, wider than tall."""
    img = np.full((40, 60), 235, np.uint8)
    img[8:12, 18:42] = 15
    for i in range(24):
        img[12 + i, 40 - i // 2 : 43 - i // 2] = 15
    Image.fromarray(img).save(path)
    return path


def _check_outputs(out: Path, arch: ArchSpec) -> dict:
    rows = {row.name: row.shape for row in layer_table(arch)}
    x = np.load(out / "input.npy")
    assert x.dtype == np.float32 and x.shape == tuple(arch.input_shape)
    with Image.open(out / "input.png") as im:
        assert im.size[0] == im.size[1] and im.size[0] >= arch.input_shape[0]
    names = [n for n in rows if n != "input"]
    for name in names:
        value = np.load(out / f"{name}.npy")
        assert value.shape == rows[name], name
        with Image.open(out / f"{name}.png") as im:
            im.load()
            assert im.format == "PNG" and im.mode == "RGBA"
    pred = json.loads((out / "prediction.json").read_text())
    k = arch.num_classes
    assert pred["classes"] == [str(i) for i in range(k)]
    probs = np.array(pred["probabilities"])
    assert probs.shape == (k,) and (probs >= 0).all()
    assert probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert pred["top"] == str(int(np.argmax(probs)))
    logits = np.load(out / "logits.npy")
    np.testing.assert_allclose(
        probs, np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum(), rtol=1e-5, atol=1e-7
    )
    assert pred["layers"] == names
    return pred


def test_inspect_a_real_photo_with_a_fresh_model(tmp_path: Path, capsys) -> None:
    photo = tmp_path / PHOTO.name
    shutil.copyfile(PHOTO, photo)
    out = tmp_path / "out"
    assert main(["inspect", str(photo), "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "seed 0" in stdout and "untrained" in stdout
    pred = _check_outputs(out, ArchSpec())
    assert pred["checkpoint"] is None and pred["seed"] == 0
    # another seed is another model; the same seed the same one
    assert main(["inspect", str(photo), "--seed", "3", "--out", str(tmp_path / "s3")]) == 0
    again = tmp_path / "again"
    assert main(["inspect", str(photo), "--out", str(again)]) == 0
    p0 = json.loads((out / "prediction.json").read_text())["probabilities"]
    assert json.loads((again / "prediction.json").read_text())["probabilities"] == p0
    assert json.loads((tmp_path / "s3" / "prediction.json").read_text())["probabilities"] != p0


def test_inspect_a_digit_with_a_checkpoint(tmp_path: Path, capsys) -> None:
    params, state = init(RGB_ARCH, 2)
    norm = np.array([[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]], np.float32)
    ckpt = save_checkpoint(
        tmp_path / "model.npz", Checkpoint(RGB_ARCH, TrainConfig(), to_host(params), to_host(state), 42, norm)
    )
    digit = _digit(tmp_path / "seven.png")
    out = tmp_path / "deep" / "out"  # parents are created
    assert main(["inspect", str(digit), "--checkpoint", str(ckpt), "--out", str(out)]) == 0
    assert str(ckpt) in capsys.readouterr().out
    pred = _check_outputs(out, RGB_ARCH)
    assert pred["checkpoint"] == str(ckpt) and pred["seed"] is None and pred["step"] == 42
    assert "bn1" in pred["layers"]
    # the gray digit reached the RGB model as three equal, standardised channels
    x = np.load(out / "input.npy")
    pixels = (x * norm[1] + norm[0]) * 255
    np.testing.assert_allclose(pixels[..., 0], pixels[..., 1], atol=1e-3)
    np.testing.assert_allclose(pixels, np.rint(pixels), atol=2e-3)  # whole pixel values


def _one_line_exit_2(argv: list[str], capsys, *needles: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("convscope: ") and err.count("\n") == 1, err
    for needle in needles:
        assert needle in err, err


def test_inspect_bad_inputs(tmp_path: Path, capsys) -> None:
    digit = _digit(tmp_path / "d.png")
    text = tmp_path / "notes.png"
    text.write_text("hello")
    _one_line_exit_2(
        ["inspect", str(text), "--out", str(tmp_path / "o1")], capsys, "notes.png", "not an image"
    )
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    _one_line_exit_2(["inspect", str(empty), "--out", str(tmp_path / "o2")], capsys, "empty")
    _one_line_exit_2(["inspect", str(tmp_path), "--out", str(tmp_path / "o3")], capsys, "directory")
    _one_line_exit_2(
        ["inspect", str(digit), "--checkpoint", str(tmp_path / "none.npz"), "--out", str(tmp_path / "o4")],
        capsys,
        "none.npz",
    )
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    _one_line_exit_2(
        ["inspect", str(digit), "--checkpoint", str(junk), "--out", str(tmp_path / "o5")], capsys, "junk.npz"
    )
    afile = tmp_path / "afile"
    afile.write_text("x")
    _one_line_exit_2(["inspect", str(digit), "--out", str(afile)], capsys, "not a directory")
    _one_line_exit_2(["inspect", str(digit)], capsys, "--out")
    _one_line_exit_2(["inspect", str(digit), "--seed", "-1", "--out", str(tmp_path / "o6")], capsys, "--seed")
    assert not any((tmp_path / f"o{i}").exists() for i in range(1, 7))  # nothing half-written
