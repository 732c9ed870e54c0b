"""The training loop as a plain generator of events that takes commands from a queue.

No Qt here: the GUI's worker thread iterates :meth:`TrainingLoop.events`, the command
line does the same, and the tests drive it directly. Steps are dispatched from Python
one jitted call at a time (never a rolled scan around conv gradients: PERFORMANCE.md),
and results are fetched once per chunk, so the worker holds the GIL only briefly.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import numpy as np

from convscope import events as ev
from convscope.config import LIVE_FIELDS, OPTIMIZERS, ArchSpec, TrainConfig, frozen_within
from convscope.data.dataset import Dataset
from convscope.model.network import count_params, init
from convscope.runs.layout import next_history_step
from convscope.shapes import total_params
from convscope.train import parallel
from convscope.train.augment import channel_stats, normalization_norm
from convscope.train.blowup import watched
from convscope.train.checkpoint import Checkpoint, CheckpointError, save_checkpoint
from convscope.train.freeze import check_frozen
from convscope.train.parallel import Placement, choose_devices, describe
from convscope.train.rollback import Rollback, likely_cause
from convscope.train.step import (
    STEPS_PER_CALL,
    StepFunctions,
    build_steps,
    copy_tree,
    evaluate,
    init_opt_states,
    live_hparams,
    to_host,
)
from convscope.train.transfer import open_transfer

CHUNK_SECONDS = 0.2  # fetch metrics (and check commands) at least this often while running
NON_FINITE = "non-finite loss"  # the reason of the Paused event that divergence causes


class TrainingLoop:
    """Owns the model, optimizer state and device-resident data of one training run."""

    def __init__(
        self,
        arch: ArchSpec,
        config: TrainConfig,
        dataset: Dataset,
        *,
        max_steps: int | None = None,
        max_epochs: float | None = None,
        snapshot_interval_s: float = 0.25,
        clock: Callable[[], float] = time.perf_counter,
        devices: int | None = None,
        device_limit: int | Callable[[], int | None] | None = None,
    ) -> None:
        """``devices``: how many of JAX's devices share each batch (train/parallel.py);
        None: as many as divide the batch size, at most ``device_limit`` (or what it
        returns, asked again at each re-initialisation: the GUI's preference)."""
        if tuple(arch.input_shape) != tuple(dataset.image_shape):
            raise ValueError(
                f"the model expects {arch.input_shape} inputs but the data set has {dataset.image_shape} images"
            )
        if arch.num_classes != dataset.num_classes:
            raise ValueError(
                f"the model has {arch.num_classes} outputs but the data set has {dataset.num_classes} classes"
            )
        check_frozen(arch, config)
        self.arch = arch
        self.config = config
        self.dataset = dataset
        self.max_steps = max_steps
        self.max_epochs = max_epochs
        self.snapshot_interval_s = snapshot_interval_s
        self.clock = clock
        self.stats = channel_stats(dataset.x_train)  # (2, C) of the data, whatever the mode
        self.norm = normalization_norm(self.stats, config.normalization)
        self.devices_requested, self.device_limit = devices, device_limit
        self.placement: Placement | None = None
        self._place_data(force=True)
        self.running = False
        self.step = 0
        self.examples_seen = 0
        self.train_time = 0.0
        self.rollback = Rollback()  # where a non-finite loss sends training back to
        self._evaluated: tuple | None = None  # warm_up's evaluation: (params, state, result)
        self.compile_seconds = float("nan")
        self.restored = False  # set by train.restore: events() starts from that state, not afresh
        self.restored_exactly = False  # the last checkpoint opened brought its optimizer state back
        self.init_from: dict | None = None  # another data set's checkpoint it started from (train/transfer.py)

    @property
    def batch(self) -> int:
        """The batch size in effect: the setting, or the whole training set when smaller."""
        return min(self.config.batch_size, len(self.dataset.y_train))

    def _devices_for(self, batch: int) -> int:
        limit = self.device_limit() if callable(self.device_limit) else self.device_limit
        return choose_devices(self.devices_requested, batch, limit)

    def _place_data(self, force: bool = False) -> None:
        """Choose the devices for the batch size, and put the data on them (replicated)."""
        n = self._devices_for(self.batch)
        if not force and n == parallel.size(self.placement):
            return
        self.placement = Placement.over(n)
        ds = self.dataset
        data = (ds.x_train, np.asarray(ds.y_train, np.int32), ds.x_val, np.asarray(ds.y_val, np.int32), self.norm)
        self._x, self._y, self._xv, self._yv, self._norm = parallel.put(self.placement, data)

    def put_norm(self) -> None:
        """The input normalisation (``self.norm``) on the training devices."""
        self._norm = parallel.put(self.placement, self.norm)

    def _placed(self, idxs: np.ndarray, copy: bool) -> tuple[tuple, Any]:
        """(params, state, opt_states) and the index rows, on the training devices; with
        ``copy``, the carry is a copy, which the training call may donate."""
        carry = (self.params, self.state, self.opt_states)
        if self.placement is not None:
            carry, idxs = self.placement.replicate(carry), self.placement.split_rows(idxs)
        return (copy_tree(carry) if copy else carry), idxs

    @property
    def _compiled_as(self) -> tuple[int, int]:
        """What the training step is compiled for: (batch size, devices)."""
        return self.batch, parallel.size(self.placement)

    # ------------------------------------------------------------------ state
    @property
    def fns(self) -> StepFunctions:
        return build_steps(self.arch)

    @property
    def epoch(self) -> float:
        return self.examples_seen / max(len(self.dataset.y_train), 1)

    def reinitialise(self, arch: ArchSpec | None = None) -> None:
        if arch is not None:
            if tuple(arch.input_shape) != tuple(self.dataset.image_shape) or arch.num_classes != self.dataset.num_classes:
                raise ValueError("the new architecture does not fit the data set's image shape or classes")
            self.arch = arch
            self.config = frozen_within(arch, self.config)
        self._place_data()  # the devices may have changed (the GUI's preference)
        self._key = jax.random.key(self.config.seed)
        self.params, self.state = init(self.arch, self.config.seed)
        self.init_from = None
        self.opt_states = init_opt_states(self.fns.optimizers, self.params)
        self._hp = live_hparams(self.config, self.arch)
        self._rng = np.random.default_rng(self.config.seed)
        self._perm = self._rng.permutation(len(self.dataset.y_train))
        self._pos = 0
        self.step = 0
        self.examples_seen = 0
        self.train_time = 0.0

    def warm_up(self) -> None:
        """Compile the training step (current batch size) and evaluation now, by running
        them once and discarding the results, so that pressing Train starts at once and
        no compilation holds the GIL in the middle of a live run (jax#16978)."""
        t0 = self.clock()
        bs = self.batch
        if self._compiled_as not in self.fns.batch_sizes:
            rows = np.broadcast_to(self._perm[:bs].astype(np.int32), (STEPS_PER_CALL, bs))
            keys = jax.random.split(self._key, STEPS_PER_CALL)
            carry, idxs = self._placed(np.ascontiguousarray(rows), copy=False)
            # compiled, not run (nothing is donated): a later call finds it in jit's cache
            self.fns.train_chunk.lower(*carry, self._x, self._y, idxs, np.zeros(STEPS_PER_CALL, bool),
                                       self._norm, self._hp, keys).compile()  # fmt: skip
            self.fns.batch_sizes.add(self._compiled_as)
        if not self.fns.traces["eval"]:
            self._evaluated = (self.params, self.state, self.evaluate())  # eval_event's, if still these
        self.compile_seconds = self.clock() - t0

    def snapshot(self) -> ev.Snapshot:
        params, state = to_host(self.params), to_host(self.state)
        return ev.Snapshot(self.step, self.arch, params, state, self.norm.copy())

    def checkpoint(self) -> Checkpoint:
        """Everything needed to go on exactly: weights, optimizer moments, random streams."""
        from convscope.train.restore import capture

        return capture(self)

    def started_event(self) -> ev.Started:
        return ev.Started(
            arch=self.arch,
            config=self.config,
            device=describe(self.placement),
            num_params=count_params(self.params),
            train_size=len(self.dataset.y_train),
            val_size=len(self.dataset.y_val),
            step=self.step, epoch=self.epoch,
        )

    def set_hyperparams(self, changes: dict) -> dict:
        """Apply live changes; returns {field: (old, new)} for what actually changed."""
        unknown = set(changes) - set(LIVE_FIELDS)
        if unknown:
            raise ValueError(f"not a live hyperparameter: {', '.join(sorted(unknown))}")
        new = self.config.replace(**changes)  # validates
        check_frozen(self.arch, new)
        self._devices_for(min(new.batch_size, len(self.dataset.y_train)))  # a batch the devices cannot share
        diff = {k: (getattr(self.config, k), getattr(new, k)) for k in changes if getattr(self.config, k) != getattr(new, k)}
        if "optimizer" in diff:
            # The optimizer switched in has stale moments from earlier use: start it afresh.
            i = OPTIMIZERS.index(new.optimizer)
            fresh = self.fns.optimizers[i].init(self.params)
            self.opt_states = tuple(fresh if j == i else s for j, s in enumerate(self.opt_states))
        if "normalization" in diff:
            # norm is a traced argument of the steps, and snapshots carry it: live.
            self.norm = normalization_norm(self.stats, new.normalization)
            self.put_norm()
        self.config = new
        self._hp = live_hparams(new, self.arch)
        if "batch_size" in diff:
            self._place_data()  # another batch size may suit another number of devices
        return diff

    # ----------------------------------------------------------------- stepping
    def _next_indices(self) -> np.ndarray:
        n, bs = len(self._perm), self.batch
        if self._pos + bs > n:
            self._perm = self._rng.permutation(n)
            self._pos = 0
        idx = self._perm[self._pos : self._pos + bs]
        self._pos += bs
        return idx.astype(np.int32)

    def _dispatch(self, n: int, first: bool = True) -> tuple[jax.Array, jax.Array, jax.Array, int]:
        """Dispatch one call running ``n`` (1..STEPS_PER_CALL) steps; returns the device
        arrays of per-step losses, accuracies and finiteness (only the first ``n`` count)
        and ``n``. The call donates the state it starts from: a ``first`` call gets a
        copy; a later call of the same chunk (``first=False``) donates what the call
        before it returned, which nothing else has seen."""
        k = STEPS_PER_CALL
        rows = [self._next_indices() for _ in range(n)]
        rows += [rows[0]] * (k - n)
        active = np.arange(k) < n
        self._key, sub = jax.random.split(self._key)
        keys = jax.random.split(sub, k)
        carry, idxs = self._placed(np.stack(rows), copy=first)
        self.params, self.state, self.opt_states, losses, accs, finite = self.fns.train_chunk(
            *carry, self._x, self._y, idxs, active, self._norm, self._hp, keys,
        )
        self.step += n
        self.examples_seen += n * len(rows[0])
        return losses, accs, finite, n

    def _one_step(self) -> tuple[jax.Array, jax.Array]:
        losses, accs, _, _ = self._dispatch(1)
        return losses[0], accs[0]

    def evaluate(self) -> tuple[float, float]:
        return evaluate(self.fns, self.params, self.state, self._xv, self._yv, self._norm, placement=self.placement)

    def _steps_left(self) -> int:
        """Steps until the step/epoch budget ends (a large number when there is none)."""
        left = 1 << 30
        if self.max_steps is not None:
            left = min(left, self.max_steps - self.step)
        if self.max_epochs is not None:
            n, bs = len(self.dataset.y_train), self.batch
            remaining = self.max_epochs * n - self.examples_seen
            left = min(left, max(int(np.ceil(remaining / bs - 1e-9)), 0))
        return left

    def _steps_to_stop(self) -> int:
        """Steps until the next one whose weights a run keeps as a snapshot: a history
        step (0, 1, 2, 5, 10, …) or the end of an epoch. A chunk of steps ends there, so
        a snapshot is of exactly that step, not of the next logged one."""
        to_history = next_history_step(self.step) - self.step
        n, bs = len(self.dataset.y_train), self.batch
        next_epoch = (self.examples_seen // n + 1) * n
        to_epoch = max(1, -(-(next_epoch - self.examples_seen) // bs))
        return min(to_history, to_epoch)

    def _budget_reached(self) -> bool:
        if self.max_steps is not None and self.step >= self.max_steps:
            return True
        return self.max_epochs is not None and self.epoch >= self.max_epochs - 1e-9

    def train_chunk(self, max_steps: int) -> Iterator[ev.Event]:
        """Run up to ``max_steps`` steps (fewer when CHUNK_SECONDS pass); yield their events."""
        bs = self.config.batch_size
        start = self.rollback.start(self)
        calls: list[tuple[jax.Array, jax.Array, jax.Array, int]] = []
        if self._compiled_as not in self.fns.batch_sizes:
            yield ev.Compiling(f"training step for batch size {bs}")
            self.warm_up()
        t0 = self.clock()
        start_examples = self.examples_seen
        done = 0
        stop = self._steps_to_stop()
        while done < max_steps and not self._budget_reached():
            n = min(STEPS_PER_CALL, max_steps - done, self._steps_left(), stop - done)
            calls.append(self._dispatch(n, first=not calls))
            done += n
            if done >= stop:
                break
            if len(calls) >= 3:
                # Keep two calls queued, no deeper: the device never idles while the GUI
                # thread holds the GIL, and a Pause still takes effect within two calls.
                jax.block_until_ready(calls[-3][0])
            if self.clock() - t0 > CHUNK_SECONDS:
                break
        if not calls:
            return
        fetched = jax.device_get([c[:3] for c in calls])
        loss_v, acc_v, ok_v = (
            np.concatenate([np.asarray(f[j])[: c[3]] for f, c in zip(fetched, calls, strict=True)]) for j in range(3)
        )
        elapsed = self.clock() - t0
        self.train_time += elapsed
        if not np.all(ok_v):
            good = self.rollback.point(start)
            self.params, self.state, self.opt_states = good[:3]
            self.running = False
            what = "loss" if not np.all(np.isfinite(loss_v)) else "weights"
            yield ev.Notice(
                "error",
                f"The {what} became non-finite near step {self.step}: training paused and the last "
                f"good weights restored. Likely cause: {likely_cause(self.config)}.",
            )
            self.step, self.examples_seen = good[3], good[4]
            yield ev.Paused(self.step, NON_FINITE)
            return
        self.rollback.after(loss_v, start, self)
        examples = self.examples_seen - start_examples
        yield ev.StepMetrics(
            step=self.step,
            epoch=self.epoch,
            loss=float(loss_v.mean()),
            acc=float(acc_v.mean()),
            lr=self.config.learning_rate,
            examples_per_s=examples / elapsed if examples and elapsed > 0 else float("nan"),
            time=self.train_time,
        )
        prev_step = self.step - done
        every = self.config.eval_every
        if self.step // every > prev_step // every or self._budget_reached():
            yield self.eval_event()

    def eval_event(self) -> ev.EvalMetrics:
        done, self._evaluated = self._evaluated, None
        fresh = done is not None and done[0] is self.params and done[1] is self.state
        val_loss, val_acc = done[2] if fresh else self.evaluate()
        return ev.EvalMetrics(self.step, self.epoch, val_loss, val_acc, self.train_time)

    # ------------------------------------------------------------------- events
    def events(self, commands: queue.Queue, *, start_paused: bool = True) -> Iterator[ev.Event]:
        """The loop. Yields events; reads commands between chunks; returns after Stop. A
        blow-up that stays finite adds a warning Notice (convscope.train.blowup)."""
        return watched(self._events(commands, start_paused=start_paused), self.dataset.num_classes)

    def _events(self, commands: queue.Queue, *, start_paused: bool = True) -> Iterator[ev.Event]:
        yield ev.Compiling(f"model ({total_params(self.arch):,} parameters)")
        if not self.restored:
            self.reinitialise()
        self.restored = False
        self.warm_up()
        yield self.started_event()
        yield self.eval_event()
        yield self.snapshot()
        self.running = not start_paused
        if start_paused:
            yield ev.Paused(self.step)
        last_snapshot = self.clock()
        while True:
            step_once = False
            try:
                cmd = commands.get(timeout=0.05) if not self.running else commands.get_nowait()
            except queue.Empty:
                cmd = None
            while cmd is not None:
                if isinstance(cmd, ev.Stop):
                    yield ev.Finished(self.step, "stopped")
                    return
                if isinstance(cmd, ev.Step):
                    step_once = True
                    self.running = False
                else:
                    yield from self._handle(cmd)
                try:
                    cmd = commands.get_nowait()
                except queue.Empty:
                    cmd = None
            if not (self.running or step_once):
                continue
            if self._budget_reached():
                yield self.snapshot()
                yield ev.Finished(self.step, "done")
                return
            yield from self.train_chunk(1 if step_once else self.config.log_every)
            now = self.clock()
            if step_once or not self.running or now - last_snapshot >= self.snapshot_interval_s:
                yield self.snapshot()
                last_snapshot = now
            if step_once:
                yield ev.Paused(self.step)

    def _handle(self, cmd: ev.Command) -> Iterator[ev.Event]:
        if isinstance(cmd, ev.Pause):
            if self.running:
                self.running = False
                yield ev.Paused(self.step)
        elif isinstance(cmd, ev.Resume):
            self.running = True
        elif isinstance(cmd, ev.SetHyperParams):
            try:
                diff = self.set_hyperparams(cmd.changes)
            except ValueError as e:
                yield ev.Notice("error", f"Not applied: {e}")
                return
            if diff:
                yield ev.HyperParamsChanged(self.step, diff, self.config)
        elif isinstance(cmd, ev.Reset):
            was_running = self.running
            yield ev.Compiling(f"model ({total_params(cmd.arch or self.arch):,} parameters)")
            try:
                self.reinitialise(cmd.arch)
            except ValueError as e:
                yield ev.Notice("error", f"Not applied: {e}")
                return
            self.warm_up()
            yield self.started_event()
            yield self.eval_event()
            yield self.snapshot()
            self.running = was_running
            if not was_running:
                yield ev.Paused(self.step, "reset")
        elif isinstance(cmd, ev.Save):
            try:
                path = save_checkpoint(cmd.path, self.checkpoint())
            except CheckpointError as e:
                yield ev.Notice("error", str(e))
                return
            yield ev.Saved(str(path), self.step)
        elif isinstance(cmd, ev.Load):
            yield from self._load(cmd.path)
        elif isinstance(cmd, ev.StartFrom):
            yield from open_transfer(self, cmd.path)
        elif isinstance(cmd, ev.RequestSnapshot):
            yield self.snapshot()

    def _load(self, path: str) -> Iterator[ev.Event]:
        from convscope.train.restore import open_into

        yield from open_into(self, path)
