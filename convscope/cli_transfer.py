"""``convscope train --init-from C [--freeze L,… | --freeze-through L]``: the parts of a
new run that transfer learning adds. Every refusal is a UsageError (one line, exit 2)
raised before the run directory is made."""

from __future__ import annotations

import argparse
from typing import Any

from convscope.cli import UsageError


def source_checkpoint(args: argparse.Namespace) -> Any:
    """The checkpoint of ``--init-from`` (None without it)."""
    if not getattr(args, "init_from", None):
        return None
    if args.resume:
        raise UsageError("--init-from starts a new run; --resume goes on with one")
    from convscope.train.checkpoint import CheckpointError, load_checkpoint

    try:
        return load_checkpoint(args.init_from)
    except CheckpointError as e:
        raise UsageError(f"--init-from: {e}") from e
    except OSError as e:
        raise UsageError(f"--init-from {args.init_from}: cannot read it ({e.strerror or e})") from e


def frozen_layers(args: argparse.Namespace, arch: Any) -> tuple[str, ...] | None:
    """``--freeze`` / ``--freeze-through`` checked against ``arch`` (None: neither given)."""
    from convscope.config import frozen_names
    from convscope.train.freeze import frozen_refusal, through

    if getattr(args, "freeze", None) is not None:
        try:
            names = frozen_names(args.freeze)
        except ValueError as e:
            raise UsageError(f"--freeze: {e}") from e
        why = frozen_refusal(arch, names)
        if why:
            raise UsageError(f"--freeze: {why}")
        return names
    if getattr(args, "freeze_through", None):
        try:
            return through(arch, args.freeze_through.strip())
        except ValueError as e:
            raise UsageError(f"--freeze-through: {e}") from e
    return None


def start(args: argparse.Namespace, ckpt: Any, loop: Any, dataset: Any) -> dict[str, Any]:
    """Put ``ckpt``'s weights into ``loop`` (train/transfer.py), print what became of each
    layer, and return the record run.json keeps (``init_from``)."""
    from convscope.train.freeze import owner
    from convscope.train.transfer import TransferError, plan, start_from

    try:
        params, state, transfer = plan(ckpt, args.init_from, loop.arch, tuple(dataset.class_names),
                                       seed=loop.config.seed)
    except TransferError as e:
        raise UsageError(f"--init-from {args.init_from}: cannot start from it: {e}") from e
    start_from(loop, params, state)
    if not args.quiet:
        trained_on = (ckpt.data.name or ckpt.data.origin) if ckpt.data is not None else "unrecorded data"
        print(f"starting from {args.init_from} (step {ckpt.step:,}, trained on {trained_on}):", flush=True)
        for move in transfer.moves:
            frozen = " [frozen]" if owner(move.layer) in loop.config.frozen else ""
            print(f"  {move.line()}{frozen}", flush=True)
    return {**transfer.record(), "frozen": list(loop.config.frozen)}

