"""What the GUI knows about the run, and the one place commands to the loop come from.

Panels and controls get a :class:`Session`: they subscribe to its signals (and to the
event signals of ``session.bridge``) and call its methods; none of them holds a
reference to another widget. The loop's own events stay the source of truth: the
running architecture and configuration are the ones the last ``Started`` /
``HyperParamsChanged`` reported.

A new model — another data set, a reset, a new architecture, a checkpoint — reaches
everyone as one event, :attr:`Session.model_changed`, carrying a :class:`ModelChange`
with the session's new ``generation``. Whatever was computed for an older generation
(an inspection, an evaluation, a landscape) is dropped where it is produced, never
delivered to a panel already showing the new model.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PySide6.QtCore import QObject, Signal

from convscope import events as ev
from convscope.config import LIVE_FIELDS, ArchSpec, TrainConfig, frozen_within
from convscope.ui.worker import TrainingWorkerBridge

if TYPE_CHECKING:
    from convscope.runs.recording import RunRecorder

log = logging.getLogger(__name__)


def change_pairs(event: ev.HyperParamsChanged, before: TrainConfig) -> dict[str, tuple[Any, Any]]:
    """``{field: (old, new)}`` from a HyperParamsChanged, whose ``changes`` may map a
    field to its new value or to an (old, new) pair; ``before`` supplies missing olds."""
    pairs = {}
    for key, value in event.changes.items():
        if isinstance(value, tuple) and len(value) == 2:
            pairs[key] = value
        else:
            pairs[key] = (getattr(before, key, None), value)
    return pairs


@dataclass(frozen=True)
class ModelChange:
    """What the panels now show: ``generation`` counts the models of this session."""

    generation: int
    arch: ArchSpec
    dataset: Any
    new_data: bool  # the data set changed too (new images, perhaps new classes)


class TrainingLoopLike(Protocol):
    def events(self, commands: Any) -> Any: ...


LoopFactory = Callable[[ArchSpec, TrainConfig, Any], TrainingLoopLike]

# Run states shown in the status bar and toolbar.
IDLE, COMPILING, PAUSED, TRAINING, FINISHED, FAILED, FOLLOWING = (
    "idle",
    "compiling",
    "paused",
    "training",
    "finished",
    "failed",
    "following",  # showing a run another process writes (ui/follow.py); no loop runs
)


class Session(QObject):
    """The running model as the GUI sees it; sends commands through the bridge."""

    state_changed = Signal(str)  # one of the run states above
    arch_changed = Signal(object)  # the running ArchSpec: right after every model_changed
    config_changed = Signal(object)  # the running TrainConfig
    candidate_changed = Signal(object, str)  # edited ArchSpec or None, and why it is refused ("" if valid)
    dataset_changed = Signal(object)  # the new data set, before its loop starts compiling
    model_changed = Signal(object)  # ModelChange: a new model (and perhaps data), one event
    frozen_changed = Signal(tuple)  # the frozen layers asked for (TrainConfig.frozen), as they change

    def __init__(
        self,
        dataset: Any,
        arch: ArchSpec,
        config: TrainConfig,
        loop_factory: LoopFactory,
        parent: QObject | None = None,
        recorder: RunRecorder | None = None,
    ) -> None:
        """``recorder``: records every loop's training as runs (convscope.runs.recording),
        on the loop's thread; None records nothing."""
        super().__init__(parent)
        self.recorder = recorder
        self.following: Path | None = None  # the run shown instead of a live loop
        self.dataset = dataset
        self.arch = arch
        self.config = config
        self.candidate: ArchSpec | None = None
        self.candidate_error = ""
        self.state = IDLE
        self.generation = 0  # of the model the panels show; +1 with every model_changed
        # The architecture set_dataset announced for its new loop: that loop's first
        # Started is the model already announced, not another one.
        self._announced: ArchSpec | None = None
        # What the user asked for: the loop's events lag behind the buttons, and a Reset
        # or a compile in between must not forget that the user pressed Train.
        self._want_training = False
        # Hyperparameters sent but not yet confirmed by HyperParamsChanged.
        self._in_flight: dict[str, Any] = {}
        self._loop_factory = loop_factory
        self.bridge = TrainingWorkerBridge(self)
        self.bridge.compiling.connect(lambda _e: self._set_state(COMPILING))
        self.bridge.started.connect(self._on_started)
        self.bridge.hyperparams_changed.connect(self._on_hyperparams_changed)
        self.bridge.paused.connect(self._on_paused)
        self.bridge.stepped.connect(self._on_stepped)
        self.bridge.finished.connect(lambda _e: self._end(FINISHED))
        self.bridge.errored.connect(lambda _e: self._end(FAILED))

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Build the loop on the worker thread and start it (it compiles, then waits)."""
        if self.bridge.is_running():
            return
        if self.following is not None:
            return
        self.config = frozen_within(self.arch, self.config)  # a layer this model lacks is not frozen
        factory, arch, config, data = self._loop_factory, self.arch, self.config, self.dataset
        recorder = self.recorder
        self._set_state(COMPILING)

        def source(commands: Any) -> Any:  # on the worker thread
            loop = factory(arch, config, data)
            return loop.events(commands) if recorder is None else recorder.events(loop, commands)

        self.bridge.start(source)

    def shutdown(self, timeout_s: float = 1.0) -> bool:
        """Stop the loop and wait up to ``timeout_s``; True if it ended in time."""
        return self.bridge.stop(timeout_s)

    def finish_recording(self, timeout_s: float) -> bool:
        """After :meth:`shutdown`: wait up to ``timeout_s`` for the loop's thread to end
        its run (status "stopped", final and latest checkpoints); a loop that cannot
        (inside XLA) has its run ended from here with the checkpoints it has."""
        return True if self.recorder is None else self.recorder.wait(timeout_s)

    # ----------------------------------------------------------------- following
    def begin_follow(self, run_dir: Path) -> None:
        """Show ``run_dir`` (written by another process) instead of a live loop: the loop
        stops (its run ends), training commands do nothing until :meth:`end_follow`."""
        if self.following is None:
            self._stop_loop()
        self.following = Path(run_dir)
        self._want_training = False
        self._set_state(FOLLOWING)

    def end_follow(self) -> None:
        """Back to a live loop (a new model, a new run) on the current data set."""
        if self.following is None:
            return
        self.following = None
        self.state = IDLE  # so that start() begins anew
        self.start()

    # ----------------------------------------------------------------- commands
    @property
    def is_training(self) -> bool:
        return self.state == TRAINING

    def train(self) -> None:
        if self.state in (PAUSED, COMPILING):
            self.bridge.send(ev.Resume())
            self._want_training = True
            if self.state == PAUSED:
                self._set_state(TRAINING)

    def pause(self) -> None:
        if self._want_training:
            self.bridge.send(ev.Pause())
            self._want_training = False
            if self.state == TRAINING:
                self._set_state(PAUSED)

    def toggle_training(self) -> None:
        self.pause() if self.is_training else self.train()

    def step(self) -> None:
        """One batch, then stay paused."""
        if self.state == TRAINING:
            self.pause()
        if self.state in (PAUSED, COMPILING):
            self.bridge.send(ev.Step())

    def reset(self, arch: ArchSpec | None = None) -> None:
        """Re-initialise the model (with a new architecture if given); it compiles.

        After the loop failed or stopped, this starts a fresh loop instead.
        """
        if self.state in (IDLE, FOLLOWING):
            return
        if self.state in (FINISHED, FAILED):
            self.bridge.stop(timeout_s=0.5)
            if arch is not None:
                self.arch = arch
            self.start()
            return
        self.bridge.send(ev.Reset(arch=arch))
        if self._want_training:  # a fresh model carries on training, as the old one did
            self.bridge.send(ev.Resume())
        self._set_state(COMPILING)

    def set_dataset(self, dataset: Any) -> str:
        """Train on ``dataset`` from now on: the architecture keeps its layers but takes the
        new image shape and class count (the default layers if those no longer fit), and a
        fresh loop starts on it, training if training was on. Returns why the switch was
        refused (nothing changed then), or ""."""
        arch = arch_for_dataset(self.arch, dataset)
        if isinstance(arch, str):
            return arch
        if self.following is not None:  # a new data set means training on it: stop following
            self.following = None
            self.state = PAUSED
        was_training, started = self._want_training, self.state != IDLE
        if started:
            self._stop_loop()
        self.dataset, self.arch = dataset, arch
        self.set_candidate(None)
        self._announced = arch if started else None
        self._change_model(new_data=True)
        self.dataset_changed.emit(dataset)
        if started:
            self._want_training = False
            self.state = IDLE  # so that start() begins anew
            self.start()
            if was_training:
                self.train()
        return ""

    def _stop_loop(self) -> None:
        """Stop the loop; the bridge drops whatever it still says (a loop busy compiling
        ends later on its own, and its late events must not be taken for the new loop's)."""
        self.bridge.stop(timeout_s=0.5)

    def set_hyperparams(self, **changes: Any) -> str:
        """Send live hyperparameters to the loop; returns why they are refused, or ""."""
        if self.following is not None:
            return f"following {self.following.name}: its hyperparameters are its writer's"
        unknown = set(changes) - set(LIVE_FIELDS)
        if unknown:
            return f"not a live hyperparameter: {', '.join(sorted(unknown))}"
        try:
            config = self.config.replace(**changes)
        except ValueError as exc:
            return str(exc)
        # Remember what was asked so the next change validates against it, even before
        # the loop confirms with HyperParamsChanged.
        frozen_before, self.config = self.config.frozen, config
        self._in_flight.update(changes)
        self.bridge.send(ev.SetHyperParams(changes=dict(changes)))
        if config.frozen != frozen_before:
            self.frozen_changed.emit(config.frozen)
        return ""

    def save(self, path: str) -> None:
        self.bridge.send(ev.Save(path))

    def load(self, path: str) -> None:
        self.bridge.send(ev.Load(path))

    def start_from(self, path: str) -> None:
        """Transfer learning: a fresh model on this data set from another set's checkpoint."""
        self.bridge.send(ev.StartFrom(path))

    def request_snapshot(self) -> None:
        self.bridge.send(ev.RequestSnapshot())

    # ----------------------------------------------------------------- candidate
    def set_candidate(self, spec: ArchSpec | None, error: str = "") -> None:
        """The architecture being edited (None: nothing pending), or why it is invalid."""
        if spec == self.arch:
            spec = None
        if spec == self.candidate and error == self.candidate_error:
            return
        self.candidate, self.candidate_error = spec, error
        self.candidate_changed.emit(spec, error)

    # ----------------------------------------------------------------- events
    def _change_model(self, new_data: bool) -> None:
        """The one announcement of a new model; ``arch_changed`` follows at once, for
        those that only show the architecture."""
        self.generation += 1
        log.debug("model generation %d (new data: %s)", self.generation, new_data)
        self.model_changed.emit(ModelChange(self.generation, self.arch, self.dataset, new_data))
        self.arch_changed.emit(self.arch)

    def _on_started(self, event: ev.Started) -> None:
        announced, self._announced = self._announced, None
        self.arch, self.config = event.arch, event.config
        self._in_flight.clear()
        if self.following is None:
            self._set_state(TRAINING if self._want_training else PAUSED)
        if event.arch != announced:  # else set_dataset already told everyone
            self._change_model(new_data=False)
        self.config_changed.emit(event.config)
        self.frozen_changed.emit(event.config.frozen)
        if self.candidate == event.arch:
            self.set_candidate(None)

    def _on_hyperparams_changed(self, event: ev.HyperParamsChanged) -> None:
        # Not re-emitted as config_changed: the controls already show what was asked,
        # and snapping a slider back to a value confirmed mid-drag would make it jitter.
        for key, (_old, value) in change_pairs(event, self.config).items():
            if key in self._in_flight and self._in_flight[key] == value:
                del self._in_flight[key]
        try:
            self.config = event.config.replace(**self._in_flight)
        except ValueError:
            self.config = event.config

    def _on_stepped(self, _event: ev.StepMetrics) -> None:
        if self.state == COMPILING:  # a new batch size compiled; no Started follows
            self._set_state(TRAINING if self._want_training else PAUSED)

    def _on_paused(self, event: ev.Paused) -> None:
        # A reason means the loop paused on its own (e.g. a non-finite loss); without
        # one it answers our Pause, which a later Train may already have overridden.
        if event.reason or not self._want_training:
            self._want_training = False
            self._set_state(PAUSED)

    def _end(self, state: str) -> None:
        self._want_training = False
        self._set_state(state)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            log.debug("run state %s → %s", self.state, state)
            self.state = state
            self.state_changed.emit(state)


def arch_for_dataset(arch: ArchSpec, dataset: Any) -> ArchSpec | str:
    """``arch`` reshaped for ``dataset`` (its input shape and class count); the default
    layers when ``arch``'s no longer fit; or a message saying why neither does."""
    shape = tuple(int(v) for v in dataset.image_shape)
    classes = int(dataset.num_classes)
    try:
        return dataclasses.replace(arch, input_shape=shape, num_classes=classes)
    except ValueError:
        pass
    try:
        return ArchSpec(input_shape=shape, num_classes=classes)
    except ValueError as exc:
        return f"no network fits {getattr(dataset, 'name', 'the data set')}: {exc}"
