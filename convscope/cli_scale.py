"""``convscope train``'s scale options: ``--devices N`` (data parallel over a machine's
devices, train/parallel.py) and ``--distributed`` (many machines through
``jax.distributed``, train/distributed.py). JAX is imported only when they are used."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_scale_arguments(tr: argparse.ArgumentParser) -> None:
    scale = tr.add_argument_group("scale", "JAX's own runtime: jax.sharding over a machine's devices, "
                                  "jax.distributed across machines")
    scale.add_argument("--devices", type=int, metavar="N",
                       help="train on N devices, each batch split evenly across them (the batch size must be "
                            "a multiple of N); default: every device JAX sees that divides the batch size; "
                            "with --distributed, N counts the devices of all processes")
    scale.add_argument("--distributed", action="store_true",
                       help="one process of a multi-machine run (jax.distributed); process 0 writes the run "
                            "directory and prints. Under SLURM and other schedulers JAX detects, no more flags")
    scale.add_argument("--coordinator", metavar="HOST:PORT", help="with --distributed: process 0's address")
    scale.add_argument("--num-processes", type=int, metavar="N", help="with --distributed: how many processes")
    scale.add_argument("--process-id", type=int, metavar="I", help="with --distributed: this process (0..N-1)")


def start_cluster(args: argparse.Namespace) -> Any:
    """Start ``jax.distributed`` when asked (before JAX does anything else); the Cluster,
    or None for a single process. Bad flags raise UsageError."""
    from convscope.cli import UsageError

    given = [args.coordinator, args.num_processes, args.process_id]
    if not args.distributed:
        if any(v is not None for v in given):
            raise UsageError("--coordinator, --num-processes and --process-id need --distributed")
        return None
    if args.resume:
        raise UsageError("--resume is for one process; a distributed run is started afresh")
    from convscope.train.distributed import DistributedError, start

    try:
        return start(args.coordinator, args.num_processes, args.process_id)
    except DistributedError as e:
        raise UsageError(str(e)) from e


class SilentWriter:
    """What processes other than 0 of a distributed run write: nothing (RunWriter's
    interface, so the training is driven the same way)."""

    failure = ""

    def __init__(self, where: Path) -> None:
        self.dir = where

    def observe(self, _event: Any, _loop: Any) -> None:
        pass

    def finish(self, _status: str, _loop: Any, reason: str = "") -> None:
        pass

    def close(self) -> None:
        pass
