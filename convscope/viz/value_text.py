"""Settings and their values as short text: ``lr 1e-3→3e-3`` on the training curves'
change markers, the hyperparameter sliders' boxes and warnings."""

from __future__ import annotations

from typing import Any

from convscope.config import OPTIMIZER_LABELS

SHORT_NAMES = {
    "learning_rate": "lr",
    "weight_decay": "wd",
    "batch_size": "batch",
    "optimizer": "opt",
    "momentum": "mom",
    "dropout": "dropout",
    "augment": "aug",
    "augment_shift": "shift",
    "augment_flip": "flip",
    "augment_rotate": "rotate",
    "augment_zoom": "zoom",
    "augment_brightness": "bright",
    "augment_contrast": "contrast",
    "augment_saturation": "sat",
    "normalization": "norm",
    "lr_multipliers": "lr×",
}


def format_value(value: Any) -> str:
    """Compact, readable numbers for marker labels: 3e-3, 0.25, 128, Adam."""
    if isinstance(value, str):
        return OPTIMIZER_LABELS.get(value, value)
    if isinstance(value, (tuple, list)):  # the frozen layers, the learning-rate multipliers
        return ",".join(f"{v[0]}×{format_value(v[1])}" if isinstance(v, (tuple, list)) else str(v)
                        for v in value) or "none"
    if isinstance(value, bool) or isinstance(value, int):
        return str(value)
    v = float(value)
    if v == 0:
        return "0"
    if abs(v) < 0.01 or abs(v) >= 1e4:
        mantissa, exponent = f"{v:.1e}".split("e")
        mantissa = mantissa.removesuffix(".0")
        return f"{mantissa}e{int(exponent)}"
    return f"{v:.3g}"


def describe_change(key: str, old: Any, new: Any) -> str:
    """``lr 1e-3→3e-3``: what a marker on the curves says."""
    return f"{SHORT_NAMES.get(key, key)} {format_value(old)}→{format_value(new)}"
