"""``convscope inspect --deepvis LAYER``: synthetic images, top-k patches and saliency
maps for one layer and one image, written as PNG + NumPy files.

The pictures are the Deep-visualization panel's: the same settings (``ActMaxSettings()``,
``DEFAULT_K`` patches, the saliency ``METHOD_OPTIONS``, Grad-CAM at the last conv block's
activation whatever LAYER is) and the same display transforms (viz.display: synthetic
images contrast-stretched about grey, heatmaps in viridis and blended over the image at
the panel's default opacity). The PNG writer is passed in by the command line (Pillow
stays out of probes/).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from convscope.config import ArchSpec
from convscope.probes.deepvis import ActMaxSettings, activation_maximization, spatial_row
from convscope.probes.saliency import METHOD_OPTIONS, METHODS, saliency
from convscope.probes.topk import DEFAULT_K, top_k_patches
from convscope.viz.display import heatmap_rgba, saliency_overlay, synthetic_display

HostParams = dict[str, dict[str, np.ndarray]]
WritePng = Callable[[Path, np.ndarray], None]  # (path, uint8 (H, W, 1 | 3 | 4))
TOP_K = DEFAULT_K


def image_grid(cells: np.ndarray, cols: int | None = None, pad: int = 1, fill: int = 255) -> np.ndarray:
    """uint8 cells (N, h, w, c) → one (rows·(h+pad)−pad, cols·(w+pad)−pad, c) picture."""
    n, h, w, c = cells.shape
    cols = cols or max(1, math.ceil(math.sqrt(n)))
    rows = max(1, math.ceil(n / cols))
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad, c), fill, np.uint8)
    for i in range(n):
        r, q = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, q * (w + pad) : q * (w + pad) + w] = cells[i]
    return out


def validation_images(arch: ArchSpec) -> tuple[np.ndarray, str]:
    """The built-in digits' validation split fitted to the model's input (DataError if missing)."""
    from convscope.data import builtin_mnist
    from convscope.data.images import fit_image

    x = builtin_mnist().x_val
    if tuple(x.shape[1:]) == tuple(arch.input_shape):
        return x, "built-in MNIST validation split"
    fitted = np.stack([fit_image(img, arch.input_shape, invert=False) for img in x])
    return fitted, f"built-in MNIST validation split fitted to {'×'.join(map(str, arch.input_shape))}"


def export_deepvis(out: Path, arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray,
                   layer: str, image: np.ndarray, write_png: WritePng,
                   settings: ActMaxSettings = ActMaxSettings(),  # noqa: B008 (frozen)
                   images: tuple[np.ndarray, str] | None = None,
                   target_class: int | None = None) -> list[Path]:
    """Write the deep-visualization files for ``layer`` into ``out``; returns their paths.

    Raises ValueError (unknown or non-spatial layer, a class out of range) before writing
    anything, and DataError when the built-in images are missing. ``images`` (uint8 (N,
    H, W, C) in the model's input shape, and where they come from) replaces the built-in
    digits as the pool the top-k patches are chosen from. ``target_class``: the class the
    saliency maps explain (default: the predicted one).
    """
    spatial_row(arch, layer)
    if target_class is not None and not (isinstance(target_class, (int, np.integer))
                                         and 0 <= target_class < arch.num_classes):
        raise ValueError(f"the class must be in [0, {arch.num_classes - 1}], got {target_class!r}")
    written: list[Path] = []

    def save_png(name: str, picture: np.ndarray) -> None:
        write_png(out / name, picture)
        written.append(out / name)

    def save_np(name: str, **arrays: np.ndarray) -> None:
        path = out / name
        if name.endswith(".npy"):
            np.save(path, next(iter(arrays.values())))
        else:
            np.savez_compressed(path, **arrays)  # type: ignore[arg-type]
        written.append(path)

    synth = activation_maximization(arch, params, state, norm, layer, settings)
    assert synth is not None  # nothing can stop it here
    save_png(f"deepvis_{layer}_synthetic.png", image_grid(synthetic_display(synth.images)))
    save_np(f"deepvis_{layer}_synthetic.npz", images=synth.images, activations=synth.activations,
            channels=synth.channels)

    val, val_source = images if images is not None else validation_images(arch)
    top = top_k_patches(arch, params, state, norm, layer, val, k=TOP_K)
    assert top is not None
    c, k, rf = top.patches.shape[0], top.patches.shape[1], top.rf
    save_png(f"deepvis_{layer}_topk.png", image_grid(top.patches.reshape(c * k, rf, rf, -1), cols=k))
    save_np(f"deepvis_{layer}_topk.npz", values=top.values, indices=top.indices, positions=top.positions,
            patches=top.patches, boxes=top.boxes)

    summary: dict[str, object] = {
        "layer": layer,
        "synthetic": {"steps": synth.steps, "seconds": round(synth.seconds, 3),
                      "activations": [float(a) for a in synth.activations], "settings": vars(settings),
                      "png": "each image contrast-stretched about grey, as the panel shows it; "
                             "the .npz holds the images themselves"},
        "topk": {"k": TOP_K, "images": val_source, "receptive_field": rf,
                 "rows": "one row per channel, strongest first"},
        "saliency": {},
    }
    files, summary["saliency"] = export_saliency(out, arch, params, state, norm, image, write_png, target_class)
    written += files
    path = out / f"deepvis_{layer}.json"
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    written.append(path)
    return written


def export_saliency(out: Path, arch: ArchSpec, params: HostParams, state: HostParams, norm: np.ndarray,
                    image: np.ndarray, write_png: WritePng,
                    target_class: int | None = None) -> tuple[list[Path], dict[str, object]]:
    """Saliency maps of ``image`` for every method (the panel's options): per method
    ``saliency_<method>.png`` (the heatmap in viridis), ``_overlay.png`` (blended over the
    image), ``saliency_<method>.npy`` (the heatmap, (H, W) in [0, 1]) and
    ``saliency_<method>_raw.npy`` (the signed map behind it). Returns the paths written
    and a summary per method."""
    if target_class is not None and not (isinstance(target_class, (int, np.integer))
                                         and 0 <= target_class < arch.num_classes):
        raise ValueError(f"the class must be in [0, {arch.num_classes - 1}], got {target_class!r}")
    written: list[Path] = []
    summary: dict[str, object] = {}
    for method in METHODS:
        opts = METHOD_OPTIONS.get(method, {})
        res = saliency(arch, params, state, norm, image, method, target_class, **opts)
        for name, picture in ((f"saliency_{method}.png", heatmap_rgba(res.heatmap)),
                              (f"saliency_{method}_overlay.png", saliency_overlay(image, res.heatmap))):
            write_png(out / name, picture)
            written.append(out / name)
        np.save(out / f"saliency_{method}.npy", res.heatmap)
        written.append(out / f"saliency_{method}.npy")
        if res.raw is not None:
            np.save(out / f"saliency_{method}_raw.npy", res.raw)
            written.append(out / f"saliency_{method}_raw.npy")
        summary[method] = {"target_class": res.target_class, "predicted_class": int(np.argmax(res.probabilities)),
                           "seconds": round(res.seconds, 4), "layer": res.layer, "options": dict(opts),
                           "raw": RAW_MEANING[method]}
    return written, summary


# What saliency_<method>_raw.npy holds (the heatmap is made from it).
RAW_MEANING = {
    "vanilla": "(H, W, C) float32: d logit / d pixel, pixels scaled to [0, 1]",
    "smoothgrad": "(H, W, C) float32: that gradient averaged over the noisy copies",
    "guided": "(H, W, C) float32: the guided-backprop gradient (passed back through an activation only where its "
               "input and the gradient are positive)",
    "gradcam": "(h, w) float32: the class-activation map at the Grad-CAM layer's resolution, before ReLU "
               "and upsampling",
    "occlusion": "(H, W) float32: the mean drop of the class logit over the windows covering each pixel "
                 "(negative: hiding the region raised it)",
}
