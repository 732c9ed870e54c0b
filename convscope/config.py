"""Frozen, validated configuration: the model architecture and the training setup.

Both round-trip through JSON (``to_dict`` / ``from_dict``) so that run directories and
checkpoints can be read by other tools. NumPy and the standard library only.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import re
from dataclasses import dataclass, field
from typing import Any

ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "elu", "gelu")
POOLS = ("max", "avg", "none")
PADDINGS = ("valid", "same")
INITS = ("zeros", "gaussian", "xavier", "he")
OPTIMIZERS = ("sgd", "momentum", "adam", "rmsprop")
OPTIMIZER_LABELS = {
    "sgd": "SGD",
    "momentum": "SGD + momentum",
    "adam": "Adam",
    "rmsprop": "RMSprop",
}
# Learning rates above which an optimizer tends to diverge on the built-in models: the
# adaptive ones normalise each step to about the learning rate itself, so 1e-2 is already
# large for them. The controls warn past these, and a diverged run names them.
LR_TOO_HIGH = {"sgd": 0.3, "momentum": 0.3, "adam": 1e-2, "rmsprop": 1e-2}


def _check_int(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _check_float(name: str, value: Any, lo: float, hi: float, lo_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (lo < value if lo_open else lo <= value) and value <= hi
    if not ok:
        bracket = "(" if lo_open else "["
        raise ValueError(f"{name} must be a number in {bracket}{lo}, {hi}], got {value!r}")


@dataclass(frozen=True)
class ConvLayer:
    """One conv block: convolution → (batch norm) → activation → (pooling)."""

    filters: int = 32
    kernel: int = 3
    stride: int = 1
    padding: str = "same"
    pool: str = "max"
    pool_size: int = 2

    def __post_init__(self) -> None:
        _check_int("filters", self.filters, 1, 1024)
        _check_int("kernel", self.kernel, 1, 15)
        _check_int("stride", self.stride, 1, 8)
        _check_choice("padding", self.padding, PADDINGS)
        _check_choice("pool", self.pool, POOLS)
        _check_int("pool_size", self.pool_size, 1, 8)


def _conv_layer(i: int, c: Any) -> ConvLayer:
    if isinstance(c, ConvLayer):
        return c
    unknown = set(c) - {f.name for f in dataclasses.fields(ConvLayer)}
    if unknown:
        raise ValueError(f"unknown ConvLayer field(s) in convs[{i}]: {', '.join(sorted(unknown))}")
    return ConvLayer(**c)


@dataclass(frozen=True)
class ArchSpec:
    """The whole network as data: conv blocks, then dense layers, then the classifier."""

    input_shape: tuple[int, int, int] = (28, 28, 1)
    num_classes: int = 10
    convs: tuple[ConvLayer, ...] = (
        ConvLayer(filters=32, kernel=3),
        ConvLayer(filters=64, kernel=3),
    )
    dense: tuple[int, ...] = (128,)
    activation: str = "relu"
    batch_norm: bool = False
    init: str = "he"

    def __post_init__(self) -> None:
        # NumPy integers become ints; bools and floats are left for _check_int to reject.
        object.__setattr__(
            self,
            "input_shape",
            tuple(
                int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else v
                for v in self.input_shape
            ),
        )
        object.__setattr__(self, "convs", tuple(_conv_layer(i, c) for i, c in enumerate(self.convs)))
        object.__setattr__(self, "dense", tuple(self.dense))
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels), got {self.input_shape}")
        for name, v in zip(("input height", "input width", "input channels"), self.input_shape, strict=True):
            _check_int(name, v, 1, 4096)
        _check_int("num_classes", self.num_classes, 2, 10000)
        if len(self.convs) > 12:
            raise ValueError(f"at most 12 conv blocks are supported, got {len(self.convs)}")
        for i, width in enumerate(self.dense):
            _check_int(f"dense[{i}] width", width, 1, 8192)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("init", self.init, INITS)
        if not isinstance(self.batch_norm, bool):
            raise ValueError(f"batch_norm must be true or false, got {self.batch_norm!r}")
        # Shape inference raises a ValueError naming the block whose map vanishes.
        from convscope.shapes import layer_table

        layer_table(self)

    @classmethod
    def uniform(
        cls,
        blocks: int = 2,
        filters: int = 32,
        double: bool = True,
        kernel: int = 3,
        stride: int = 1,
        padding: str = "same",
        pool: str = "max",
        pool_size: int = 2,
        **kwargs: Any,
    ) -> ArchSpec:
        """A spec whose conv blocks share settings; filters double per block if asked."""
        _check_int("blocks", blocks, 0, 12)
        convs = tuple(
            ConvLayer(
                filters=min(filters * (2**i if double else 1), 1024),
                kernel=kernel,
                stride=stride,
                padding=padding,
                pool=pool,
                pool_size=pool_size,
            )
            for i in range(blocks)
        )
        return cls(convs=convs, **kwargs)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["dense"] = list(self.dense)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArchSpec:
        d = dict(d)
        d["convs"] = tuple(_conv_layer(i, c) for i, c in enumerate(d.get("convs", ())))
        d["input_shape"] = tuple(d.get("input_shape", (28, 28, 1)))
        d["dense"] = tuple(d.get("dense", ()))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown ArchSpec field(s): {', '.join(sorted(unknown))}")
        return cls(**d)


NORMALIZATIONS = ("standardize", "center", "none")
NORMALIZATION_LABELS = {
    "standardize": "Standardize (mean, std)",
    "center": "Center (mean only)",
    "none": "None (x / 255)",
}
# Augmentation strengths: (field, largest allowed value).
AUGMENT_LIMITS = {
    "augment_flip": 1.0,  # probability
    "augment_rotate": 180.0,  # degrees
    "augment_zoom": 0.9,  # scale change, 1 ± zoom
    "augment_brightness": 1.0,  # added to pixels in [0, 1]
    "augment_contrast": 1.0,  # contrast factor 1 ± contrast
    "augment_saturation": 1.0,  # saturation factor 1 ± saturation
}

# Hyperparameters that change between steps without recompiling (traced arguments).
LIVE_FIELDS = (
    "learning_rate",
    "optimizer",
    "momentum",
    "weight_decay",
    "dropout",
    "batch_size",
    "augment",
    "augment_shift",
    *AUGMENT_LIMITS,
    "normalization",
    "frozen",
    "lr_multipliers",
)

# What may be frozen: a conv block (its batch norm with it), a hidden dense layer, the classifier.
_FROZEN_NAME = re.compile(r"(conv|dense)([1-9][0-9]*)|logits")


def frozen_names(value: Any) -> tuple[str, ...]:
    """``frozen`` as a tuple in forward order (conv…, dense…, logits); a comma-separated
    string is accepted (``--set frozen=conv1,conv2``). ValueError names a bad entry."""
    if isinstance(value, str):
        value = [v for v in (s.strip() for s in value.split(",")) if v]
    if not isinstance(value, (list, tuple)):
        raise ValueError(f"frozen must be a list of layer names, got {value!r}")
    order = {"conv": 0, "dense": 1}
    keys = []
    for name in value:
        m = _FROZEN_NAME.fullmatch(name) if isinstance(name, str) else None
        if m is None:
            raise ValueError(f"frozen: {name!r} is not a layer that can be frozen (conv1, conv2, …, dense1, …, logits)")
        keys.append(((order[m.group(1)], int(m.group(2))) if m.group(1) else (2, 0), name))
    if len(set(keys)) != len(keys):
        raise ValueError(f"frozen names a layer twice: {', '.join(value)}")
    return tuple(name for _, name in sorted(keys))


LR_MULTIPLIER_MAX = 10.0


def lr_multiplier_pairs(value: Any) -> tuple[tuple[str, float], ...]:
    """``lr_multipliers`` as ((layer, multiplier), …) in forward order, multipliers in
    (0, 10] and 1 left out; from a dict, pairs, or "conv1:0.1,conv2:0.5" (``--set``)."""
    if isinstance(value, str):
        pairs = []
        for part in (p.strip() for p in value.split(",")):
            if not part:
                continue
            name, sep, number = part.partition(":")
            try:
                pairs.append((name.strip(), float(number)))
            except ValueError:
                raise ValueError(f"lr_multipliers: expected layer:multiplier, got {part!r}") from None
            if not sep:
                raise ValueError(f"lr_multipliers: expected layer:multiplier, got {part!r}")
        value = pairs
    items = list(value.items()) if isinstance(value, dict) else list(value) if isinstance(value, (list, tuple)) else None
    if items is None or not all(isinstance(i, (list, tuple)) and len(i) == 2 for i in items):
        raise ValueError(f"lr_multipliers must map layer names to numbers, got {value!r}")
    names = frozen_names([str(n) for n, _ in items]) if items else ()
    table = {str(n): m for n, m in items}
    for name in names:
        _check_float(f"lr_multipliers[{name}]", table[name], 0.0, LR_MULTIPLIER_MAX, lo_open=True)
    return tuple((name, float(table[name])) for name in names if float(table[name]) != 1.0)


@dataclass(frozen=True)
class TrainConfig:
    """How to train: optimizer and its live hyperparameters, batching and logging."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    dropout: float = 0.25
    batch_size: int = 128
    augment: bool = True  # master switch for every augmentation below
    augment_shift: int = 2  # whole pixels, ±
    augment_flip: float = 0.0  # horizontal flip probability (never for digits)
    augment_rotate: float = 0.0  # degrees, ±
    augment_zoom: float = 0.0  # scale 1 ± zoom
    augment_brightness: float = 0.0
    augment_contrast: float = 0.0
    augment_saturation: float = 0.0  # RGB only
    normalization: str = "standardize"
    seed: int = 0
    eval_every: int = 50  # evaluate on the held-out split every N steps
    log_every: int = 10  # report metrics at least every N steps (and every 0.2 s)
    val_fraction: float = 0.1
    # Layers that receive no update (a conv block's batch norm with its conv): train/step.py.
    frozen: tuple[str, ...] = ()
    # Per-layer learning-rate multipliers ((layer, factor), …): a layer's update is scaled.
    lr_multipliers: tuple[tuple[str, float], ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("learning_rate", self.learning_rate, 0.0, 10.0, lo_open=True)
        _check_float("momentum", self.momentum, 0.0, 0.999)
        _check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_float("dropout", self.dropout, 0.0, 0.95)
        _check_int("batch_size", self.batch_size, 1, 4096)
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment must be true or false, got {self.augment!r}")
        _check_int("augment_shift", self.augment_shift, 0, 8)
        for name, hi in AUGMENT_LIMITS.items():
            _check_float(name, getattr(self, name), 0.0, hi)
        _check_choice("normalization", self.normalization, NORMALIZATIONS)
        _check_int("seed", self.seed, 0, 2**31 - 1)
        _check_int("eval_every", self.eval_every, 1, 1_000_000)
        _check_int("log_every", self.log_every, 1, 1_000_000)
        _check_float("val_fraction", self.val_fraction, 0.0, 0.9)
        object.__setattr__(self, "frozen", frozen_names(self.frozen))
        object.__setattr__(self, "lr_multipliers", lr_multiplier_pairs(self.lr_multipliers))

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("extra")
        d["frozen"] = list(self.frozen)
        d["lr_multipliers"] = dict(self.lr_multipliers)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s): {', '.join(sorted(unknown))}")
        return cls(**d)


def freezable_layers(arch: ArchSpec) -> tuple[str, ...]:
    """The names ``TrainConfig.frozen`` may hold for ``arch``, in forward order."""
    return (*(f"conv{i}" for i in range(1, len(arch.convs) + 1)),
            *(f"dense{j}" for j in range(1, len(arch.dense) + 1)), "logits")


def frozen_within(arch: ArchSpec, config: TrainConfig) -> TrainConfig:
    """``config`` without the frozen layers (and learning-rate multipliers) of layers
    ``arch`` lacks (a new architecture or data set)."""
    names = freezable_layers(arch)
    kept = tuple(n for n in config.frozen if n in names)
    lrs = tuple(p for p in config.lr_multipliers if p[0] in names)
    return config if (kept, lrs) == (config.frozen, config.lr_multipliers) else config.replace(frozen=kept,
                                                                                               lr_multipliers=lrs)


def parse_assignment(text: str) -> tuple[str, Any]:
    """Parse a ``key=value`` override from the command line into (key, typed value)."""
    if "=" not in text:
        raise ValueError(f"expected key=value, got {text!r}")
    key, raw = (s.strip() for s in text.split("=", 1))
    if raw.lower() in ("true", "false"):
        return key, raw.lower() == "true"
    for conv in (int, float):
        try:
            return key, conv(raw)
        except ValueError:
            pass
    return key, raw
