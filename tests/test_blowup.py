"""A blow-up that stays finite is a warning (convscope.train.blowup): the rule on
hand-made event sequences, and on a real run (Adam at learning rate 1 on a trained tiny
model), where normal training before it never warns."""

from __future__ import annotations

import queue

from convscope import events as ev
from convscope.config import ArchSpec, TrainConfig
from convscope.train.blowup import BlowUpWatch


def _eval(step: int, acc: float) -> ev.EvalMetrics:
    return ev.EvalMetrics(step, 0.0, 1.0, acc, 0.0)


def _loss(step: int, loss: float) -> ev.StepMetrics:
    return ev.StepMetrics(step, 0.0, loss, 0.5, 1e-3, 100.0, 0.0)


def _warnings(watch: BlowUpWatch, events: list) -> list[str]:
    return [n.message for e in events if (n := watch.observe(e)) is not None]


def test_an_accuracy_collapse_warns_once_and_again_after_a_recovery() -> None:
    accs = [0.1, 0.6, 0.97, 0.95, 0.90, 0.10, 0.12, 0.11, 0.96, 0.50]
    got = _warnings(BlowUpWatch(10), [_eval(100 * i, a) for i, a in enumerate(accs)])
    # 97% → 90% is noise; 97% → 10% has lost more than half of the 87 points above chance;
    # 12% and 11% are the same collapse; back at 96%, a fall to 50% (≤ 10% + 86/2 %) is a new one.
    assert len(got) == 2
    assert got[0].startswith("Validation accuracy fell from 97% to 10% at step 500 (chance is 10%)")
    assert got[1].startswith("Validation accuracy fell from 97% to 50% at step 900")


def test_a_model_near_chance_never_warns_of_a_collapse() -> None:
    # Best 35% on ten classes: 25 points above chance, under the 30 needed.
    assert _warnings(BlowUpWatch(10), [_eval(i, a) for i, a in enumerate([0.1, 0.35, 0.1, 0.05])]) == []
    # Two classes: chance 50%, best 75% is 25 points above it.
    assert _warnings(BlowUpWatch(2), [_eval(i, a) for i, a in enumerate([0.5, 0.75, 0.5])]) == []


def test_a_loss_explosion_warns_and_names_the_last_change() -> None:
    config = TrainConfig(optimizer="momentum", momentum=0.99)
    events = [_loss(10, 2.3), _loss(20, 0.4), _loss(30, 0.05),
              ev.HyperParamsChanged(30, {"momentum": (0.9, 0.99)}, config),
              _loss(40, 4.0),  # 80× the lowest: not yet
              _loss(50, 1e12), _loss(60, 3e11)]
    got = _warnings(BlowUpWatch(10), events)
    assert got == ["The training loss jumped to 1e+12 at step 50 (lowest so far 0.05): training is blowing up "
                   "without a NaN (after momentum 0.9 → 0.99 at step 30). Pause and lower the learning rate, "
                   "or open a checkpoint saved before."]


def test_early_training_and_a_new_model_never_warn() -> None:
    # A fresh model's first losses rise and fall around ln 10 ≈ 2.3: under 10 ln 10.
    watch = BlowUpWatch(10)
    assert _warnings(watch, [_loss(i, v) for i, v in enumerate([2.3, 2.0, 2.6, 3.1, 1.2])]) == []
    assert _warnings(watch, [_eval(1, 0.9)]) == []
    started = ev.Started(ArchSpec(), TrainConfig(), "CPU", 1, 1, 1)
    # A reset (Started) forgets the 90% model: the new one's 10% is where it starts.
    assert _warnings(watch, [started, _eval(0, 0.1), _loss(1, 2.3)]) == []


def test_adam_at_learning_rate_1_on_a_trained_model_warns_on_a_real_run() -> None:
    from test_train_loop import drain, make_loop

    loop = make_loop(eval_every=20, learning_rate=3e-3)
    commands: queue.Queue = queue.Queue()
    gen = loop.events(commands, start_paused=False)
    before: list = []
    while loop.step < 160:
        before.append(next(gen))
    assert not [e for e in before if isinstance(e, ev.Notice)]  # normal training: no warning
    best = max(e.val_acc for e in before if isinstance(e, ev.EvalMetrics))
    assert best > 0.45, best  # learned well above chance (10%)
    commands.put(ev.SetHyperParams({"learning_rate": 1.0}))
    notice, seen = drain(gen, ev.Notice, limit=500)
    assert notice.level == "warning" and "training is blowing up without a NaN" in notice.message
    assert "after learning_rate 0.003 → 1 at step" in notice.message
    assert loop.step <= 160 + 60 and loop.running  # warned within a few evaluations; not paused
    commands.put(ev.Stop())
    drain(gen, ev.Finished)
