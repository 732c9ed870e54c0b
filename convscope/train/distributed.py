"""Training across machines with ``jax.distributed``: JAX's own runtime, nothing
home-made.

Every process runs the same program on the same data set with the same seed, so every
process computes the same global batch indices; each then supplies only its own
devices' share of the batch (``jax.make_array_from_callback`` in train/parallel.py),
and XLA's collectives (gloo on CPUs, NCCL on GPUs) sum the gradients across them.
Process 0 alone writes the run directory and prints; the others train silently.

``start`` must run before anything else touches JAX's backends.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax


class DistributedError(RuntimeError):
    """``jax.distributed`` could not start (said in words)."""


@dataclass(frozen=True)
class Cluster:
    process_id: int
    num_processes: int
    local_devices: int
    global_devices: int

    @property
    def leader(self) -> bool:
        """The process that writes the run directory and prints (process 0)."""
        return self.process_id == 0


def start(coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None,
          timeout_s: int = 300) -> Cluster:
    """Initialise ``jax.distributed``. With no arguments JAX detects the cluster itself
    (SLURM, Open MPI, Kubernetes/TPU environments); otherwise all three are needed."""
    given = [coordinator is not None, num_processes is not None, process_id is not None]
    if any(given) and not all(given):
        raise DistributedError("--coordinator, --num-processes and --process-id go together "
                               "(or give none of them where JAX detects the cluster, e.g. under SLURM)")
    if num_processes is not None and num_processes < 1:
        raise DistributedError(f"--num-processes must be at least 1, not {num_processes}")
    if process_id is not None and num_processes is not None and not 0 <= process_id < num_processes:
        raise DistributedError(f"--process-id must be between 0 and {num_processes - 1}, not {process_id}")
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=timeout_s)  # fmt: skip
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DistributedError(f"jax.distributed could not start: {first}") from e
    return Cluster(jax.process_index(), jax.process_count(), jax.local_device_count(), jax.device_count())


def stop() -> None:
    """Leave the cluster (every process, at the end)."""
    jax.distributed.shutdown()
