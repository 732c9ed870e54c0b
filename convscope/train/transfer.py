"""Transfer learning: start a model from a checkpoint trained on another data set.

:func:`map_weights` takes the checkpoint's weights layer by layer into a model of the
new data set's input and classes, and says what it did with each layer:

* **copied** — the shapes fit (conv kernels and biases, batch norm, hidden dense layers);
* **adapted** — the first conv layer between grey and colour inputs: a 1-channel kernel
  replicated over the C input channels and divided by C (on a grey image replicated to
  C channels the layer then responds exactly as the grey network's did), and a C-channel
  kernel summed over its channels for a grey input (on a grey image, the same response
  as the colour layer gave on that image replicated to C channels);
* **rebuilt** — freshly initialised as a new model's would be: the classifier (unless
  the classes are the checkpoint's own, in the same order) and any dense layer whose
  input size changed (another image size changes the flattened features);
* anything else (another kernel size or filter count, a missing or extra layer, batch
  norm on one side only, other channel counts) is refused with a :class:`TransferError`
  naming the layer and both shapes, before anything is trained.

No Qt: the command line and the GUI print the same :class:`LayerMove` lines.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from convscope import events as ev
from convscope.config import ArchSpec, frozen_within
from convscope.model.arrays import tree_to_device
from convscope.model.network import init

if TYPE_CHECKING:
    from convscope.train.checkpoint import Checkpoint
    from convscope.train.loop import TrainingLoop

HostParams = dict[str, dict[str, np.ndarray]]


class TransferError(ValueError):
    """The checkpoint's weights do not fit the new model; one line naming the layer."""


@dataclass(frozen=True)
class LayerMove:
    """What became of one parameter layer: ``copied``, ``adapted`` or ``rebuilt``."""

    layer: str
    action: str
    detail: str

    def line(self) -> str:
        return f"{self.layer}: {self.action} ({self.detail})"


def _shape(a: Any) -> str:
    """"3×3×1×32" for an array or a shape tuple."""
    return "×".join(str(int(n)) for n in (a if isinstance(a, tuple) else np.shape(a)))


def fit_arch(arch: ArchSpec, input_shape: tuple[int, int, int], num_classes: int) -> ArchSpec:
    """``arch`` with the new data set's input shape and class count (ValueError when the
    layers do not fit that input)."""
    d = arch.to_dict()
    d["input_shape"] = list(input_shape)
    d["num_classes"] = int(num_classes)
    return ArchSpec.from_dict(d)


def map_weights(src_arch: ArchSpec, src_params: HostParams, src_state: HostParams, dst_arch: ArchSpec, *,
                seed: int = 0, keep_classifier: bool = False) -> tuple[HostParams, HostParams, list[LayerMove]]:
    """The parameters and batch-norm state of ``dst_arch`` taken from the checkpoint's
    (see the module's docstring), and one LayerMove per parameter layer, in forward order.
    Rebuilt layers are those of ``init(dst_arch, seed)``. TransferError on a misfit."""
    fresh_p, fresh_s = init(dst_arch, seed)
    params: HostParams = {}
    state: HostParams = {}
    moves: list[LayerMove] = []
    n_src, n_dst = len(src_arch.convs), len(dst_arch.convs)
    if n_src != n_dst:
        i = min(n_src, n_dst) + 1
        raise TransferError(f"conv{i}: the checkpoint's model has {n_src} conv block(s), this one {n_dst}; "
                            "only models with the same layers can start from it")
    if src_arch.batch_norm != dst_arch.batch_norm and n_dst:
        has = "has" if src_arch.batch_norm else "has no"
        raise TransferError(f"bn1: the checkpoint's model {has} batch norm, this one "
                            f"{'has' if dst_arch.batch_norm else 'has none'}")
    for i in range(1, n_dst + 1):
        name = f"conv{i}"
        w, b = np.asarray(src_params[name]["w"], np.float32), np.asarray(src_params[name]["b"], np.float32)
        want = tuple(fresh_p[name]["w"].shape)
        c_src, c_dst = w.shape[2], want[2]
        if (w.shape[0], w.shape[1], w.shape[3]) != (want[0], want[1], want[3]):
            raise TransferError(f"{name}: the checkpoint's kernel is {_shape(w)}, this model's {_shape(want)} "
                                "(another kernel size or filter count cannot be copied)")
        if c_src == c_dst:
            params[name] = {"w": w, "b": b}
            moves.append(LayerMove(name, "copied", _shape(w)))
        elif i == 1 and c_src == 1:
            params[name] = {"w": np.repeat(w, c_dst, axis=2) / np.float32(c_dst), "b": b}
            moves.append(LayerMove(name, "adapted", f"grey → colour: the 1-channel kernel replicated over the "
                                                    f"{c_dst} channels and divided by {c_dst}, {_shape(w)} → {_shape(want)}"))
        elif i == 1 and c_dst == 1:
            params[name] = {"w": w.sum(axis=2, keepdims=True), "b": b}
            moves.append(LayerMove(name, "adapted", f"colour → grey: the kernel summed over its {c_src} "
                                                    f"channels, {_shape(w)} → {_shape(want)}"))
        else:
            raise TransferError(f"{name}: the checkpoint's kernel is {_shape(w)}, this model's {_shape(want)} "
                                f"({c_src} input channels cannot become {c_dst})")
        if dst_arch.batch_norm:
            bn = f"bn{i}"
            params[bn] = {k: np.asarray(v, np.float32) for k, v in src_params[bn].items()}
            state[bn] = {k: np.asarray(v, np.float32) for k, v in src_state[bn].items()}
            moves.append(LayerMove(bn, "copied", f"{_shape(params[bn]['gamma'])}, with its running statistics"))
    if len(src_arch.dense) != len(dst_arch.dense):
        j = min(len(src_arch.dense), len(dst_arch.dense)) + 1
        raise TransferError(f"dense{j}: the checkpoint's model has {len(src_arch.dense)} hidden dense layer(s), "
                            f"this one {len(dst_arch.dense)}")
    changed = False  # the input of the next dense layer differs from the checkpoint's
    for j in range(1, len(dst_arch.dense) + 1):
        name = f"dense{j}"
        w = np.asarray(src_params[name]["w"], np.float32)
        want = tuple(fresh_p[name]["w"].shape)
        if w.shape[0] != want[0]:
            params[name] = _fresh(fresh_p[name])
            moves.append(LayerMove(name, "rebuilt", f"its input changed: {w.shape[0]:,} → {want[0]:,} features"))
            changed = True
        elif w.shape[1] != want[1]:
            raise TransferError(f"{name}: the checkpoint's weights are {_shape(w)}, this model's {_shape(want)} "
                                "(another width cannot be copied)")
        else:
            params[name] = {"w": w, "b": np.asarray(src_params[name]["b"], np.float32)}
            moves.append(LayerMove(name, "copied", _shape(w)))
            changed = False
    w = np.asarray(src_params["logits"]["w"], np.float32)
    want = tuple(fresh_p["logits"]["w"].shape)
    if keep_classifier and tuple(w.shape) == want and not changed:
        params["logits"] = {"w": w, "b": np.asarray(src_params["logits"]["b"], np.float32)}
        moves.append(LayerMove("logits", "copied", f"{_shape(w)}, the same classes"))
    else:
        why = (f"its input changed: {w.shape[0]:,} → {want[0]:,} features" if w.shape[0] != want[0]
               else f"for this data set's {want[1]} classes; the checkpoint's {w.shape[1]} were others")
        params["logits"] = _fresh(fresh_p["logits"])
        moves.append(LayerMove("logits", "rebuilt", why))
    return params, state, moves


def _fresh(layer: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in layer.items()}


@dataclass(frozen=True)
class Transfer:
    """Where a run started from: the checkpoint, what it was trained on, the moves."""

    checkpoint: str
    step: int
    data: dict[str, Any] | None
    moves: tuple[LayerMove, ...]

    def record(self) -> dict[str, Any]:
        """For run.json and config.json (``init_from``)."""
        return {"checkpoint": self.checkpoint, "step": self.step, "data": self.data,
                "layers": {m.layer: m.action for m in self.moves}, "moves": [m.line() for m in self.moves]}


def plan(ckpt: Checkpoint, path: str | os.PathLike, dst_arch: ArchSpec, class_names: tuple[str, ...], *,
         seed: int = 0) -> tuple[HostParams, HostParams, Transfer]:
    """:func:`map_weights` for ``ckpt`` into ``dst_arch``; the classifier is kept only when
    the checkpoint recorded exactly these classes (a warm start on the same data)."""
    keep = ckpt.class_names is not None and tuple(ckpt.class_names) == tuple(class_names)
    params, state, moves = map_weights(ckpt.arch, ckpt.params, ckpt.state, dst_arch, seed=seed, keep_classifier=keep)
    data = ckpt.data.to_dict() if ckpt.data is not None else None
    return params, state, Transfer(os.path.abspath(os.fspath(path)), int(ckpt.step), data, tuple(moves))


def start_from(loop: TrainingLoop, params: HostParams, state: HostParams, record: dict | None = None) -> None:
    """Put mapped weights into ``loop`` as its step 0: counters, random streams and the
    optimizers start afresh (the loop's own seed), as a new run's do. ``record``
    (:meth:`Transfer.record`) is kept as ``loop.init_from`` for the run it records."""
    from convscope.train.step import init_opt_states

    loop.reinitialise()
    loop.params = tree_to_device(params)
    loop.state = tree_to_device(state)
    loop.opt_states = init_opt_states(loop.fns.optimizers, loop.params)
    loop.restored = True  # events() starts from these weights, not afresh
    loop.init_from = record


def open_transfer(loop: TrainingLoop, path: str) -> Iterator[ev.Event]:
    """Start ``loop`` afresh on its data set from the checkpoint at ``path`` (the GUI's
    File ▸ Start From Checkpoint…), as events. A checkpoint that cannot be read or does
    not fit is an error notice naming the layer, and the running model stays as it was."""
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    ds = loop.dataset
    try:
        ckpt = load_checkpoint(path)
        dst = fit_arch(ckpt.arch, ds.image_shape, ds.num_classes)
        params, state, transfer = plan(ckpt, path, dst, tuple(ds.class_names), seed=loop.config.seed)
    except (CheckpointError, TransferError) as e:
        yield ev.Notice("error", f"{path}: cannot start from it: {e}")
        return
    except Exception as e:  # noqa: BLE001 - a reader's bug must not stop the running model either
        yield ev.Notice("error", f"{path}: cannot start from it ({type(e).__name__}: {str(e)[:300]})")
        return
    yield ev.Compiling("model from checkpoint")
    def put() -> None:
        loop.arch, loop.config = dst, frozen_within(dst, loop.config)
        start_from(loop, params, state, {**transfer.record(), "frozen": list(loop.config.frozen)})

    from convscope.train.restore import swap_in

    if not (yield from swap_in(loop, put, f"{path}: cannot start from it")):
        return
    trained_on = (ckpt.data.name or ckpt.data.origin) if ckpt.data is not None else ""
    yield ev.Transferred(transfer.checkpoint, tuple(m.line() for m in transfer.moves), trained_on)
    adapted = [m.layer for m in transfer.moves if m.action == "adapted"]
    rebuilt = [m.layer for m in transfer.moves if m.action == "rebuilt"]
    copied = len(transfer.moves) - len(adapted) - len(rebuilt)
    yield ev.Notice("info", f"Started from {path} (step {ckpt.step}): "
                            f"{copied} layer{'' if copied == 1 else 's'} copied"
                            + (f", {', '.join(adapted)} adapted" if adapted else "")
                            + (f", {', '.join(rebuilt)} rebuilt" if rebuilt else ""))
    yield ev.Paused(loop.step, "started from checkpoint")
