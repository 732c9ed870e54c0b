"""Hostile and odd checkpoint files, built in a test's tmp_path (shared by the loader's,
the command line's and the GUI's tests). Each is a good tiny checkpoint with one thing
wrong; ``HOSTILE`` maps a name to (builder, a phrase the refusal must contain)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.shapes import param_shapes
from convscope.train.checkpoint import MAX_ENTRIES

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,), batch_norm=True)


def good_arrays(arch: ArchSpec = TINY, step: int = 7) -> dict[str, np.ndarray]:
    """The entries of a valid checkpoint of ``arch`` (weights drawn with NumPy)."""
    rng = np.random.default_rng(0)
    meta = {"format": "convscope-checkpoint", "version": 1, "step": step, "arch": arch.to_dict(),
            "config": TrainConfig().to_dict()}
    arrays: dict[str, np.ndarray] = {"meta": np.array(json.dumps(meta))}
    params, state = param_shapes(arch)
    for prefix, tree in (("params", params), ("state", state)):
        for layer, leaves in tree.items():
            for name, shape in leaves.items():
                value = np.abs(rng.standard_normal(shape)) if name == "var" else rng.standard_normal(shape)
                arrays[f"{prefix}/{layer}/{name}"] = (0.1 * value).astype(np.float32)
    arrays["norm"] = np.array([[0.5] * arch.input_shape[2], [0.25] * arch.input_shape[2]], np.float32)
    return arrays


def _meta(arrays: dict[str, np.ndarray]) -> dict:
    return json.loads(str(arrays["meta"]))


def _with_meta(**changes: object) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        arrays = good_arrays()
        meta = _meta(arrays)
        meta.update(changes)
        arrays["meta"] = np.array(json.dumps(meta))
        np.savez(path, **arrays)

    return build


def _with_meta_text(text: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        arrays = good_arrays()
        arrays["meta"] = np.array(text)
        np.savez(path, **arrays)

    return build


def _with_entry(key: str, value: object) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        arrays = good_arrays()
        arrays[key] = np.asarray(value)
        np.savez(path, **arrays)

    return build


def _huge_architecture(path: Path) -> None:
    """Meta only: an architecture whose weights alone would be tens of GiB; its arrays
    are absent, so only a loader that allocates before checking would find out."""
    arch = ArchSpec(input_shape=(2048, 2048, 3), convs=(ConvLayer(filters=256, pool="none"),), dense=(8192,))
    meta = _meta(good_arrays())
    meta["arch"] = arch.to_dict()
    np.savez(path, meta=np.array(json.dumps(meta)))


def _declared_huge_array(path: Path) -> None:
    """A small file whose conv kernel's header claims 10⁵×10⁵ float32 (40 GB)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: v for k, v in good_arrays().items() if k != "params/conv1/w"})
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)})
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr("params/conv1/w.npy", header.getvalue() + b"\0" * 64)
    path.write_bytes(buf.getvalue())


def _deep_json(depth: int) -> str:
    return '{"format": "convscope-checkpoint", "version": 1, "step": 0, "arch": ' + "[" * depth + "]" * depth + "}"


def _many_entries(path: Path) -> None:
    arrays = good_arrays()
    arrays.update({f"junk{i}": np.zeros(1, np.float32) for i in range(MAX_ENTRIES + 200)})
    np.savez(path, **arrays)


def _unknown_compression(path: Path) -> None:
    """A zip whose members claim compression method 99 (zipfile: NotImplementedError)."""
    data = bytearray(_good_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + offset : start + offset + 2] = (99).to_bytes(2, "little")
            start += 4
    path.write_bytes(bytes(data))


HOSTILE: dict[str, tuple[Callable[[Path], None], str]] = {
    "complex weights": (_with_entry("params/conv1/w", np.zeros((3, 3, 1, 4), np.complex64)), "complex64"),
    "string weights": (_with_entry("params/conv1/b", np.array(["a", "b", "c", "d"])), "real floating"),
    "integer weights": (_with_entry("params/logits/b", np.zeros(10, np.int64)), "real floating"),
    "object array": (_with_entry("params/conv1/b", np.array([None, 1, "x", 2.0], dtype=object)),
                     "holds object values"),
    "NaN weights": (_with_entry("params/dense1/w", np.full((784, 16), np.nan, np.float32)), "non-finite"),
    "NaN norm": (_with_entry("norm", np.array([[np.nan], [0.25]], np.float32)), "norm holds non-finite values"),
    "negative variance": (_with_entry("state/bn1/var", -np.ones(4, np.float32)), "negative variances"),
    "wrong shape": (_with_entry("params/conv1/w", np.zeros((5, 5, 1, 4), np.float32)),
                    r"has shape (5, 5, 1, 4), expected (3, 3, 1, 4)"),
    "norm of zero std": (_with_entry("norm", np.array([[0.5], [0.0]], np.float32)), "must be positive"),
    "missing weights": (lambda p: np.savez(p, **{k: v for k, v in good_arrays().items() if k != "params/logits/w"}),
                        "missing params/logits/w"),
    "declared 40 GB array": (_declared_huge_array, "has shape (100000, 100000)"),
    "string step": (_with_meta(step="12"), "step must be an integer"),
    "float step": (_with_meta(step=3.5), "step must be an integer"),
    "boolean step": (_with_meta(step=True), "step must be an integer"),
    "negative step": (_with_meta(step=-5), "step must be in 0..9007199254740992, got -5"),
    "boolean version": (_with_meta(version=True), "version True is not supported"),
    "arch is a list": (_with_meta(arch=[1, 2, 3]), "arch must be an object"),
    "arch with a string size": (_with_meta(arch={**TINY.to_dict(), "input_shape": ["28", 28, 1]}),
                                "invalid configuration"),
    "config with a string rate": (_with_meta(config={**TrainConfig().to_dict(), "learning_rate": "fast"}),
                                  "invalid configuration"),
    "wrong number of class names": (_with_meta(class_names=["a", "b"]), "class_names must be 10 strings"),
    "deeply nested meta": (_with_meta_text(_deep_json(100_000)), "nested too deeply"),
    "meta not JSON": (_with_meta_text("{not json"), "not valid JSON"),
    "meta of many strings": (_with_entry("meta", np.array(["{}", "{}"])), "not a JSON string"),
    "meta too long": (_with_meta_text(" " * (1 << 20) + "{}"), "characters; at most"),
    "tens of GiB architecture": (_huge_architecture, "would need about"),
    "too many entries": (_many_entries, "entries; a checkpoint has at most"),
    "truncated file": (lambda p: p.write_bytes(_good_bytes()[:300]), "not a readable checkpoint"),
    "unknown compression": (_unknown_compression, "not a readable checkpoint"),
}


def _good_bytes() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **good_arrays())
    return buf.getvalue()


def write(tmp_path: Path, name: str) -> Path:
    """The hostile checkpoint ``name`` written into ``tmp_path``."""
    path = tmp_path / (name.replace(" ", "_") + ".npz")
    HOSTILE[name][0](path)
    return path
