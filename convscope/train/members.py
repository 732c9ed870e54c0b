"""Training an ensemble's members (issue 16): the same model and settings with seeds
0 … N−1, one after another, each recorded as a run (``runs/writer.py``), as
``convscope train`` would record it. Qt-free; the Ensemble panel runs it on a worker
thread and evaluates the runs when they are done.

Only the seed differs between members: the initial weights, the dropout and
augmentation streams and the order of the batches. The validation split is the data
set's own, shared by every member, so their ensemble is evaluated on images none of
them trained on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class MembersProgress:
    member: int  # 0-based
    members: int
    step: int
    total_steps: int


def train_members(arch: Any, config: Any, dataset: Any, n: int, epochs: float, root: Path, *,
                  stop: threading.Event | None = None,
                  progress: Callable[[MembersProgress], None] | None = None) -> list[Path]:
    """Train ``n`` members for ``epochs`` each under ``root``; their run directories (only
    those finished when ``stop`` is set)."""
    from convscope import events as ev
    from convscope.runs import RunWriter
    from convscope.train.headless import run_to_completion
    from convscope.train.loop import TrainingLoop

    if not 2 <= n <= 20:
        raise ValueError(f"an ensemble has 2 to 20 members, not {n}")
    if not 0 < epochs <= 1000:
        raise ValueError(f"epochs must be in (0, 1000], not {epochs:g}")
    steps_per_epoch = max(len(dataset.y_train) // max(min(config.batch_size, len(dataset.y_train)), 1), 1)
    total = int(round(epochs * steps_per_epoch))
    done: list[Path] = []
    for i in range(n):
        if stop is not None and stop.is_set():
            break
        cfg = config.replace(seed=i)
        loop = TrainingLoop(arch, cfg, dataset, max_epochs=epochs)
        writer = RunWriter.create(root, arch=arch, config=cfg, dataset=dataset, name=f"member-seed{i}",
                                  source="ensemble", budget={"epochs": epochs})  # fmt: skip

        def on_event(e: Any, i: int = i, writer: Any = writer, loop: Any = loop) -> None:
            writer.observe(e, loop)
            if progress is not None and isinstance(e, ev.StepMetrics):
                progress(MembersProgress(i, n, e.step, total))

        try:
            result = run_to_completion(loop, on_event, stop)
        except BaseException:
            writer.finish("interrupted", loop)
            raise
        status = {"done": "finished", "diverged": "diverged", "interrupted": "interrupted"}[result.reason]
        writer.finish(status, loop)
        if writer.failure:
            raise OSError(writer.failure)
        if status == "finished":
            done.append(writer.dir)
    return done
