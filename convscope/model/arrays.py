"""Host arrays onto the device without compiling anything.

``jnp.asarray(numpy_array)`` lifts the array through ``lax.stage`` in jax 0.10: a jitted
identity, compiled once per shape and dtype — 20–150 ms each on a laptop CPU, some
fifteen of them before the first training step (one per weight shape and data array),
and on every launch at least their lowering to MLIR, the compilation cache
notwithstanding. ``jax.device_put`` compiles nothing.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np


def to_device(x: Any, dtype: Any = None) -> jax.Array:
    """``x`` (NumPy, a scalar, a nested list, or already a JAX array) as a JAX array on
    the default device, of ``dtype`` if given. A host array is copied first: on the CPU,
    ``device_put`` shares the NumPy buffer, and a later write to it would show through."""
    if isinstance(x, jax.Array) and (dtype is None or x.dtype == dtype):
        return x
    return jax.device_put(np.array(x, dtype=dtype, copy=True))


def tree_to_device(tree: Any) -> Any:
    """:func:`to_device` of every leaf."""
    return jax.tree.map(to_device, tree)
