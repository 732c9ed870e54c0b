"""The training engine, headless: loss falls, live hyperparameters never recompile,
commands drive the loop, a non-finite loss restores the last good weights."""

from __future__ import annotations

import queue
from functools import cache

import jax
import numpy as np
import pytest

from convscope import events as ev
from convscope.config import ArchSpec, ConvLayer, TrainConfig
from convscope.data import Dataset, builtin_mnist
from convscope.train.loop import TrainingLoop, likely_cause

TINY = ArchSpec(convs=(ConvLayer(filters=4, kernel=3),), dense=(16,))


@cache
def small_mnist() -> Dataset:
    full = builtin_mnist()
    return Dataset(
        "mnist-small", full.x_train[:512], full.y_train[:512], full.x_val[:200], full.y_val[:200],
        full.class_names, full.source,
    )


def make_loop(**cfg) -> TrainingLoop:
    config = TrainConfig(**{"batch_size": 32, "eval_every": 5, "dropout": 0.0, **cfg})
    loop = TrainingLoop(TINY, config, small_mnist(), max_steps=None)
    loop.reinitialise()
    return loop


def drain(gen, until, limit=10_000):
    """Advance a loop generator until an event of type ``until`` (returned) or fail."""
    seen = []
    for _ in range(limit):
        e = next(gen)
        seen.append(e)
        if isinstance(e, until):
            return e, seen
    raise AssertionError(f"no {until.__name__} in {limit} events: {seen[-5:]}")


def test_loss_falls_on_a_fixed_batch():
    loop = make_loop(learning_rate=3e-3, augment=False)
    loop.dataset = small_mnist()
    loop._perm = np.arange(32)  # the same 32 images every step  # noqa: SLF001
    loop._rng = np.random.default_rng(0)  # noqa: SLF001
    losses = []
    for _ in range(40):
        loop._pos = 0  # noqa: SLF001
        loss, _ = loop._one_step()  # noqa: SLF001
        losses.append(float(loss))
    assert losses[-1] < 0.25 * losses[0], losses


def test_changing_live_hyperparameters_never_recompiles():
    loop = make_loop()
    for _ in range(2):
        loop._one_step()  # noqa: SLF001
    traces = loop.fns.traces["train"]
    before = jax.tree.map(np.asarray, loop.params)
    loop.set_hyperparams({"learning_rate": 1e-6, "optimizer": "sgd", "momentum": 0.5,
                          "weight_decay": 1e-4, "dropout": 0.3})
    loop._one_step()  # noqa: SLF001
    small = max(float(np.abs(np.asarray(a) - b).max()) for a, b in
                zip(jax.tree.leaves(loop.params), jax.tree.leaves(before), strict=True))
    loop.set_hyperparams({"learning_rate": 1.0})
    snap = jax.tree.map(np.asarray, loop.params)
    loop._one_step()  # noqa: SLF001
    big = max(float(np.abs(np.asarray(a) - b).max()) for a, b in
              zip(jax.tree.leaves(loop.params), jax.tree.leaves(snap), strict=True))
    assert loop.fns.traces["train"] == traces, "a live hyperparameter change recompiled the step"
    # The new learning rate really took effect: a 1e6× larger step moves weights far more.
    assert small < 1e-4 < big


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_each_optimizer_trains_from_one_compiled_step(optimizer):
    loop = make_loop(optimizer=optimizer, learning_rate=0.05 if optimizer in ("sgd", "momentum") else 2e-3)
    first = loop.evaluate()[0]
    loop._one_step()  # noqa: SLF001
    traces = loop.fns.traces["train"]
    for _ in range(30):
        loop._one_step()  # noqa: SLF001
    assert loop.evaluate()[0] < first
    # All four optimizers share one compiled step: switching never traces again.
    assert loop.fns.traces["train"] == traces


def test_batch_size_compiles_once_per_size():
    loop = make_loop()
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands, start_paused=False)
    drain(gen, ev.StepMetrics)
    traces = loop.fns.traces["train"]
    commands.put(ev.SetHyperParams({"batch_size": 48}))
    e, seen = drain(gen, ev.HyperParamsChanged)
    assert e.changes == {"batch_size": (32, 48)}
    _, seen = drain(gen, ev.StepMetrics)
    assert any(isinstance(x, ev.Compiling) for x in seen)
    commands.put(ev.SetHyperParams({"batch_size": 32}))
    drain(gen, ev.HyperParamsChanged)
    _, seen = drain(gen, ev.StepMetrics)
    assert not any(isinstance(x, ev.Compiling) for x in seen)
    assert loop.fns.traces["train"] == traces + 1
    commands.put(ev.Stop())
    drain(gen, ev.Finished)


def test_commands_drive_the_loop(tmp_path):
    loop = make_loop()
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands)  # starts paused
    started, _ = drain(gen, ev.Started)
    assert started.device.startswith(("CPU", "GPU", "CUDA", "ROCM", "TPU"))
    drain(gen, ev.Paused)
    commands.put(ev.Step())
    step_metrics, _ = drain(gen, ev.StepMetrics)
    assert step_metrics.step == 1
    paused, _ = drain(gen, ev.Paused)
    assert paused.step == 1
    commands.put(ev.Resume())
    m, _ = drain(gen, ev.StepMetrics)
    assert m.step > 1
    e, _ = drain(gen, ev.EvalMetrics)
    assert 0.0 <= e.val_acc <= 1.0 and np.isfinite(e.val_loss)
    commands.put(ev.Pause())
    paused, _ = drain(gen, ev.Paused)
    commands.put(ev.Save(str(tmp_path / "ck")))
    saved, _ = drain(gen, ev.Saved)
    assert saved.path.endswith("ck.npz") and saved.step == paused.step
    new_arch = ArchSpec(convs=(ConvLayer(filters=6, kernel=5),), dense=(8,))
    commands.put(ev.Reset(new_arch))
    started, _ = drain(gen, ev.Started)
    assert started.arch == new_arch
    snap, _ = drain(gen, ev.Snapshot)
    assert snap.step == 0 and snap.params["conv1"]["w"].shape == (5, 5, 1, 6)
    commands.put(ev.Load(saved.path))
    started, _ = drain(gen, ev.Started)
    assert started.arch == TINY
    snap, _ = drain(gen, ev.Snapshot)
    assert snap.step == paused.step
    drain(gen, ev.Paused)
    commands.put(ev.Load(str(tmp_path / "missing.npz")))
    notice, _ = drain(gen, ev.Notice)
    assert notice.level == "error" and "missing.npz" in notice.message
    commands.put(ev.Stop())
    fin, _ = drain(gen, ev.Finished)
    assert fin.reason == "stopped"
    with pytest.raises(StopIteration):
        next(gen)


def test_invalid_live_change_is_refused_with_a_notice():
    loop = make_loop()
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands)
    drain(gen, ev.Paused)
    commands.put(ev.SetHyperParams({"learning_rate": -1.0}))
    notice, _ = drain(gen, ev.Notice)
    assert notice.level == "error" and "learning_rate" in notice.message
    assert loop.config.learning_rate == 1e-3
    commands.put(ev.Stop())
    drain(gen, ev.Finished)


def test_non_finite_loss_pauses_restores_and_names_the_cause():
    loop = make_loop()
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands, start_paused=False)
    first, _ = drain(gen, ev.StepMetrics)
    while first.step < 5:  # past the one-step chunks of the first snapshot steps (1, 2), where
        first, _ = drain(gen, ev.StepMetrics)  # the overflowing step would end a chunk of its own
    good_step = first.step
    commands.put(ev.SetHyperParams({"optimizer": "sgd", "learning_rate": 10.0}))
    drain(gen, ev.HyperParamsChanged)
    # lr 10 with SGD usually diverges; make it certain (and fast) by scaling the traced
    # learning rate far past float32's range, so the next update overflows for real.
    loop._hp["lr"] = jax.numpy.float32(1e38)  # noqa: SLF001
    notice, seen = drain(gen, ev.Notice, limit=50)
    assert "non-finite" in notice.message and "learning rate (10)" in notice.message
    paused, _ = drain(gen, ev.Paused)
    assert paused.reason == "non-finite loss" and paused.step >= good_step
    assert not loop.running
    for leaf in jax.tree.leaves(loop.params):
        assert np.all(np.isfinite(np.asarray(leaf)))
    assert np.isfinite(loop.evaluate()[0])
    commands.put(ev.Stop())
    drain(gen, ev.Finished)


def test_an_update_that_overflows_with_a_finite_loss_is_caught_and_undone():
    """Issue 11.7: a step's loss is computed before its update, so an update that overflows
    on the last step of a chunk has a finite loss; the weights it leaves must not be kept
    as "good". Here the learning rate is made infinite (traced, so no recompile): the loss
    of that step is finite, the weights after it are not."""
    loop = make_loop(optimizer="sgd", learning_rate=0.05)
    for _ in range(2):
        loop._one_step()  # noqa: SLF001
    good = [np.asarray(a).copy() for a in jax.tree.leaves((loop.params, loop.state, loop.opt_states))]
    good_step, good_seen = loop.step, loop.examples_seen
    loop._hp["lr"] = jax.numpy.float32(np.inf)  # noqa: SLF001
    events = list(loop.train_chunk(1))  # exactly one step: the last (and only) of its chunk
    notices = [e for e in events if isinstance(e, ev.Notice)]
    assert notices and notices[0].level == "error", events
    assert "weights became non-finite" in notices[0].message, "the loss stayed finite: the weights gave it away"
    assert "training paused and the last good weights restored" in notices[0].message
    assert isinstance(events[-1], ev.Paused) and events[-1].reason == "non-finite loss"
    assert not any(isinstance(e, ev.StepMetrics) for e in events)
    now = [np.asarray(a) for a in jax.tree.leaves((loop.params, loop.state, loop.opt_states))]
    assert len(now) == len(good)
    for a, b in zip(now, good, strict=True):
        np.testing.assert_array_equal(a, b)
    assert loop.step == good_step and loop.examples_seen == good_seen
    # The compiled call itself never carries a non-finite step forward either.
    loop._dispatch(1)  # noqa: SLF001
    for a, b in zip(jax.tree.leaves(loop.params), jax.tree.leaves(good[: len(jax.tree.leaves(loop.params))]),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)


def test_likely_cause_names_the_learning_rate_or_momentum():
    assert "too high for adam" in likely_cause(TrainConfig(optimizer="adam", learning_rate=0.5))
    assert "momentum" in likely_cause(TrainConfig(optimizer="momentum", learning_rate=0.1, momentum=0.99))


def test_budget_ends_the_run():
    loop = TrainingLoop(TINY, TrainConfig(batch_size=64, eval_every=1000), small_mnist(), max_epochs=1)
    events = list(loop.events(queue.Queue(), start_paused=False))
    assert isinstance(events[-1], ev.Finished) and events[-1].reason == "done"
    assert loop.step == 512 // 64
    assert any(isinstance(e, ev.EvalMetrics) for e in events)  # a final evaluation


def test_model_must_fit_the_data():
    with pytest.raises(ValueError, match="classes"):
        TrainingLoop(ArchSpec(num_classes=3), TrainConfig(), small_mnist())


AUGMENT_CHANGES = {
    "augment_shift": 4, "augment_flip": 0.5, "augment_rotate": 15.0, "augment_zoom": 0.2,
    "augment_brightness": 0.2, "augment_contrast": 0.3, "augment_saturation": 0.4,
}


def _one_step_from(loop: TrainingLoop, params, state, opt_states, key) -> list[np.ndarray]:
    """One step from fixed weights, batch and key: only the hyperparameters differ."""
    loop.params, loop.state, loop.opt_states, loop._key = params, state, opt_states, key  # noqa: SLF001
    loop._pos = 0  # noqa: SLF001
    loop._one_step()  # noqa: SLF001
    return [np.asarray(a) for a in jax.tree.leaves(loop.params)]


def test_augmentation_and_normalization_are_live_and_never_recompile():
    loop = make_loop(learning_rate=1e-2)
    loop._perm = np.arange(len(loop._perm))  # noqa: SLF001  # the same batch every time
    loop._one_step()  # noqa: SLF001
    traces = loop.fns.traces["train"]
    start = (loop.params, loop.state, loop.opt_states, loop._key)  # noqa: SLF001
    base = _one_step_from(loop, *start)
    results = {}
    for name, value in {**AUGMENT_CHANGES, "normalization": "none"}.items():
        loop.set_hyperparams({name: value})
        results[name] = _one_step_from(loop, *start)
        loop.set_hyperparams({name: TrainConfig().__getattribute__(name)})
        assert np.array_equal(_one_step_from(loop, *start)[0], base[0]), f"{name} did not switch back"
    loop.set_hyperparams({**AUGMENT_CHANGES, "augment": False})
    off = _one_step_from(loop, *start)
    assert loop.fns.traces["train"] == traces, "an augmentation change recompiled the step"
    # Each strength really reached the step (saturation is RGB-only: digits are gray).
    for name, leaves in results.items():
        same = all(np.array_equal(a, b) for a, b in zip(leaves, base, strict=True))
        assert same == (name == "augment_saturation"), name
    # With augment off, only the (default) shift of the base step is missing.
    loop.set_hyperparams({"augment": True, **dict.fromkeys(AUGMENT_CHANGES, 0), "augment_shift": 0})
    np.testing.assert_array_equal(_one_step_from(loop, *start)[0], off[0])


def test_normalization_mode_reaches_snapshots_and_checkpoints():
    loop = make_loop()
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands)
    snap, _ = drain(gen, ev.Snapshot)
    x = small_mnist().x_train.astype(np.float64) / 255.0
    np.testing.assert_allclose(snap.norm, [[x.mean()], [x.std()]], rtol=1e-4)
    before = loop.evaluate()
    commands.put(ev.SetHyperParams({"normalization": "center"}))
    changed, _ = drain(gen, ev.HyperParamsChanged)
    assert changed.changes == {"normalization": ("standardize", "center")}
    commands.put(ev.RequestSnapshot())
    snap, _ = drain(gen, ev.Snapshot)
    np.testing.assert_allclose(snap.norm, [[x.mean()], [1.0]], rtol=1e-4)
    assert loop.evaluate() != before, "evaluation sees the new inputs"
    assert loop.fns.traces["eval"] == 1
    np.testing.assert_array_equal(loop.checkpoint().norm, snap.norm)
    commands.put(ev.SetHyperParams({"normalization": "none"}))
    drain(gen, ev.HyperParamsChanged)
    np.testing.assert_array_equal(loop.norm, [[0.0], [1.0]])
    commands.put(ev.Stop())
    drain(gen, ev.Finished)


def test_opening_a_checkpoint_says_when_it_was_trained_on_other_data_or_another_split(tmp_path):
    """Evaluating on validation images the weights trained on is the quiet failure: the
    loop says so when the checkpoint's data record differs from the loaded set."""
    from convscope.data import load_dataset

    rng = np.random.default_rng(0)
    for name in ("a.npz", "b.npz"):
        np.savez(tmp_path / name, x_train=rng.integers(0, 256, (60, 8, 8, 1), dtype=np.uint8),
                 y_train=np.arange(60) % 2)  # fmt: skip
    arch = ArchSpec(convs=(ConvLayer(filters=2, kernel=3),), dense=(), input_shape=(8, 8, 1), num_classes=2)
    config = TrainConfig(batch_size=8, eval_every=5)

    def notice_on_load(dataset, path):
        loop = TrainingLoop(arch, config, dataset, max_steps=None)
        commands: queue.Queue = queue.Queue()
        gen = loop.events(commands, start_paused=True)
        drain(gen, ev.Paused)
        commands.put(ev.Load(path))
        notice, _ = drain(gen, ev.Notice)
        commands.put(ev.Stop())
        drain(gen, ev.Finished)
        return notice

    trained = TrainingLoop(arch, config, load_dataset(tmp_path / "a.npz", val_fraction=0.1, seed=0), max_steps=None)
    trained.reinitialise()
    from convscope.train.checkpoint import save_checkpoint

    path = str(save_checkpoint(tmp_path / "ck.npz", trained.checkpoint()))

    same = notice_on_load(load_dataset(tmp_path / "a.npz", val_fraction=0.1, seed=0), path)
    assert same.level == "info" and same.message.startswith("Opened checkpoint")
    resplit = notice_on_load(load_dataset(tmp_path / "a.npz", val_fraction=0.25, seed=7), path)
    assert resplit.level == "warning"
    assert "10% validation, seed 0" in resplit.message and "25% validation, seed 7" in resplit.message
    assert "include some the weights were trained on" in resplit.message
    other = notice_on_load(load_dataset(tmp_path / "b.npz"), path)
    assert other.level == "warning" and f"({tmp_path / 'a.npz'}), not the loaded b" in other.message


def test_a_loss_that_explodes_finite_before_it_turns_non_finite_goes_back_before_the_explosion():
    """Chunks end at every snapshot step (1, 2, 5, …): a blow-up spans several of them.
    The weights restored are those before the loss exploded, not the finite wreck of the
    chunk before the NaN."""
    loop = make_loop()
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands, start_paused=False)
    first, _ = drain(gen, ev.StepMetrics)  # step 1: a chunk of its own
    assert first.step == 1 and np.isfinite(first.loss)
    before = [np.asarray(leaf).copy() for leaf in jax.tree.leaves(loop.params)]
    loop._hp["lr"] = jax.numpy.float32(1e5)  # noqa: SLF001 (the next updates wreck the weights, finitely)
    normal, _ = drain(gen, ev.StepMetrics)  # step 2: its loss is of the weights before its update
    wrecked, _ = drain(gen, ev.StepMetrics)  # steps 3-5: finite, exploded
    assert (normal.step, wrecked.step) == (2, 5) and np.isfinite(wrecked.loss) and wrecked.loss > 100 * first.loss
    loop._hp["lr"] = jax.numpy.float32(1e38)  # noqa: SLF001 (and now non-finite)
    paused, _ = drain(gen, ev.Paused, limit=50)
    assert paused.reason == "non-finite loss" and paused.step == 1 and loop.step == 1
    for got, want in zip(jax.tree.leaves(loop.params), before, strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    assert np.isfinite(loop.evaluate()[0])
    commands.put(ev.Stop())
    drain(gen, ev.Finished)


def test_a_chunk_donates_its_state_between_calls_but_never_the_weights_the_loop_held(monkeypatch):
    """Issue 14: the training call donates (params, state, opt_states) — XLA reuses their
    buffers — but the weights the loop held when the chunk began (the restore point, and
    what a caller may still hold) survive, unchanged, and a chunk of three calls gives the
    losses of three single-call chunks (copying changes nothing computed)."""
    loop = make_loop(optimizer="adam", learning_rate=1e-3, augment=False)
    twin = make_loop(optimizer="adam", learning_rate=1e-3, augment=False)
    fns = loop.fns
    real = fns.train_chunk
    inputs: list = []

    def recording(*args):
        inputs.append(jax.tree.leaves(args[:3]))
        return real(*args)

    for one in (loop, twin):  # to step 34: the next stop (an epoch's end) is 14 steps away
        while one.step < 34:
            list(one.train_chunk(34 - one.step))
    monkeypatch.setattr(fns, "train_chunk", recording)
    held = loop.params
    held_host = [np.asarray(a).copy() for a in jax.tree.leaves(held)]
    steps = 3 * 2  # STEPS_PER_CALL = 2: three calls
    events = list(loop.train_chunk(steps))
    assert len(inputs) == 3, len(inputs)
    for leaves in inputs:  # every call's carry, the first one's copy included, was donated
        assert all(a.is_deleted() for a in leaves)
    assert not any(a.is_deleted() for a in jax.tree.leaves(held))  # the loop's own, kept
    for a, b in zip(jax.tree.leaves(held), held_host, strict=True):
        np.testing.assert_array_equal(np.asarray(a), b)
    monkeypatch.setattr(fns, "train_chunk", real)
    twin_losses = []
    for _ in range(3):
        twin_losses += [e.loss for e in twin.train_chunk(2) if isinstance(e, ev.StepMetrics)]
    (metrics,) = [e for e in events if isinstance(e, ev.StepMetrics)]
    np.testing.assert_allclose(metrics.loss, np.mean(twin_losses), rtol=1e-6)
    for a, b in zip(jax.tree.leaves(loop.params), jax.tree.leaves(twin.params), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_the_start_evaluates_the_validation_set_once(monkeypatch):
    """warm_up evaluates the new weights (it compiles the evaluation); the start's
    EvalMetrics reuses that result instead of a second pass over the same weights. After
    a step the weights are new, and the next evaluation computes."""
    loop = TrainingLoop(TINY, TrainConfig(batch_size=32, eval_every=1, dropout=0.0), small_mnist())
    calls = []
    real = loop.evaluate

    def counting():
        calls.append(loop.step)
        return real()

    monkeypatch.setattr(loop, "evaluate", counting)
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands)
    first, _ = drain(gen, ev.EvalMetrics)
    assert calls == [0]
    assert (first.val_loss, first.val_acc) == real()  # the same numbers as a fresh evaluation
    commands.put(ev.Step())
    second, _ = drain(gen, ev.EvalMetrics)
    assert second.step == 1 and calls == [0, 1]


def test_a_headless_run_copies_no_weights_to_the_host_on_a_timer():
    """convscope train drops the loop's snapshots (each a copy of every weight to the host
    on the training thread): run_to_completion turns the timed ones off; the first and
    the last remain. A clock one second a tick would otherwise snapshot every chunk."""
    from convscope.train.headless import run_to_completion

    ticks = iter(range(10**6))
    loop = TrainingLoop(TINY, TrainConfig(batch_size=32, log_every=2, eval_every=100, dropout=0.0), small_mnist(),
                        max_steps=12, clock=lambda: float(next(ticks)))  # fmt: skip
    seen: list = []
    result = run_to_completion(loop, seen.append)
    assert result.step == 12
    assert [e.step for e in seen if isinstance(e, ev.Snapshot)] == [0, 12]
