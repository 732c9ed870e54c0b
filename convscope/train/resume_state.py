"""What a checkpoint holds beyond the weights so that training resumes exactly.

A resumed run must take the same steps the uninterrupted run would have taken: the
optimizer's moments and counters (every optimizer's, since the optimizer can be switched
live), the dropout key stream, the shuffling generator with the current permutation and
position in it, and the training time so far. All of it goes into the checkpoint's
``.npz`` beside the weights (NumPy only, ``allow_pickle=False``):

* ``resume/opt/NNNNN``: the leaves of the optimizer states in ``jax.tree.leaves`` order
  (float32 moments, int32 counts); ``meta["resume"]["opt_tree"]`` is the tree's structure
  as text, so a checkpoint from another optimizer layout is refused, not mis-read;
* ``resume/key``: the uint32 data of the JAX dropout key (threefry2x32);
* ``resume/perm``: the int64 permutation of the training images being walked;
* ``meta["resume"]``: ``{"opt_tree": str, "opt_leaves": int, "numpy_rng": the
  PCG64 state dict, "pos": int, "train_time": float}``.

Checkpoints without it (older files, or files written outside a training loop) load as
weights only; training from them restarts the moments, as it always did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

MAX_OPT_LEAVES = 2000
OPT_ELEMENTS_PER_PARAM = 8  # momentum trace + Adam mu, nu + RMSprop nu, trace: 5; headroom


@dataclass(frozen=True)
class ResumeState:
    opt_tree: str  # str(treedef) of the optimizer states
    opt_leaves: tuple[np.ndarray, ...]
    key: np.ndarray  # uint32 key data
    numpy_rng: dict[str, Any]  # numpy.random.PCG64 state
    perm: np.ndarray  # int64
    pos: int
    train_time: float


def resume_entries(rs: ResumeState) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The meta dict and the arrays a checkpoint stores for ``rs``."""
    meta = {"opt_tree": rs.opt_tree, "opt_leaves": len(rs.opt_leaves), "numpy_rng": rs.numpy_rng,
            "pos": int(rs.pos), "train_time": float(rs.train_time)}
    arrays = {f"resume/opt/{i:05d}": np.asarray(leaf) for i, leaf in enumerate(rs.opt_leaves)}
    arrays["resume/key"] = np.asarray(rs.key, np.uint32)
    arrays["resume/perm"] = np.asarray(rs.perm, np.int64)
    return meta, arrays


def read_resume(z: Any, meta: object, num_params: int, header: Any) -> ResumeState:
    """The ResumeState of an open checkpoint ``z``; ValueError naming what is wrong.

    ``header(z, key)`` gives (shape, dtype) of an entry without reading it: each array's
    size is checked against the model's parameter count before its data is read."""
    if not isinstance(meta, dict):
        raise ValueError("meta resume must be an object")
    tree, n, rng, pos, t = (meta.get(k) for k in ("opt_tree", "opt_leaves", "numpy_rng", "pos", "train_time"))
    if not isinstance(tree, str) or len(tree) > 1_000_000:
        raise ValueError("resume opt_tree must be a string")
    if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= MAX_OPT_LEAVES:
        raise ValueError(f"resume opt_leaves must be an integer in 0..{MAX_OPT_LEAVES}")
    if not isinstance(pos, int) or isinstance(pos, bool) or pos < 0:
        raise ValueError("resume pos must be a non-negative integer")
    if not isinstance(t, (int, float)) or isinstance(t, bool) or not math.isfinite(t) or t < 0:
        raise ValueError("resume train_time must be a non-negative number")
    _check_rng(rng)
    budget = OPT_ELEMENTS_PER_PARAM * num_params + 64 * MAX_OPT_LEAVES
    leaves = []
    for i in range(n):
        key = f"resume/opt/{i:05d}"
        if key not in z.files:
            raise ValueError(f"missing {key}")
        shape, dtype = header(z, key)
        if dtype not in (np.dtype(np.float32), np.dtype(np.int32)):
            raise ValueError(f"{key} holds {dtype} values; float32 or int32 expected")
        size = math.prod(shape)
        if size > num_params or size > budget:
            raise ValueError(f"{key} has shape {shape}, larger than the model's {num_params:,} parameters")
        budget -= size
        value = np.asarray(z[key])
        if dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ValueError(f"{key} holds non-finite values (NaN or infinity)")
        leaves.append(value)
    for key, kind in (("resume/key", "u"), ("resume/perm", "i")):
        if key not in z.files:
            raise ValueError(f"missing {key}")
        shape, dtype = header(z, key)
        if dtype.kind != kind or len(shape) != 1 or shape[0] > 1 << 31:
            raise ValueError(f"{key} is a {dtype} array of shape {shape}")
    key_data = np.asarray(z["resume/key"])
    if key_data.shape != (2,):
        raise ValueError(f"resume/key has shape {key_data.shape}, expected (2,)")
    perm = np.asarray(z["resume/perm"])
    if pos > len(perm):
        raise ValueError(f"resume pos {pos} is past the permutation's {len(perm)} entries")
    if len(perm) and not np.array_equal(np.sort(perm), np.arange(len(perm))):
        raise ValueError("resume/perm is not a permutation")
    return ResumeState(tree, tuple(leaves), key_data, rng, perm, pos, float(t))


def _check_rng(rng: object) -> None:
    if not (isinstance(rng, dict) and rng.get("bit_generator") == "PCG64" and isinstance(rng.get("state"), dict)):
        raise ValueError("resume numpy_rng must be a PCG64 state")
    state = rng["state"]
    for k in ("state", "inc"):
        v = state.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 128:
            raise ValueError(f"resume numpy_rng state.{k} must be a 128-bit integer")
    for k in ("has_uint32", "uinteger"):
        v = rng.get(k)
        if not isinstance(v, int) or isinstance(v, bool) or not 0 <= v < 1 << 32:
            raise ValueError(f"resume numpy_rng {k} must be a 32-bit integer")
