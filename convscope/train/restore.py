"""Putting a checkpoint back into a TrainingLoop, exactly.

:func:`capture` reads everything a loop needs to go on taking the same steps (weights,
batch-norm state, every optimizer's moments, the dropout key, the shuffling generator,
its permutation and position, the counters); :func:`restore` puts it back. A resumed
loop then produces, on the same machine and backend, the losses the uninterrupted loop
would have (``tests/test_resume.py`` checks it step by step, bit for bit on the CPU).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING

import jax
import numpy as np

from convscope import events as ev
from convscope.model.arrays import to_device, tree_to_device
from convscope.train.augment import normalization_norm
from convscope.train.checkpoint import Checkpoint, CheckpointError, DataRecord, data_mismatch, load_checkpoint
from convscope.train.resume_state import ResumeState
from convscope.train.step import init_opt_states

if TYPE_CHECKING:
    from convscope.train.loop import TrainingLoop


def capture(loop: TrainingLoop) -> Checkpoint:
    """The loop's complete training state as a Checkpoint (copied to the host)."""
    params, state, opt = jax.device_get((loop.params, loop.state, loop.opt_states))
    leaves, tree = jax.tree.flatten(opt)
    rs = ResumeState(
        opt_tree=str(tree),
        opt_leaves=tuple(np.asarray(leaf) for leaf in leaves),
        key=np.asarray(jax.random.key_data(loop._key), np.uint32),
        numpy_rng=loop._rng.bit_generator.state,
        perm=np.asarray(loop._perm, np.int64),
        pos=int(loop._pos),
        train_time=float(loop.train_time),
    )
    ds = loop.dataset
    return Checkpoint(loop.arch, loop.config, jax.tree.map(np.asarray, params), jax.tree.map(np.asarray, state),
                      loop.step, loop.norm, DataRecord.of(ds), loop.examples_seen,
                      tuple(str(n) for n in ds.class_names), rs)


def resume_refusal(loop: TrainingLoop, ckpt: Checkpoint) -> str:
    """Why ``ckpt`` cannot continue exactly in ``loop`` ("" if it can): a resume on other
    data or another architecture is refused, never approximated."""
    if ckpt.arch != loop.arch:
        return "it was trained with another architecture than the one given"
    mismatch = data_mismatch(ckpt.data, loop.dataset)
    if mismatch:
        return mismatch
    if ckpt.resume is None:
        return "it holds the weights only (no optimizer state or random streams)"
    if len(ckpt.resume.perm) != len(loop.dataset.y_train):
        return (f"it was trained on {len(ckpt.resume.perm):,} training images, the loaded set has "
                f"{len(loop.dataset.y_train):,}")
    return ""


def restore(loop: TrainingLoop, ckpt: Checkpoint, *, exact: bool) -> None:
    """Put ``ckpt`` into ``loop`` (its architecture must be the loop's).

    With ``exact`` the optimizer moments and random streams come back too
    (CheckpointError with the reason when :func:`resume_refusal` objects); without it,
    the weights and counters only, and the optimizers start afresh."""
    if exact:
        why = resume_refusal(loop, ckpt)
        if why:
            raise CheckpointError(f"cannot resume exactly: {why}")
    loop.config = ckpt.config
    loop._place_data()  # noqa: SLF001 — its batch size may suit another number of devices
    loop.reinitialise(ckpt.arch)
    loop.params = tree_to_device(ckpt.params)
    loop.state = tree_to_device(ckpt.state)
    fresh = init_opt_states(loop.fns.optimizers, loop.params)
    if exact:
        rs = ckpt.resume
        assert rs is not None
        want, tree = jax.tree.flatten(fresh)
        if str(tree) != rs.opt_tree or len(want) != len(rs.opt_leaves):
            raise CheckpointError("cannot resume exactly: its optimizer state has another layout "
                                  "(written by another version of ConvScope or optax)")
        for i, (w, got) in enumerate(zip(want, rs.opt_leaves, strict=True)):
            if tuple(w.shape) != tuple(got.shape) or np.dtype(w.dtype) != got.dtype:
                raise CheckpointError(f"cannot resume exactly: optimizer leaf {i} is {got.dtype}{got.shape}, "
                                      f"expected {np.dtype(w.dtype)}{tuple(w.shape)}")
        loop.opt_states = jax.tree.unflatten(tree, [to_device(x) for x in rs.opt_leaves])
        loop._key = jax.random.wrap_key_data(to_device(rs.key, np.uint32))
        loop._rng = np.random.default_rng()
        loop._rng.bit_generator.state = rs.numpy_rng
        loop._perm = np.asarray(rs.perm)
        loop._pos = rs.pos
        loop.train_time = rs.train_time
    else:
        loop.opt_states = fresh
    loop.norm = (np.asarray(ckpt.norm, np.float32) if ckpt.norm is not None
                 else normalization_norm(loop.stats, loop.config.normalization))
    loop.put_norm()
    loop.step = ckpt.step
    loop.restored = True
    # The epoch counter goes on from the checkpoint's (older files: step × batch size).
    loop.examples_seen = ckpt.examples if ckpt.examples is not None else ckpt.step * ckpt.config.batch_size


def swap_in(loop: TrainingLoop, put: Callable[[], None], failure: str) -> Generator[ev.Event, None, bool]:
    """Put another model into the running loop (``put()``), compile and evaluate it, and
    yield its Started, EvalMetrics and Snapshot: True. On any failure (say, memory runs
    out compiling it) everything is put back, the GUI keeps its curves and Save, and an
    error notice beginning with ``failure`` says why: False. Shared by File ▸ Open
    Checkpoint and Start From Checkpoint (train/transfer.py)."""
    before = dict(loop.__dict__)
    try:
        loop.running = False
        put()
        loop.restored = False  # events() is running already: nothing to skip at its start
        loop.warm_up()
        opened = (loop.started_event(), loop.eval_event(), loop.snapshot())
    except Exception as e:  # noqa: BLE001 - whatever it is, the running model must survive it
        loop.__dict__.update(before)
        yield ev.Notice("error", f"{failure} ({type(e).__name__}: {str(e)[:300]}); the model is as it was")
        if not loop.running:
            yield ev.Paused(loop.step)  # leaves the 'compiling' state
        return False
    yield from opened
    return True


def open_into(loop: TrainingLoop, path: str) -> Iterator[ev.Event]:
    """Open the checkpoint at ``path`` in ``loop`` (File ▸ Open Checkpoint), as events.

    Whatever goes wrong (a file that is not a checkpoint, a model that does not fit the
    data, memory running out compiling it) is an error notice and the running model, its
    step and its curves stay as they were. The optimizer moments and random streams come
    back too when the checkpoint has them and they fit this data."""
    try:
        ckpt = load_checkpoint(path)
        if tuple(ckpt.arch.input_shape) != tuple(loop.dataset.image_shape):
            raise CheckpointError(
                f"{path}: the checkpoint's model takes {ckpt.arch.input_shape} inputs, "
                f"the loaded data set has {loop.dataset.image_shape} images"
            )
        if ckpt.arch.num_classes != loop.dataset.num_classes:
            raise CheckpointError(
                f"{path}: the checkpoint's model has {ckpt.arch.num_classes} classes, "
                f"the loaded data set has {loop.dataset.num_classes}"
            )
    except Exception as e:  # noqa: BLE001 - a reader's bug must not stop the running model either
        yield ev.Notice("error", str(e) if isinstance(e, CheckpointError) else
                        f"{path}: the checkpoint could not be read ({type(e).__name__}: {str(e)[:300]})")
        return
    if ckpt.arch != loop.arch:
        yield ev.Compiling("model from checkpoint")
    # Nothing is announced until the model is built, compiled and evaluated: on any failure (say,
    # memory runs out compiling it) all is put back, and the GUI keeps its curves and Save.
    # The checkpoint's optimizer moments and random streams come back too when it has
    # them and they fit this data (train/restore.py).
    def put() -> None:
        loop.arch = ckpt.arch
        loop.restored_exactly = not resume_refusal(loop, ckpt)
        try:
            restore(loop, ckpt, exact=loop.restored_exactly)
        except CheckpointError:  # an optimizer state of another layout (another optax): weights only
            loop.restored_exactly = False
            restore(loop, ckpt, exact=False)

    if not (yield from swap_in(loop, put, f"{path}: the checkpoint could not be opened")):
        return
    mismatch = data_mismatch(ckpt.data, loop.dataset)
    if mismatch:
        yield ev.Notice("warning", f"Opened checkpoint {path} (step {ckpt.step}), but {mismatch}.")
    else:
        how = "training continues exactly" if loop.restored_exactly else "optimizer state starts afresh"
        yield ev.Notice("info", f"Opened checkpoint {path} (step {ckpt.step}; {how})")
    yield ev.Paused(loop.step, "checkpoint opened")
