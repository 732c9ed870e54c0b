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
  ``arch.input_shape``. Optional too: ``examples`` (int, training examples seen, so
  that the epoch counter goes on where it stopped) and ``class_names`` (one string per
  output).

Reading checks every value before it is used (see :func:`load_checkpoint`).

Optional, for an exact resume (see :mod:`convscope.train.resume_state`): ``meta["resume"]``
and the ``resume/...`` arrays: the optimizer moments, the dropout key, the shuffling
generator and its position. Without them a resumed run restarts the moments from zero.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from convscope.config import ArchSpec, TrainConfig
from convscope.data.npz_set import is_zip_stream, load_error_detail, read_npy_header
from convscope.shapes import param_shapes, total_params, training_memory_bytes
from convscope.train.resume_state import ResumeState, read_resume, resume_entries

FORMAT = "convscope-checkpoint"
VERSION = 1

# What a checkpoint may ask for. The budget bounds the estimate of training memory
# (convscope.shapes.training_memory_bytes): above any model the app builds for the sets it
# loads (the default digits model needs about 0.1 GiB; the default model on 256×256 colour
# images, the largest --image-size, about 8 GiB at batch 128), below a file built to
# exhaust memory (tens of GiB and up).
MEMORY_BUDGET_BYTES = 16 * 2**30
MAX_META_CHARS = 1 << 20
MAX_ENTRIES = 4000
MAX_STEP = 2**53  # steps and examples stay exact as JSON numbers
MAX_NAME_CHARS = 1000

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
    examples: int | None = None  # training examples seen (epochs × training images); None: not recorded
    class_names: tuple[str, ...] | None = None  # one per output; None: not recorded
    resume: ResumeState | None = None  # optimizer moments and random streams; None: weights only


HALF_MAX = 65504.0  # the largest finite float16


def save_checkpoint(path: str | os.PathLike, ckpt: Checkpoint, *, half: bool = False) -> Path:
    """Write ``ckpt`` to ``path`` (".npz" appended if missing): temp file, fsync, replace.
    CheckpointError (nothing written) if a weight, statistic or ``norm`` is not finite.

    ``half``: the weights (``params/…``) as float16, half the bytes, for a run's
    snapshots (``runs/layout.py``); a weight array float16 cannot hold (beyond ±65504)
    stays float32. Loading gives float32 either way."""
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
    if ckpt.examples is not None:
        meta["examples"] = int(ckpt.examples)
    if ckpt.class_names is not None:
        meta["class_names"] = [str(n) for n in ckpt.class_names]
    arrays: dict[str, np.ndarray] = {}
    if ckpt.resume is not None:
        meta["resume"], arrays = resume_entries(ckpt.resume)
    arrays["meta"] = np.array(json.dumps(meta))
    if ckpt.norm is not None:
        arrays["norm"] = np.asarray(ckpt.norm, np.float32)
    for prefix, tree in (("params", ckpt.params), ("state", ckpt.state)):
        for layer, leaves in tree.items():
            for name, value in leaves.items():
                value = np.asarray(value, np.float32)
                if half and prefix == "params" and np.all(np.abs(value) <= HALF_MAX):
                    value = value.astype(np.float16)
                arrays[f"{prefix}/{layer}/{name}"] = value
    for key, value in arrays.items():  # a file that cannot be opened again is never written
        if key != "meta" and not np.all(np.isfinite(value)):
            raise CheckpointError(f"{path}: not saved: {key} holds non-finite values (NaN or infinity), "
                                  "which a checkpoint never keeps")
    try:
        atomic_write(path, lambda f: np.savez(f, **arrays))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot write checkpoint ({e.strerror or e})") from e
    return path


def load_checkpoint(path: str | os.PathLike, memory_budget: int = MEMORY_BUDGET_BYTES) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; CheckpointError if it is not
    one. Every value is checked before it is used, and an array before it is read (its
    header): the meta entry's size and types, the architecture's training memory against
    ``memory_budget`` (:func:`convscope.shapes.training_memory_bytes`), then each array's
    dtype (real floating point) and shape against the architecture, and its values (finite)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a directory, not a checkpoint file")
    try:
        with open(path, "rb") as f:  # ours: closed if not a zip
            if not is_zip_stream(f):  # np.load would return a .npy's array, or try a pickle
                raise CheckpointError(f"{path}: not a ConvScope checkpoint (not an .npz archive)")
            with np.load(f, allow_pickle=False) as z:
                return _read(path, z, memory_budget)
    except CheckpointError:
        raise
    except FileNotFoundError as e:
        raise CheckpointError(f"{path}: no such file") from e
    except MemoryError as e:
        raise CheckpointError(f"{path}: not enough memory to read the checkpoint") from e
    # BadZipFile: truncated; NotImplementedError: an unknown compression; RuntimeError: encrypted
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError,
            RuntimeError) as e:
        raise CheckpointError(f"{path}: not a readable checkpoint ({load_error_detail(e)})") from e


def _header(z: Any, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the .npz entry ``key``, from its header alone (nothing allocated)."""
    with z.zip.open(f"{key}.npy") as f:
        try:
            shape, _fortran, dtype = read_npy_header(f)
        except ValueError as e:
            raise ValueError(f"{key}: {e}") from e
    return shape, dtype


def _read_floats(path: Path, z: Any, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 values of entry ``key``, which must be real floating point of ``shape``
    and finite; checked on the header before the data is read."""
    if key not in z.files:
        raise CheckpointError(f"{path}: missing {key}")
    got, dtype = _header(z, key)
    if dtype.kind != "f" or dtype.fields is not None or dtype.subdtype is not None:
        raise CheckpointError(f"{path}: {key} holds {dtype} values; real floating-point numbers expected")
    if got != tuple(shape):
        raise CheckpointError(f"{path}: {key} has shape {got}, expected {tuple(shape)}")
    values = np.asarray(z[key], np.float32)
    if not np.all(np.isfinite(values)):
        raise CheckpointError(f"{path}: {key} holds non-finite values (NaN or infinity)")
    return values


def _read_meta(path: Path, z: Any) -> dict[str, Any]:
    if "meta" not in z.files:
        raise CheckpointError(f"{path}: not a ConvScope checkpoint (no 'meta' entry)")
    shape, dtype = _header(z, "meta")
    if shape != () or dtype.kind != "U":
        raise CheckpointError(f"{path}: its meta entry is a {dtype} array of shape {shape}, not a JSON string")
    if dtype.itemsize // 4 > MAX_META_CHARS:
        raise CheckpointError(
            f"{path}: its meta entry holds {dtype.itemsize // 4:,} characters; at most {MAX_META_CHARS:,} expected")
    try:
        meta = json.loads(str(z["meta"]))
    except RecursionError as e:
        raise CheckpointError(f"{path}: its meta JSON is nested too deeply") from e
    except ValueError as e:
        raise CheckpointError(f"{path}: its meta entry is not valid JSON ({e})") from e
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a ConvScope checkpoint")
    if meta.get("version") != VERSION or isinstance(meta.get("version"), bool):
        raise CheckpointError(f"{path}: checkpoint version {str(meta.get('version'))[:40]} is not supported")
    for key, kinds in (("arch", dict), ("config", dict), ("data", dict), ("step", int), ("examples", int),
                       ("class_names", list)):
        if key in meta and (not isinstance(meta[key], kinds) or isinstance(meta[key], bool)):
            raise CheckpointError(
                f"{path}: meta {key} must be {'an object' if kinds is dict else 'a list' if kinds is list else 'an integer'}, "
                f"got {type(meta[key]).__name__} {str(meta[key])[:40]!r}")
    for key in ("step", "examples"):
        if not 0 <= meta.get(key, 0) <= MAX_STEP:
            raise CheckpointError(f"{path}: meta {key} must be in 0..{MAX_STEP}, got {meta[key]}")
    if "arch" not in meta or "config" not in meta:
        raise CheckpointError(f"{path}: its meta entry has no {'arch' if 'arch' not in meta else 'config'}")
    return meta


def _read(path: Path, z: Any, memory_budget: int) -> Checkpoint:
    if len(z.files) > MAX_ENTRIES:
        raise CheckpointError(f"{path}: {len(z.files):,} entries; a checkpoint has at most {MAX_ENTRIES}")
    meta = _read_meta(path, z)
    try:
        arch = ArchSpec.from_dict(meta["arch"])
        config = TrainConfig.from_dict(meta["config"])
        data = DataRecord.from_dict(meta["data"]) if "data" in meta else None
        names = _class_names(meta.get("class_names"), arch.num_classes)
    except (KeyError, TypeError, ValueError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"{path}: invalid configuration in checkpoint ({str(e)[:300]})") from e
    need = training_memory_bytes(arch, config.batch_size)
    if need > memory_budget:
        raise CheckpointError(
            f"{path}: its architecture ({total_params(arch):,} parameters, "
            f"{'×'.join(map(str, arch.input_shape))} inputs) would need about {_gib(need)} to train at batch "
            f"size {config.batch_size}; ConvScope opens models up to {_gib(memory_budget)}")
    want_p, want_s = param_shapes(arch)
    params: HostParams = {}
    state: HostParams = {}
    for prefix, want, tree in (("params", want_p, params), ("state", want_s, state)):
        for layer, leaves in want.items():
            for name, shape in leaves.items():
                tree.setdefault(layer, {})[name] = _read_floats(path, z, f"{prefix}/{layer}/{name}", shape)
    for layer, leaves in state.items():
        if np.any(leaves["var"] < 0):
            raise CheckpointError(f"{path}: state/{layer}/var holds negative variances")
    norm = _read_floats(path, z, "norm", (2, arch.input_shape[2])) if "norm" in z.files else None
    if norm is not None and not np.all(norm[1] > 0):
        raise CheckpointError(f"{path}: norm's standard deviations (its second row) must be positive")
    resume = None
    if "resume" in meta:
        try:
            resume = read_resume(z, meta["resume"], total_params(arch), _header)
        except ValueError as e:
            raise CheckpointError(f"{path}: its optimizer state cannot be used ({str(e)[:300]})") from e
    return Checkpoint(arch, config, params, state, meta.get("step", 0), norm, data, meta.get("examples"), names,
                      resume)


def _class_names(names: object, num_classes: int) -> tuple[str, ...] | None:
    if names is None:
        return None
    if (not isinstance(names, list) or len(names) != num_classes
            or not all(isinstance(n, str) and len(n) <= MAX_NAME_CHARS for n in names)):
        raise ValueError(f"class_names must be {num_classes} strings of at most {MAX_NAME_CHARS} characters")
    return tuple(names)


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB" if n >= 2**30 else f"{n / 2**20:,.0f} MiB"
