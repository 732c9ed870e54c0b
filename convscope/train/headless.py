"""Driving a TrainingLoop without a GUI: ``convscope train`` and scripts."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

from convscope import events as ev
from convscope.train.loop import NON_FINITE, TrainingLoop


@dataclass(frozen=True)
class HeadlessResult:
    step: int
    reason: str  # "done" (budget reached), "diverged", "interrupted" (``stop`` was set)

    @property
    def diverged(self) -> bool:
        return self.reason == "diverged"


def run_to_completion(
    loop: TrainingLoop,
    on_event: Callable[[ev.Event], None] | None = None,
    stop: threading.Event | None = None,
) -> HeadlessResult:
    """Drive a loop with no commands until its step/epoch budget is reached (headless).

    Each event goes to ``on_event`` as it happens and is not kept (a long run's memory
    stays flat: snapshots of the weights are dropped at once). A pause the loop takes by
    itself (divergence: the last good weights restored) would wait for a Resume nobody
    can send, so it ends the run. Setting ``stop`` (a signal handler does) ends it between
    two chunks of steps, with the loop's state consistent, as "interrupted"."""
    if loop.max_steps is None and loop.max_epochs is None:
        raise ValueError("a headless run needs max_steps or max_epochs")
    # Nobody here looks at the weights between steps: no timed snapshots (each is a copy
    # of every weight to the host on the training thread); the run writer takes its own.
    loop.snapshot_interval_s = math.inf
    commands: queue.Queue = queue.Queue()
    reason = "done"
    for event in loop.events(commands, start_paused=False):
        if on_event is not None:
            on_event(event)
        if isinstance(event, ev.Paused):
            if event.reason == NON_FINITE:
                reason = "diverged"
            commands.put(ev.Stop())
        elif stop is not None and stop.is_set() and reason == "done":
            reason = "interrupted"
            commands.put(ev.Stop())
    return HeadlessResult(loop.step, reason)
