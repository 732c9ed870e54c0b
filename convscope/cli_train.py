"""``convscope train``: a headless run into a run directory, and ``--resume`` of one.

Nothing trained is lost: metrics are written a line at a time, ``checkpoints/latest.npz``
every ``--checkpoint-every`` seconds and when the run ends; SIGINT (Ctrl+C) and SIGTERM
stop it between two steps, save the latest checkpoint, mark the run interrupted and say
how to resume it; a full disk is one line naming what was kept.
"""

from __future__ import annotations

import argparse
import math
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from convscope.cli import (
    DEFAULT_EPOCHS,
    EXIT_DIVERGED,
    UsageError,
    _fit_to_data,
    _load_options,
    build_configs,
)

EXIT_INTERRUPTED = 130


def _budget(args: argparse.Namespace) -> tuple[int | None, float | None]:
    if args.steps is not None and args.steps < 1:
        raise UsageError("--steps must be at least 1")
    if args.epochs is not None and not (math.isfinite(args.epochs) and 0 < args.epochs <= 1e6):
        raise UsageError(f"--epochs must be a positive number of at most 1e6, got {args.epochs:g}")
    return args.steps, args.epochs


def cmd_train(args: argparse.Namespace) -> int:
    from convscope.cli_scale import start_cluster

    steps, epochs = _budget(args)
    cluster = start_cluster(args)  # before JAX does anything else
    if cluster is not None and not cluster.leader:
        args.quiet, args.tensorboard = True, None  # process 0 alone prints and writes
    try:
        return _train(args, steps, epochs, cluster)
    finally:
        if cluster is not None:
            from convscope.train.distributed import stop

            stop()


def _train(args: argparse.Namespace, steps: int | None, epochs: float | None, cluster: Any) -> int:
    if args.checkpoint_every is not None and not (math.isfinite(args.checkpoint_every) and args.checkpoint_every > 0):
        raise UsageError("--checkpoint-every must be a positive number of seconds")
    if getattr(args, "tensorboard", None):  # before a run directory is made
        from convscope.cli_tensorboard import writable_dir

        writable_dir(Path(args.tensorboard), "--tensorboard")
    if args.resume:
        loop, writer, dataset = _resume(args, steps, epochs)
        if loop._budget_reached():  # stopped after its last step, before it said so
            writer.finish("finished", loop)
            print(f"{writer.dir} had already reached its budget (step {loop.step:,}); marked finished; "
                  "give --steps or --epochs to train it further")
            return 0
    else:
        loop, writer, dataset = _new_run(args, steps, epochs, cluster)
    return _drive(args, loop, writer, dataset, leader=cluster is None or cluster.leader)


def _writer_kw(args: argparse.Namespace) -> dict[str, Any]:
    return {} if args.checkpoint_every is None else {"checkpoint_every_s": args.checkpoint_every}


def _load(data: str | None, val_fraction: float, seed: int, image_size: int | None) -> Any:
    from convscope.data import DataError
    from convscope.data.dataset import load_dataset

    options = _load_options(val_fraction, seed, image_size)
    try:
        return load_dataset(data, val_fraction=options.val_fraction, seed=options.seed, image_size=options.image_size)
    except DataError as e:
        raise UsageError(str(e)) from e


def _new_run(args: argparse.Namespace, steps: int | None, epochs: float | None,
             cluster: Any = None) -> tuple[Any, Any, Any]:
    from convscope.runs import RunWriter, default_root
    from convscope.runs.writer import holds_run
    from convscope.train.loop import TrainingLoop

    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory")
    if out is not None and out.is_dir() and holds_run(out):
        raise UsageError(f"--out {out}: already holds a run; continue it with --resume {out}, "
                         "or give another directory (or --runs ROOT for a new one there)")
    from convscope import cli_transfer

    source = cli_transfer.source_checkpoint(args)  # --init-from: its model, refused before anything is made
    arch, config = build_configs(args.set, base_arch=None if source is None else source.arch)
    h, w = (0, 1) if source is None else source.arch.input_shape[:2]
    size = args.train_image_size or (h if h == w else None)  # image folders: resized to the checkpoint's input
    dataset = _load(args.train_data, config.val_fraction, args.split_seed, size)
    arch = _fit_to_data(arch, dataset)
    frozen = cli_transfer.frozen_layers(args, arch)
    if frozen is not None:
        config = config.replace(frozen=frozen)
    if steps is None and epochs is None:
        epochs = DEFAULT_EPOCHS
    try:
        loop = TrainingLoop(arch, config, dataset, max_steps=steps, max_epochs=epochs, devices=args.devices)
    except ValueError as e:
        raise UsageError(str(e)) from e
    init_from = None if source is None else cli_transfer.start(args, source, loop, dataset)
    budget = {"steps": steps} if steps is not None else {"epochs": epochs}
    root = Path(args.runs) if args.runs else default_root()
    if cluster is not None and not cluster.leader:
        from convscope.cli_scale import SilentWriter

        return loop, SilentWriter(out or root), dataset
    try:
        writer = RunWriter.create(root, arch=arch, config=config, dataset=dataset, name=args.name, source="cli",
                                  budget=budget, run_dir=out, init_from=init_from, **_writer_kw(args))
    except OSError as e:
        where = out if out is not None else root
        raise UsageError(f"{where}: cannot write the run ({e.strerror or e})") from e
    return loop, writer, dataset


def _resume(args: argparse.Namespace, steps: int | None, epochs: float | None) -> tuple[Any, Any, Any]:
    from convscope.config import LIVE_FIELDS, ArchSpec, TrainConfig
    from convscope.runs import RunWriter
    from convscope.runs.resume import ResumeError, newest_checkpoint, read_run_config
    from convscope.train.checkpoint import CheckpointError
    from convscope.train.loop import TrainingLoop
    from convscope.train.restore import restore

    if args.out or args.runs or args.name:
        raise UsageError("--resume continues the run in its own directory; --out, --runs and --name do not apply")
    run = Path(args.resume)
    try:
        cfg = read_run_config(run)
        ckpt = newest_checkpoint(run)
    except ResumeError as e:
        raise UsageError(f"cannot resume {run}: {e}") from e
    arch, config = ArchSpec.from_dict(cfg["arch"]), TrainConfig.from_dict(cfg["config"])
    changes = _live_changes(args.set, config, LIVE_FIELDS)
    split = cfg.get("val_split") or [config.val_fraction, args.split_seed]
    data = args.train_data or cfg.get("data_origin") or None
    size = args.train_image_size or arch.input_shape[0]  # image folders: resized to the model's input
    dataset = _load(data, float(split[0]), int(split[1]), size if arch.input_shape[0] == arch.input_shape[1] else None)
    if tuple(dataset.image_shape) != tuple(arch.input_shape) or dataset.num_classes != arch.num_classes:
        raise UsageError(f"cannot resume {run}: its model takes {arch.input_shape} images of {arch.num_classes} "
                         f"classes; the data set has {dataset.image_shape} images of {dataset.num_classes}")
    try:
        loop = TrainingLoop(arch, config if ckpt is None else ckpt.config, dataset, devices=args.devices)
    except ValueError as e:
        raise UsageError(f"cannot resume {run}: {e}") from e
    if ckpt is None:  # killed before its first checkpoint: the seed makes step 0 again exactly
        print(f"{run} has no checkpoint yet; training it again from step 0", flush=True)
    else:
        try:
            restore(loop, ckpt, exact=True)
        except (CheckpointError, ValueError) as e:
            raise UsageError(f"cannot resume {run}: {e}") from e
    start = 0 if ckpt is None else ckpt.step
    if steps is not None:
        loop.max_steps = start + steps
    elif epochs is not None:
        loop.max_epochs = loop.epoch + epochs
    else:  # the run's own budget
        budget = cfg.get("budget") or {"epochs": DEFAULT_EPOCHS}
        loop.max_steps = budget.get("steps")
        loop.max_epochs = budget.get("epochs") if loop.max_steps is None else None
    try:
        writer = RunWriter.reopen(run, start, **_writer_kw(args))
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot resume {run}: {e}") from e
    if changes:
        diff = loop.set_hyperparams(changes)
        if diff:
            from convscope import events as ev

            writer.observe(ev.HyperParamsChanged(loop.step, diff, loop.config), loop)
    print(f"resuming {run} at step {start:,}", flush=True)
    return loop, writer, dataset


def _live_changes(assignments: list[str], config: Any, live: Any) -> dict[str, Any]:
    if not assignments:
        return {}
    _arch, new = build_configs(assignments)
    keys = {a.split("=", 1)[0].strip() for a in assignments}
    bad = sorted(keys - set(live))
    if bad:
        raise UsageError(f"--resume goes on with the run's own model and data; only live settings may change "
                         f"({', '.join(sorted(live))}), not {', '.join(bad)}")
    return {k: getattr(new, k) for k in keys}


def _progress_line(step: int, total_steps: int, loss: float, acc: float, rate: float) -> str:
    width = 28
    done = int(width * min(step / max(total_steps, 1), 1.0))
    bar = "█" * done + "·" * (width - done)
    return f"\r[{bar}] step {step}/{total_steps}  loss {loss:.4f}  acc {acc:.3f}  {rate:,.0f} ex/s"


def _drive(args: argparse.Namespace, loop: Any, writer: Any, dataset: Any, leader: bool = True) -> int:
    from convscope import events as ev
    from convscope.train.headless import run_to_completion

    steps_per_epoch = max(len(dataset.y_train) // loop.config.batch_size, 1)
    total = loop.max_steps if loop.max_steps is not None else int(round(loop.max_epochs * steps_per_epoch))
    tty = sys.stdout.isatty() and not args.quiet
    t_start = time.perf_counter()
    last: dict[str, Any] = {}
    last_print = 0.0
    stop = threading.Event()
    caught: list[int] = []
    tb = _tensorboard(args, writer)

    def on_event(e: ev.Event) -> None:
        nonlocal last_print
        writer.observe(e, loop)
        if tb is not None:
            tb.observe(e, loop)
        if writer.failure:
            stop.set()
        if isinstance(e, ev.StepMetrics):
            record = {"step": e.step, "epoch": round(e.epoch, 4), "loss": e.loss, "acc": e.acc,
                      "examples_per_s": round(e.examples_per_s, 1)}
        elif isinstance(e, ev.EvalMetrics):
            record = {"step": e.step, "epoch": round(e.epoch, 4), "val_loss": e.val_loss, "val_acc": e.val_acc}
        else:
            if isinstance(e, ev.Started) and leader:
                print(f"training {e.num_params:,} parameters on {e.device}: {dataset.summary()}", flush=True)
                print(f"run: {writer.dir}", flush=True)
            elif isinstance(e, ev.Notice) and e.level != "info":
                print(f"\n{e.level}: {e.message}", file=sys.stderr, flush=True)
            return
        last.update(record)
        if args.quiet:
            return
        now = time.perf_counter()
        if tty:
            print(_progress_line(last["step"], total, last.get("loss", float("nan")), last.get("acc", float("nan")),
                                 last.get("examples_per_s", float("nan"))), end="", flush=True)
        elif "val_acc" in record or now - last_print > 2.0:
            last_print = now
            print("  ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in record.items()),
                  flush=True)

    def on_signal(signum: int, _frame: object) -> None:
        caught.append(signum)
        stop.set()
        if signum == signal.SIGINT:  # a second Ctrl+C interrupts at once
            signal.signal(signal.SIGINT, signal.default_int_handler)

    main_thread = threading.current_thread() is threading.main_thread()  # handlers can only go there
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)} if main_thread else {}
    try:
        result = run_to_completion(loop, on_event, stop)
    except BaseException:
        writer.finish("interrupted", loop)  # what it trained is kept, whatever went wrong
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    if tty:
        print()
    wall = time.perf_counter() - t_start
    if writer.failure:
        writer.close()
        if tb is not None:
            tb.close(loop)
        print(f"convscope: {writer.failure}", file=sys.stderr)
        return 1
    status = {"done": "finished", "diverged": "diverged", "interrupted": "interrupted"}[result.reason]
    writer.finish(status, loop, reason="signal" if caught else "")
    if tb is not None:
        tb.close(loop)
        if tb.failure:
            print(f"convscope: --tensorboard: {tb.failure}", file=sys.stderr)
    if writer.failure:
        print(f"convscope: {writer.failure}", file=sys.stderr)
        return 1
    if result.diverged:  # the loop's notice (on stderr) said why and what to change
        print(f"convscope: training diverged; stopped at step {loop.step} after {wall:.1f} s; the last good "
              f"weights are in {writer.dir / 'checkpoints' / 'last_good.npz'}", file=sys.stderr)
        return EXIT_DIVERGED
    if result.reason == "interrupted":
        name = signal.Signals(caught[0]).name if caught else "a stop"
        print(f"convscope: interrupted by {name} at step {loop.step}; saved {writer.dir / 'checkpoints' / 'latest.npz'}"
              f"; go on with: convscope train --resume {writer.dir}", file=sys.stderr)
        return EXIT_INTERRUPTED if not caught or caught[0] == signal.SIGINT else 128 + caught[0]
    if not leader:
        return 0
    print(f"done: step {loop.step}, val_acc {last.get('val_acc', float('nan')):.4f}, {wall:.1f} s; "
          f"checkpoint {writer.dir / 'checkpoints' / 'final.npz'}")
    return 0


def _tensorboard(args: argparse.Namespace, writer: Any) -> Any:
    if not getattr(args, "tensorboard", None):
        return None
    try:
        from convscope.runs.tensorboard import LiveTensorBoard
    except ImportError as e:
        raise UsageError(f"--tensorboard needs tensorboardX ({e})") from e
    try:
        return LiveTensorBoard(Path(args.tensorboard), writer)
    except OSError as e:
        raise UsageError(f"--tensorboard {args.tensorboard}: cannot write there ({e.strerror or e})") from e
