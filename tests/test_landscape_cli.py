"""``convscope landscape`` and the landscape files: the .npz round-trips exactly and
opens with plain NumPy (no pickle), the PNG is drawn, the SVG's contours lie on the
grid's iso-lines, the 1D line is the grid's centre row, the grid's centre is the plain
loss of the checkpoint on the chosen examples; bad input ends with one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data.dataset import builtin_mnist
from convscope.model import init
from convscope.probes.landscape import LandscapeGrid, coarse_to_fine_order
from convscope.probes.landscape_eval import LandscapeLine
from convscope.probes.landscape_export import select_examples
from convscope.probes.landscape_io import (
    LandscapeIOError,
    fill_from_coarse,
    landscape_rgba,
    load_landscape_npz,
    save_landscape_npz,
)
from convscope.probes.landscape_svg import contour_segments, nice_ticks
from convscope.train.checkpoint import Checkpoint, save_checkpoint
from convscope.train.step import build_steps, evaluate, to_host

ARCH = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(8,), batch_norm=True)
NORM = np.array([[0.13], [0.31]], np.float32)


def _ckpt(tmp_path: Path, arch: ArchSpec = ARCH) -> Path:
    params, state = init(arch, 3)
    norm = np.repeat(NORM, arch.input_shape[2], axis=1)
    return save_checkpoint(tmp_path / "c.npz",
                           Checkpoint(arch, TrainConfig(), to_host(params), to_host(state), 42, norm))


def _grid(**kw) -> LandscapeGrid:
    a, b = np.linspace(-1, 1, 5), np.linspace(-2, 2, 3)
    aa, bb = np.meshgrid(a, b)
    base = dict(alphas=a, betas=b, loss=1 + aa**2 + bb**2, accuracy=0.9 - 0.1 * aa**2, center_loss=1.0,
                center_accuracy=0.9, kind="pca", seeds=None, explained=(0.7, 0.2), n_examples=64,
                split="val", step=9, seconds=0.5, trajectory=np.array([[0.5, 0.5], [0.1, -0.2], [0.0, 0.0]]),
                trajectory_steps=np.array([0, 50, 100]))
    return LandscapeGrid(**{**base, **kw})


def test_npz_round_trip_is_exact_and_plain_numpy(tmp_path):
    grid = _grid(loss=np.where(np.eye(3, 5, dtype=bool), np.nan, _grid().loss))
    line = LandscapeLine(np.linspace(-0.25, 1.25, 4), {"train": np.arange(4.0), "val": np.arange(4.0) + 1},
                         {"train": np.full(4, 0.5), "val": np.full(4, 0.25)}, "interpolation", "a → b", 1.5)
    path = save_landscape_npz(tmp_path / "g", grid, line, extra={"checkpoint": "x.npz"})
    assert path.name == "g.npz" and [p.name for p in tmp_path.iterdir()] == ["g.npz"]
    back, bline, extra = load_landscape_npz(path)
    for f in ("alphas", "betas", "loss", "accuracy", "trajectory", "trajectory_steps"):
        np.testing.assert_array_equal(getattr(back, f), getattr(grid, f))
    for f in ("center_loss", "center_accuracy", "kind", "seeds", "explained", "n_examples", "split", "step",
              "seconds"):
        assert getattr(back, f) == getattr(grid, f), f
    assert extra == {"checkpoint": "x.npz"}
    assert bline["kind"] == "interpolation" and bline["label"] == "a → b" and set(bline["loss"]) == {"train", "val"}
    np.testing.assert_array_equal(bline["loss"]["val"], line.loss["val"])
    with np.load(path, allow_pickle=False) as z:
        assert json.loads(str(z["meta"]))["format"] == "convscope-landscape" and z["loss"].shape == (3, 5)


@pytest.mark.parametrize("content, message", [(b"", "not an .npz archive"), (b"zzz", "not an .npz archive")])
def test_bad_landscape_files_are_refused(tmp_path, content, message):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(LandscapeIOError, match=message):
        load_landscape_npz(path)
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(LandscapeIOError, match="not a ConvScope landscape"):
        load_landscape_npz(tmp_path / "other.npz")
    with pytest.raises(LandscapeIOError, match="no such file"):
        load_landscape_npz(tmp_path / "missing.npz")


def test_fill_from_coarse_interpolates_the_finest_complete_lattice():
    n = 9
    a = np.arange(n, dtype=np.float64)
    plane = 2.0 * a[None, :] - 3.0 * a[:, None] + 1.0  # bilinear interpolation is exact on a plane
    partial = np.full((n, n), np.nan)
    coarse = coarse_to_fine_order(n, n)[0][1]
    partial[coarse[:, 0], coarse[:, 1]] = plane[coarse[:, 0], coarse[:, 1]]
    np.testing.assert_allclose(fill_from_coarse(partial), plane, atol=1e-12)
    partial[0, 0] = np.nan  # no complete lattice: left as it is
    assert np.isnan(fill_from_coarse(partial)[0, 0])
    np.testing.assert_array_equal(fill_from_coarse(plane), plane)


def test_rgba_marks_the_centre_and_is_oriented_beta_up():
    grid = _grid(trajectory=None, trajectory_steps=None,
                 loss=np.tile(np.array([[1.0], [2.0], [4.0]]), (1, 5)))  # loss grows with beta
    img = landscape_rgba(grid, size=64, levels=0)
    assert img.shape == (64, 64 + 6 + 16, 4) and img.dtype == np.uint8
    # High beta (high loss: viridis yellow, bright) is at the top row, low beta at the bottom.
    assert img[0, 5, :3].astype(int).sum() > img[-1, 5, :3].astype(int).sum()
    assert tuple(img[32, 32]) in {(255, 255, 255, 255), (0, 0, 0, 255)}  # the centre marker
    assert tuple(landscape_rgba(_grid(), size=64)[int(round(63 * 0.375)), int(round(63 * 0.75))][:3]) == (230, 40, 40)


def _plain_loss(arch, ckpt_params, ckpt_state, x, y):
    fns = build_steps(arch)
    tree = lambda t: {k: {n: jnp.asarray(v) for n, v in d.items()} for k, d in t.items()}  # noqa: E731
    return evaluate(fns, tree(ckpt_params), tree(ckpt_state), jnp.asarray(x), jnp.asarray(y), jnp.asarray(NORM))


def test_landscape_command_writes_npz_and_png(tmp_path, capsys):
    ckpt = _ckpt(tmp_path)
    out = tmp_path / "out"
    argv = ["landscape", "--checkpoint", str(ckpt), "--resolution", "5", "--span", "0.5",
            "--examples", "48", "--split", "val", "--seed", "2", "--out", str(out)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "landscape 5×5" in lines[0] and "48 val examples at step 42" in lines[0]
    grid, line, extra = load_landscape_npz(out / "landscape.npz")
    assert line is None and extra["checkpoint"] == str(ckpt)
    assert grid.complete and grid.loss.shape == (5, 5) and grid.seeds == (2, 3) and grid.step == 42
    data = builtin_mnist()
    x, y = select_examples(data.x_val, data.y_val, 48, 2)
    params, state = init(ARCH, 3)
    ref, _ = _plain_loss(ARCH, to_host(params), to_host(state), x, y)
    assert grid.loss[2, 2] == pytest.approx(ref, rel=1e-5) and grid.center_loss == pytest.approx(ref, rel=1e-5)
    with Image.open(out / "landscape.png") as im:
        assert im.mode == "RGBA" and im.size[1] == 384


def test_select_examples_is_seeded_without_replacement():
    x, y = np.arange(100).reshape(100, 1, 1, 1).astype(np.uint8), np.arange(100)
    xa, ya = select_examples(x, y, 10, 1)
    xb, _ = select_examples(x, y, 10, 1)
    assert np.array_equal(xa, xb) and len(set(ya.tolist())) == 10 and np.all(np.diff(ya) > 0)
    assert np.array_equal(xa[:, 0, 0, 0], ya)
    assert len(select_examples(x, y, 1000, 0)[0]) == 100


def _one_line_exit_2(argv, capsys, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("convscope: "), err
    for n in needles:
        assert n in err, err


def test_landscape_bad_inputs(tmp_path, capsys):
    ckpt = _ckpt(tmp_path)
    out = str(tmp_path / "o")
    _one_line_exit_2(["landscape", "--checkpoint", str(tmp_path / "nope.npz"), "--out", out], capsys, "no such file")
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--resolution", "1"], capsys, "resolution")
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--span", "-1"], capsys, "span")
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--examples", "0"], capsys, "--examples")
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--split", "test"], capsys, "split")
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt)], capsys, "--out")
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--data", str(tmp_path / "d")], capsys,
                     "no such file")
    (tmp_path / "file").write_text("x")
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", str(tmp_path / "file")], capsys,
                     "not a directory")
    rgb = _ckpt(tmp_path / "rgb", ArchSpec(input_shape=(8, 8, 3), convs=(ConvLayer(2, 3),), dense=()))
    _one_line_exit_2(["landscape", "--checkpoint", str(rgb), "--out", out], capsys, "8×8×3")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other npz"])
def test_a_corrupt_checkpoint_is_one_line_exit_2(tmp_path, capsys, damage):
    good = _ckpt(tmp_path).read_bytes()
    bad = tmp_path / "bad.npz"
    if damage == "other npz":
        np.savez(bad, a=np.zeros(3))
    else:
        bad.write_bytes({"truncated": good[: len(good) // 2], "garbage": b"PK\x03\x04" + bytes(200),
                         "empty": b""}[damage])  # fmt: skip
    _one_line_exit_2(["landscape", "--checkpoint", str(bad), "--out", str(tmp_path / "o")], capsys, str(bad))
    assert not (tmp_path / "o").exists()


def test_a_truncated_landscape_file_is_refused(tmp_path):
    path = save_landscape_npz(tmp_path / "g.npz", _grid())
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(LandscapeIOError, match="not a readable landscape"):
        load_landscape_npz(path)


# ------------------------------------------------------------------ SVG, line, --log
def test_contour_segments_of_a_plane_are_the_vertical_line_at_the_level():
    alphas, betas = np.linspace(-1, 1, 11), np.linspace(-2, 2, 21)
    values = np.tile(alphas, (len(betas), 1))  # value = α
    seg = contour_segments(values, alphas, betas, 0.3)
    assert seg.shape == (20, 2, 2)  # one piece per row of cells
    np.testing.assert_allclose(seg[..., 0], 0.3, atol=1e-12)
    assert seg[..., 1].min() == pytest.approx(-2) and seg[..., 1].max() == pytest.approx(2)


def test_contour_segments_of_a_bowl_lie_on_its_circle_and_saddles_split():
    axis = np.linspace(-1, 1, 41)
    bowl = axis[None, :] ** 2 + axis[:, None] ** 2
    seg = contour_segments(bowl, axis, axis, 0.5)
    r = np.hypot(seg[..., 0], seg[..., 1])
    np.testing.assert_allclose(r, np.sqrt(0.5), atol=2e-3)  # linear interpolation of r² on a fine grid
    saddle = np.array([[1.0, 0.0], [0.0, 1.0]])  # mean 0.5 ≥ 0.5: the high corners join, the low are cut off
    pieces = contour_segments(saddle, np.array([0.0, 1.0]), np.array([0.0, 1.0]), 0.5)
    assert pieces.shape == (2, 2, 2)
    mids = pieces.mean(axis=1)
    assert sorted(map(tuple, np.round(mids, 6))) == [(0.25, 0.75), (0.75, 0.25)]  # around (0, 1) and (1, 0)
    assert len(contour_segments(np.where(np.eye(3, dtype=bool), np.nan, bowl[:3, :3]), axis[:3], axis[:3], 0.5)) == 0


def test_nice_ticks():
    assert nice_ticks(-1.0, 1.0).tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert nice_ticks(0.13, 0.61).tolist() == pytest.approx([0.2, 0.3, 0.4, 0.5, 0.6])


def _bilinear(values, alphas, betas, a, b):
    along = np.array([np.interp(a, alphas, row) for row in values])
    return float(np.interp(b, betas, along))


def test_landscape_command_writes_svg_and_the_direction_line(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    ckpt = _ckpt(tmp_path)
    out = tmp_path / "out"
    argv = ["landscape", "--checkpoint", str(ckpt), "--resolution", "7", "--span", "0.8", "--examples", "40",
            "--split", "val", "--seed", "4", "--line", "direction", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    summary = capsys.readouterr().out
    assert "landscape.svg" in summary and "landscape_line.png" in summary
    grid, line, extra = load_landscape_npz(out / "landscape.npz")
    assert extra["log_colours"] is True
    # The line is direction 1 on both splits; on the grid's split it is the grid's centre row.
    assert line["kind"] == "direction" and line["label"] == "seed 4" and set(line["loss"]) == {"train", "val"}
    np.testing.assert_allclose(line["ts"], grid.alphas)
    np.testing.assert_allclose(line["loss"]["val"], grid.loss[3], rtol=1e-5)
    assert not np.allclose(line["loss"]["train"], line["loss"]["val"])
    with Image.open(out / "landscape_line.png") as im:
        pixels = {tuple(p[:3]) for p in np.asarray(im.convert("RGBA")).reshape(-1, 4)}
    assert (31, 119, 180) in pixels and (230, 85, 13) in pixels  # both curves drawn

    root = ET.parse(out / "landscape.svg").getroot()
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    image = root.find("s:image", ns)
    assert image.get("href").startswith("data:image/png;base64,")
    ticks = [t.text for t in root.findall("s:text[@class='tick']", ns)]
    assert "0" in ticks and "0.5" in ticks and "−0.5" in ticks  # both axes: ±span 0.8
    contours = root.find("s:path[@class='contours']", ns).get("d")
    # Every contour vertex, mapped back from the SVG to (α, β), is on an iso-line of log₁₀ loss.
    from convscope.probes import landscape_svg as sv

    v = np.log10(grid.loss)
    levels = np.linspace(v.min(), v.max(), sv.CONTOURS + 2)[1:-1]
    nums = np.array([float(x) for x in contours.replace("M", " ").replace("L", " ").split()]).reshape(-1, 2)
    assert len(nums) >= 20
    a = grid.alphas[0] + (nums[:, 0] - sv.LEFT) / sv.PLOT * (grid.alphas[-1] - grid.alphas[0])
    b = grid.betas[-1] - (nums[:, 1] - sv.TOP) / sv.PLOT * (grid.betas[-1] - grid.betas[0])
    for ai, bi in zip(a, b, strict=True):
        val = _bilinear(v, grid.alphas, grid.betas, ai, bi)
        assert np.min(np.abs(levels - val)) < 0.02 * (v.max() - v.min()) + 2e-3
    assert root.find("s:rect[@class='colourbar']", ns) is not None
    assert any(t.text == "log₁₀ loss" for t in root.findall("s:text", ns))


def test_no_log_colours_the_loss_itself(tmp_path, capsys):
    ckpt = _ckpt(tmp_path)
    base = ["landscape", "--checkpoint", str(ckpt), "--resolution", "5", "--examples", "16", "--span", "2"]
    assert main([*base, "--out", str(tmp_path / "log")]) == 0
    assert main([*base, "--no-log", "--out", str(tmp_path / "lin")]) == 0
    capsys.readouterr()
    svg = (tmp_path / "lin" / "landscape.svg").read_text()
    assert ">loss</text>" in svg and "log₁₀ loss" not in svg
    assert load_landscape_npz(tmp_path / "lin" / "landscape.npz")[2]["log_colours"] is False
    with Image.open(tmp_path / "log" / "landscape.png") as a, Image.open(tmp_path / "lin" / "landscape.png") as b:
        assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_landscape_refuses_even_or_out_of_range_resolutions_and_pca(tmp_path, capsys):
    ckpt = _ckpt(tmp_path)
    out = str(tmp_path / "o")
    for bad in ("20", "1", "103", "0"):
        _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--resolution", bad], capsys,
                         "--resolution must be an odd integer in [3, 101]", f"got {bad}")  # fmt: skip
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--directions", "pca"], capsys,
                     "training trajectory")  # fmt: skip
    _one_line_exit_2(["landscape", "--checkpoint", str(ckpt), "--out", out, "--line", "sideways"], capsys, "--line")
    assert not Path(out).exists()
