"""Driving a TrainingLoop without a GUI: ``convscope train`` and scripts."""

from __future__ import annotations

import queue
from collections.abc import Callable

from convscope import events as ev
from convscope.train.loop import NON_FINITE, TrainingLoop


def run_to_completion(loop: TrainingLoop, on_event: Callable[[ev.Event], None] | None = None) -> list[ev.Event]:
    """Drive a loop with no commands until its step/epoch budget is reached (headless).

    A pause the loop takes by itself (divergence: the last good weights restored) would
    wait for a Resume nobody can send, so it ends the run: the loop is stopped and the
    events end with ``Finished(reason="stopped")`` after the ``Paused`` that says why."""
    if loop.max_steps is None and loop.max_epochs is None:
        raise ValueError("a headless run needs max_steps or max_epochs")
    commands: queue.Queue = queue.Queue()
    seen: list[ev.Event] = []
    for event in loop.events(commands, start_paused=False):
        if on_event is not None:
            on_event(event)
        seen.append(event)
        if isinstance(event, ev.Paused):
            commands.put(ev.Stop())
    return seen


def diverged(events: list[ev.Event]) -> bool:
    """Whether a headless run ended because its loss or weights became non-finite."""
    return any(isinstance(e, ev.Paused) and e.reason == NON_FINITE for e in events)
