"""``convscope inspect --deepvis LAYER``: synthetic images, top-k patches and saliency
maps written as PNG + NumPy files that agree with the probes called with the panel's
settings and drawn with its display transforms; a bad layer or class ends with one line
and exit status 2, before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from convscope.cli import main
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.model import init
from convscope.probes.deepvis_export import image_grid
from convscope.probes.saliency import METHODS
from convscope.train.checkpoint import Checkpoint, save_checkpoint
from convscope.train.step import to_host

ARCH = ArchSpec(input_shape=(12, 12, 3), convs=(ConvLayer(4, 3), ConvLayer(3, 3)), dense=(8,), num_classes=4)
NORM = np.array([[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]], np.float32)


def _checkpoint(tmp_path: Path) -> Path:
    params, state = init(ARCH, 2)
    return save_checkpoint(tmp_path / "m.npz", Checkpoint(ARCH, TrainConfig(), to_host(params), to_host(state), 7, NORM))


def _model():
    params, state = init(ARCH, 2)
    return to_host(params), to_host(state)


def _png(path: Path, unzoomed: np.ndarray) -> np.ndarray:
    """The PNG's pixels, checked to be ``unzoomed`` enlarged by a whole factor."""
    with Image.open(path) as im:
        im.load()
        png = np.asarray(im)
    zoom = png.shape[0] // unzoomed.shape[0]
    assert zoom >= 1 and png.shape[:2] == (unzoomed.shape[0] * zoom, unzoomed.shape[1] * zoom), path.name
    return png[::zoom, ::zoom]


def _photo(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)).save(path)
    return path


def test_deepvis_files(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["inspect", str(_photo(tmp_path)), "--checkpoint", str(_checkpoint(tmp_path)), "--out", str(out),
            "--deepvis", "act2"]
    assert main(argv) == 0
    assert "deepvis act2: wrote" in capsys.readouterr().out
    assert (out / "act2.npy").exists()  # the ordinary inspect files are still there
    synth = np.load(out / "deepvis_act2_synthetic.npz")
    assert synth["images"].shape == (3, 12, 12, 3) and synth["activations"].shape == (3,)
    assert 0 <= synth["images"].min() and synth["images"].max() <= 1
    with Image.open(out / "deepvis_act2_synthetic.png") as im:
        im.load()
        assert im.mode == "RGB" and im.size[0] % (2 * 12 + 1) == 0  # 2×2 grid, enlarged by an integer
    top = np.load(out / "deepvis_act2_topk.npz")
    rf = 8  # conv 3 → pool 2 → conv 3: 3 + 1 + 2·2
    assert top["patches"].shape == (3, 9, rf, rf, 3) and top["indices"].shape == (3, 9)
    assert (np.diff(top["values"], axis=1) <= 0).all() and (top["indices"] >= 0).all()
    summary = json.loads((out / "deepvis_act2.json").read_text())
    assert summary["layer"] == "act2" and summary["topk"]["receptive_field"] == rf
    assert "fitted to 12×12×3" in summary["topk"]["images"]
    for method in METHODS:
        heat = np.load(out / f"saliency_{method}.npy")
        assert heat.shape == (12, 12) and 0 <= heat.min() and heat.max() <= 1, method
        with Image.open(out / f"saliency_{method}.png") as im:
            im.load()
            assert im.mode == "RGBA"
    assert np.load(out / "saliency_gradcam_raw.npy").shape == (6, 6)  # Grad-CAM at the chosen layer
    assert summary["saliency"]["gradcam"]["layer"] == "act2"


def test_unknown_or_dense_layer_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    photo, ckpt = _photo(tmp_path), _checkpoint(tmp_path)
    for i, layer in enumerate(["conv9", "dense1", "logits"]):
        out = tmp_path / f"o{i}"
        assert main(["inspect", str(photo), "--checkpoint", str(ckpt), "--out", str(out), "--deepvis", layer]) == 2
        err = capsys.readouterr().err
        assert err.startswith("convscope: --deepvis") and err.count("\n") == 1, err
        assert repr(layer) in err and "conv1, act1, pool1, conv2, act2, pool2" in err
        assert not out.exists()


def test_image_grid_layout() -> None:
    cells = np.arange(5 * 2 * 3, dtype=np.uint8).reshape(5, 2, 3, 1)
    grid = image_grid(cells, cols=3, pad=1, fill=255)
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2, 1)
    np.testing.assert_array_equal(grid[3:5, 4:7], cells[4])
    assert (grid[2] == 255).all() and (grid[3:, 8:] == 255).all()


def test_top_k_comes_from_the_data_set_given(tmp_path: Path, capsys) -> None:
    from convscope.probes.topk import top_k_patches

    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)
    y = np.arange(40) % 4
    data = tmp_path / "set.npz"
    np.savez(data, x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    ckpt, out = _checkpoint(tmp_path), tmp_path / "out"
    argv = ["inspect", str(_photo(tmp_path)), "--checkpoint", str(ckpt), "--out", str(out),
            "--deepvis", "act1", "--data", str(data)]
    assert main(argv) == 0
    written = np.load(out / "deepvis_act1_topk.npz")
    params, state = init(ARCH, 2)
    norm = np.array([[0.5, 0.4, 0.3], [0.2, 0.25, 0.3]], np.float32)
    expected = top_k_patches(ARCH, to_host(params), to_host(state), norm, "act1", x[30:], k=9)
    assert np.array_equal(written["indices"], expected.indices)
    assert "set validation split" in json.loads((out / "deepvis_act1.json").read_text())["topk"]["images"]


def test_data_of_another_shape_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    argv = ["inspect", str(_photo(tmp_path)), "--checkpoint", str(_checkpoint(tmp_path)), "--out", str(out),
            "--deepvis", "act1", "--data", "builtin:mnist"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "12×12×3" in err
    assert not out.exists()  # refused before anything was written


def test_the_files_are_the_panels_pictures(tmp_path: Path, capsys) -> None:
    """What the panel would show: ActMaxSettings() contrast-stretched, top-k of
    DEFAULT_K, every saliency method with the panel's options (occlusion on the logit,
    Grad-CAM at the last conv block whatever --deepvis says), blended at its opacity."""
    from convscope.data.images import fit_image, load_image
    from convscope.probes.deepvis import ActMaxSettings, activation_maximization
    from convscope.probes.saliency import METHOD_OPTIONS, saliency
    from convscope.probes.topk import DEFAULT_K
    from convscope.viz.display import heatmap_rgba, saliency_overlay, synthetic_display

    photo, out = _photo(tmp_path), tmp_path / "out"
    argv = ["inspect", str(photo), "--checkpoint", str(_checkpoint(tmp_path)), "--out", str(out), "--deepvis", "act1"]
    assert main(argv) == 0
    params, state = _model()
    image = fit_image(load_image(photo), ARCH.input_shape)

    synth = activation_maximization(ARCH, params, state, NORM, "act1", ActMaxSettings())
    np.testing.assert_allclose(np.load(out / "deepvis_act1_synthetic.npz")["images"], synth.images, atol=1e-6)
    shown = image_grid(synthetic_display(synth.images))
    np.testing.assert_array_equal(_png(out / "deepvis_act1_synthetic.png", shown), shown)
    stretched = _png(out / "deepvis_act1_synthetic.png", shown)[:12, :12]
    assert stretched.min() == 0 or stretched.max() == 255  # stretched, not the near-grey raw image

    top = np.load(out / "deepvis_act1_topk.npz")
    c, k, rf = top["patches"].shape[:3]
    assert (c, k) == (4, DEFAULT_K)
    rows = image_grid(top["patches"].reshape(c * k, rf, rf, 3), cols=k)
    np.testing.assert_array_equal(_png(out / "deepvis_act1_topk.png", rows), rows)

    summary = json.loads((out / "deepvis_act1.json").read_text())
    for method in METHODS:
        want = saliency(ARCH, params, state, NORM, image, method, **METHOD_OPTIONS.get(method, {}))
        np.testing.assert_allclose(np.load(out / f"saliency_{method}.npy"), want.heatmap, atol=1e-6, err_msg=method)
        np.testing.assert_array_equal(_png(out / f"saliency_{method}.png", want.heatmap), heatmap_rgba(want.heatmap))
        overlay = saliency_overlay(image, want.heatmap)
        np.testing.assert_array_equal(_png(out / f"saliency_{method}_overlay.png", overlay), overlay)
        assert summary["saliency"][method]["target_class"] == want.target_class == int(np.argmax(want.probabilities))
    assert summary["saliency"]["gradcam"]["layer"] == "act2"  # the panel's layer, not --deepvis act1
    assert np.load(out / "saliency_gradcam_raw.npy").shape == (6, 6)
    assert summary["saliency"]["occlusion"]["options"] == {"score": "logit"}
    by_probability = saliency(ARCH, params, state, NORM, image, "occlusion")
    assert not np.allclose(np.load(out / "saliency_occlusion.npy"), by_probability.heatmap, atol=1e-3)

    # The untrained net's saliency for another class than the predicted one.
    wrong = (int(np.argmax(want.probabilities)) + 1) % ARCH.num_classes
    out2 = tmp_path / "out2"
    assert main([*argv[:-4], "--out", str(out2), "--deepvis", "act1", "--class", str(wrong)]) == 0
    summary = json.loads((out2 / "deepvis_act1.json").read_text())
    for method in METHODS:
        want = saliency(ARCH, params, state, NORM, image, method, wrong, **METHOD_OPTIONS.get(method, {}))
        assert summary["saliency"][method]["target_class"] == wrong, method
        np.testing.assert_allclose(np.load(out2 / f"saliency_{method}.npy"), want.heatmap, atol=1e-6, err_msg=method)


def test_a_bad_class_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    photo, ckpt = _photo(tmp_path), _checkpoint(tmp_path)
    for i, (extra, words) in enumerate([
        (["--deepvis", "act1", "--class", "4"], "0..3"),
        (["--deepvis", "act1", "--class", "-1"], "0..3"),
        (["--deepvis", "act1", "--class", "cat"], "'cat'"),
        (["--deepvis", "act1", "--class", "1.5"], "'1.5'"),
        (["--class", "1"], "only with --deepvis"),
    ]):
        out = tmp_path / f"o{i}"
        assert main(["inspect", str(photo), "--checkpoint", str(ckpt), "--out", str(out), *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.startswith("convscope: --class") and err.count("\n") == 1 and words in err, err
        assert not out.exists()  # refused before anything was written
