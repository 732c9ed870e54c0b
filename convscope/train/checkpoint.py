"""Checkpoints: weights + ArchSpec + TrainConfig in one ``.npz``, written atomically.

Format (readable by any NumPy program, ``allow_pickle=False``):

* ``params/<layer>/<name>``: float32 arrays, e.g. ``params/conv1/w`` with shape
  (F, F, D, K) (HWIO) and ``params/conv1/b`` (K,); dense ``w`` is (in, out);
* ``state/<layer>/<name>``: batch-norm running ``mean`` and ``var``;
* ``norm``: (2, C) float32, the per-channel mean and std (of pixels scaled to [0, 1])
  that inputs are standardised with before the first layer;
* ``meta``: a 0-d unicode array holding JSON: ``{"format": "convscope-checkpoint",
  "version": 1, "step": int, "arch": ArchSpec.to_dict(), "config": TrainConfig.to_dict(),
  "data": {...}}``. ``data`` (optional; absent in checkpoints written before it existed)
  says what the weights were trained on: ``{"name": str, "origin": str, "val_split":
  [fraction, seed] or null}``. ``origin`` is what ``load_dataset`` was given, a path made
  absolute ("" when unknown); ``convscope evaluate`` and ``landscape`` open it when no
  ``--data`` is given; ``val_split`` is the validation split cut off the training images, or null
  when the set brought its own test split. ``convscope evaluate`` cuts the same split, so
  it never evaluates on training images. Readers that do not know ``data`` ignore it.
  The size image-folder images were resized to is the model's input size,
  ``arch.input_shape``.

The optimizer's moments are not stored: a resumed run restarts them from zero.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convscope.config import ArchSpec, TrainConfig

FORMAT = "convscope-checkpoint"
VERSION = 1

HostParams = dict[str, dict[str, np.ndarray]]


class CheckpointError(ValueError):
    """A checkpoint could not be read or written; the message names the file."""


@dataclass(frozen=True)
class DataRecord:
    """The data set weights were trained on, as far as evaluating them again needs."""

    name: str = ""
    origin: str = ""  # what load_dataset was given ("" unknown)
    val_split: tuple[float, int] | None = None  # (fraction, seed); None: the set's own test split

    @classmethod
    def of(cls, dataset: object) -> DataRecord:
        """The record of a Dataset (or anything with its ``name``, ``origin``, ``val_split``)."""
        split = getattr(dataset, "val_split", None)
        origin = str(getattr(dataset, "origin", ""))
        if origin and not origin.lower().startswith("builtin:"):
            origin = os.path.abspath(origin)  # evaluate may run from another folder
        return cls(
            str(getattr(dataset, "name", "")),
            origin,
            (float(split[0]), int(split[1])) if split is not None else None,
        )

    def to_dict(self) -> dict[str, object]:
        split = list(self.val_split) if self.val_split is not None else None
        return {"name": self.name, "origin": self.origin, "val_split": split}

    @classmethod
    def from_dict(cls, d: object) -> DataRecord:
        """ValueError when ``d`` is not what ``to_dict`` writes."""
        if not isinstance(d, dict):
            raise ValueError(f"data must be an object, got {type(d).__name__}")
        name, origin, split = d.get("name", ""), d.get("origin", ""), d.get("val_split")
        if not isinstance(name, str) or not isinstance(origin, str):
            raise ValueError("data name and origin must be strings")
        if split is None:
            return cls(name, origin, None)
        ok = (
            isinstance(split, list)
            and len(split) == 2
            and isinstance(split[0], int | float)
            and not isinstance(split[0], bool)
            and 0.0 < split[0] < 1.0
            and isinstance(split[1], int)
            and not isinstance(split[1], bool)
            and 0 <= split[1] < 2**31
        )
        if not ok:
            raise ValueError(f"data val_split must be null or [fraction in (0, 1), seed ≥ 0], got {split!r}")
        return cls(name, origin, (float(split[0]), int(split[1])))


def data_mismatch(record: DataRecord | None, dataset: object) -> str:
    """"" when ``dataset`` is what the weights were trained on (or that is not recorded),
    else one sentence on what differs: another data set, or the same set split another
    way, whose validation images then include some the weights were trained on."""
    if record is None or not record.origin:
        return ""
    here = DataRecord.of(dataset)
    if here.origin != record.origin:
        return (f"it was trained on {record.name or record.origin} ({record.origin}), not the loaded "
                f"{here.name or 'data set'}")
    if here.val_split != record.val_split:
        def split(s: tuple[float, int] | None) -> str:
            return "its own test split" if s is None else f"{s[0]:.0%} validation, seed {s[1]}"

        return (f"it was trained with {split(record.val_split)}; the loaded set is split {split(here.val_split)}, "
                "so its validation images include some the weights were trained on (the Data panel "
                "reloads it with the checkpoint's split)")
    return ""


@dataclass(frozen=True)
class Checkpoint:
    arch: ArchSpec
    config: TrainConfig
    params: HostParams
    state: HostParams
    step: int
    norm: np.ndarray | None = None  # (2, C): the input mean and std the weights expect
    data: DataRecord | None = None  # what it was trained on (None: not recorded)


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint) -> Path:
    """Write ``ckpt`` to ``path`` (".npz" appended if missing): temp file, fsync, replace."""
    from convscope.atomic import atomic_write

    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "step": int(ckpt.step),
        "arch": ckpt.arch.to_dict(),
        "config": ckpt.config.to_dict(),
    }
    if ckpt.data is not None:
        meta["data"] = ckpt.data.to_dict()
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    if ckpt.norm is not None:
        arrays["norm"] = np.asarray(ckpt.norm, np.float32)
    for prefix, tree in (("params", ckpt.params), ("state", ckpt.state)):
        for layer, leaves in tree.items():
            for name, value in leaves.items():
                arrays[f"{prefix}/{layer}/{name}"] = np.asarray(value, np.float32)
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write checkpoint ({e.strerror or e})") from e
    return path


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; CheckpointError if it is not one."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    try:
        with open(path, "rb") as f, np.load(f, allow_pickle=False) as z:  # ours: closed if not a zip
            if "meta" not in z.files:
                raise CheckpointError(f"{path}: not a ConvScope checkpoint (no 'meta' entry)")
            meta = json.loads(str(z["meta"]))
            params: HostParams = {}
            state: HostParams = {}
            norm = z["norm"] if "norm" in z.files else None
            for key in z.files:
                parts = key.split("/")
                if len(parts) == 3 and parts[0] in ("params", "state"):
                    tree = params if parts[0] == "params" else state
                    tree.setdefault(parts[1], {})[parts[2]] = z[key]
    except CheckpointError:
        raise
    except FileNotFoundError as e:
        raise CheckpointError(f"{path}: no such file") from e
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:  # BadZipFile: truncated
        raise CheckpointError(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a ConvScope checkpoint")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {meta.get('version')} is not supported")
    try:
        arch = ArchSpec.from_dict(meta["arch"])
        config = TrainConfig.from_dict(meta["config"])
        data = DataRecord.from_dict(meta["data"]) if "data" in meta else None
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: invalid configuration in checkpoint ({e})") from e
    _check_shapes(path, arch, params, state)
    if norm is not None and norm.shape != (2, arch.input_shape[2]):
        raise CheckpointError(f"{path}: norm has shape {norm.shape}, expected {(2, arch.input_shape[2])}")
    return Checkpoint(arch, config, params, state, int(meta.get("step", 0)), norm, data)


def _check_shapes(path: Path, arch: ArchSpec, params: HostParams, state: HostParams) -> None:
    """The stored arrays must be exactly the ones the ArchSpec calls for."""
    import jax

    from convscope.model.network import init

    want_p, want_s = jax.eval_shape(lambda: init(arch, 0))
    for label, want, got in (("params", want_p, params), ("state", want_s, state)):
        for layer, leaves in want.items():
            for name, spec in leaves.items():
                arr = got.get(layer, {}).get(name)
                if arr is None:
                    raise CheckpointError(f"{path}: missing {label}/{layer}/{name}")
                if tuple(arr.shape) != tuple(spec.shape):
                    raise CheckpointError(
                        f"{path}: {label}/{layer}/{name} has shape {tuple(arr.shape)}, "
                        f"expected {tuple(spec.shape)}"
                    )
