"""Data parallelism by JAX's own means: a one-axis ``Mesh`` named ``data`` over the
devices training uses, each batch sharded along it, everything else replicated.

Nothing here changes what is computed: the global batch is the same whatever the number
of devices, so the gradients, the batch-norm statistics (a mean over the whole batch,
which XLA's SPMD partitioner turns into a sum across devices) and the random streams
(``jax_threefry_partitionable``: the same bits however an array is sharded) are those of
one device, up to the order of float additions. XLA inserts the all-reduce of the
gradients itself; there is no hand-written collective.

A :class:`Placement` of ``None`` (one device) leaves arrays where JAX puts them, so the
one-device path is exactly what it was. Placement goes through
``jax.make_array_from_callback``, which also works when the mesh spans several processes
(``jax.distributed``): each process supplies its own devices' pieces.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from convscope.model.arrays import tree_to_device

AXIS = "data"


class DeviceCountError(ValueError):
    """The number of devices asked for cannot be used (said in words)."""


def available_devices() -> list[Any]:
    """Every device JAX sees, across all processes when ``jax.distributed`` is on."""
    return list(jax.devices())


def choose_devices(requested: int | None, batch_size: int, limit: int | None = None) -> int:
    """How many devices to train on: ``requested`` (checked), or by default the most of
    those JAX sees (at most ``limit``) that divide ``batch_size``: each device takes an
    equal share of every batch."""
    seen = len(available_devices())
    if requested is None:
        top = seen if limit is None else max(1, min(seen, limit))
        return max(n for n in range(1, top + 1) if batch_size % n == 0)
    if requested < 1:
        raise DeviceCountError(f"the number of devices must be at least 1, not {requested}")
    if requested > seen:
        kind = jax.devices()[0].platform.upper()
        raise DeviceCountError(f"{requested} devices asked for, but JAX sees {seen} ({kind}); "
                               "on a CPU, XLA_FLAGS=--xla_force_host_platform_device_count=N "
                               "makes N devices of it")  # fmt: skip
    if batch_size % requested:
        raise DeviceCountError(f"the batch size ({batch_size}) must be a multiple of the number of devices "
                               f"({requested}): each device takes an equal share of every batch")  # fmt: skip
    return requested


@dataclass(frozen=True)
class Placement:
    """Where training's arrays live on a ``data`` mesh of several devices."""

    mesh: Mesh

    @classmethod
    def over(cls, n: int) -> Placement | None:
        """The placement over the first ``n`` devices; None for one (nothing to place)."""
        if n <= 1:
            return None
        return cls(Mesh(np.array(available_devices()[:n]), (AXIS,)))

    @property
    def size(self) -> int:
        return int(self.mesh.devices.size)

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    @property
    def rows(self) -> NamedSharding:
        """(steps, batch) index arrays: the batch axis split across the devices."""
        return NamedSharding(self.mesh, P(None, AXIS))

    def _put(self, value: Any, sharding: NamedSharding) -> jax.Array:
        if isinstance(value, jax.Array) and value.sharding == sharding:
            return value
        host = np.asarray(value)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    def replicate(self, tree: Any) -> Any:
        """Every leaf whole on every device (weights, optimizer state, the data)."""
        return jax.tree.map(lambda v: self._put(v, self.replicated), tree)

    def split_rows(self, idxs: np.ndarray) -> jax.Array:
        return self._put(idxs, self.rows)

    def split_batch(self, tree: Any) -> Any:
        """Every leaf's first axis split across the devices (an evaluation chunk); a
        replicated array is resharded where it is, without a trip through the host."""
        batch = NamedSharding(self.mesh, P(AXIS))
        return jax.tree.map(lambda v: jax.device_put(v, batch) if isinstance(v, jax.Array) else self._put(v, batch),
                            tree)  # fmt: skip


def put(placement: Placement | None, tree: Any) -> Any:
    """``tree`` on the training devices: replicated over the mesh, or (one device) where
    JAX puts arrays."""
    return placement.replicate(tree) if placement is not None else tree_to_device(tree)


def size(placement: Placement | None) -> int:
    """How many devices share each batch."""
    return placement.size if placement is not None else 1


def describe(placement: Placement | None) -> str:
    """The devices training uses, in words: "CPU", "4 × CPU", "2 × GPU (H100)"…"""
    devices = placement.mesh.devices.ravel().tolist() if placement is not None else available_devices()[:1]
    dev = devices[0]
    name = "CPU" if dev.platform == "cpu" else f"{dev.platform.upper()} ({dev.device_kind})"
    processes = jax.process_count()
    where = f" in {processes} processes" if processes > 1 else ""
    return name if len(devices) == 1 else f"{len(devices)} × {name}{where}"
