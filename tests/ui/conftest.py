"""GUI test fixtures: an offscreen Qt, a FakeLoop with the engine's contract, windows.

The FakeLoop speaks the same ``events(commands)`` generator protocol as
``convscope.train.loop.TrainingLoop`` (Compiling → Started → Snapshot → Paused, then
commands between steps) without JAX, so most GUI tests run in milliseconds. It records
every command it receives, so a test can assert that a control reached the loop.
"""

from __future__ import annotations

import gc
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication exists

import queue
import threading
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from convscope import events as ev
from convscope.config import LIVE_FIELDS, ArchSpec, TrainConfig
from convscope.shapes import total_params

FAKE_DATASET = SimpleNamespace(
    name="fake digits",
    image_shape=(28, 28, 1),
    num_classes=10,
    class_names=tuple(str(i) for i in range(10)),
    x_train=np.zeros((64, 28, 28, 1), np.uint8),
    y_train=np.zeros(64, np.int32),
    x_val=np.zeros((16, 28, 28, 1), np.uint8),
    y_val=np.zeros(16, np.int32),
    summary=lambda: "fake digits: 64 train / 16 val",
)


class FakeLoop:
    """A stand-in for TrainingLoop: same generator contract, instant "training".

    ``block_s`` makes the first compile ignore commands for that long (like XLA
    holding the thread); ``fail_on`` raises when that command type arrives; a learning
    rate ≥ ``nan_lr`` makes the next step "non-finite", as the real loop reports it.
    """

    def __init__(
        self,
        arch: ArchSpec,
        config: TrainConfig,
        dataset: Any,
        *,
        step_s: float = 0.002,
        eval_every: int = 5,
        block_s: float = 0.0,
        fail_on: type | None = None,
        nan_lr: float = 1.0,
    ) -> None:
        self.arch, self.config, self.dataset = arch, config, dataset
        self.step_s, self.eval_every, self.block_s = step_s, eval_every, block_s
        self.fail_on, self.nan_lr = fail_on, nan_lr
        self.step = 0
        self.running = False
        self.commands_seen: list[ev.Command] = []
        self.events_sent: list[Any] = []
        self.lock = threading.Lock()

    # ------------------------------------------------------------ test helpers
    def seen(self, kind: type) -> list[Any]:
        with self.lock:
            return [c for c in self.commands_seen if isinstance(c, kind)]

    def hyperparams_seen(self) -> dict[str, Any]:
        """The last value the loop received for each live hyperparameter."""
        merged: dict[str, Any] = {}
        for command in self.seen(ev.SetHyperParams):
            merged.update(command.changes)
        return merged

    # ------------------------------------------------------------ the contract
    def _started(self) -> ev.Started:
        return ev.Started(self.arch, self.config, "FakeDevice", total_params(self.arch), 64, 16,
                          self.step, self.step / 10)  # where the model starts: 0, or the "checkpoint's" 42

    def _snapshot(self) -> ev.Snapshot:
        return ev.Snapshot(self.step, self.arch, {}, {}, np.zeros((2, 1), np.float32))

    def events(self, commands: queue.Queue) -> Iterator[Any]:
        for event in self._events(commands):
            with self.lock:
                self.events_sent.append(event)
            yield event

    def _events(self, commands: queue.Queue) -> Iterator[Any]:
        yield ev.Compiling("model")
        if self.block_s:
            time.sleep(self.block_s)
        yield self._started()
        yield self._snapshot()
        yield ev.Paused(self.step)
        while True:
            step_once = False
            try:
                cmd = commands.get_nowait() if self.running else commands.get(timeout=0.01)
            except queue.Empty:
                cmd = None
            while cmd is not None:
                with self.lock:
                    self.commands_seen.append(cmd)
                if self.fail_on is not None and isinstance(cmd, self.fail_on):
                    raise RuntimeError(f"fake failure on {type(cmd).__name__}")
                if isinstance(cmd, ev.Stop):
                    yield ev.Finished(self.step, "stopped")
                    return
                if isinstance(cmd, ev.Step):
                    step_once, self.running = True, False
                else:
                    yield from self._handle(cmd)
                try:
                    cmd = commands.get_nowait()
                except queue.Empty:
                    cmd = None
            if self.running or step_once:
                yield from self._train_step()
                if step_once:
                    yield ev.Paused(self.step)

    def _train_step(self) -> Iterator[Any]:
        time.sleep(self.step_s)
        if self.config.learning_rate >= self.nan_lr:
            self.running = False
            yield ev.Notice("error", "The loss became non-finite: the learning rate is too high; lower it.")
            yield ev.Paused(self.step, "non-finite loss")
            return
        self.step += 1
        loss = 2.3 / (1 + 0.05 * self.step)
        yield ev.StepMetrics(
            self.step, self.step / 10, loss, 1 - loss / 2.5, self.config.learning_rate, 1000.0, 0.1
        )
        if self.step % self.eval_every == 0:
            yield ev.EvalMetrics(self.step, self.step / 10, loss * 1.1, 1 - loss / 2.4, 0.1)

    def _handle(self, cmd: Any) -> Iterator[Any]:
        if isinstance(cmd, ev.Pause):
            if self.running:
                self.running = False
                yield ev.Paused(self.step)
        elif isinstance(cmd, ev.Resume):
            self.running = True
        elif isinstance(cmd, ev.SetHyperParams):
            assert set(cmd.changes) <= set(LIVE_FIELDS), cmd.changes
            new = self.config.replace(**cmd.changes)
            diff = {
                k: (getattr(self.config, k), getattr(new, k))
                for k in cmd.changes
                if getattr(self.config, k) != getattr(new, k)
            }
            self.config = new
            if diff:
                yield ev.HyperParamsChanged(self.step, diff, new)
        elif isinstance(cmd, ev.Reset):
            was_running = self.running
            yield ev.Compiling("model")
            self.arch = cmd.arch or self.arch
            self.step = 0
            yield self._started()
            yield self._snapshot()
            self.running = was_running
            if not was_running:
                yield ev.Paused(self.step, "reset")
        elif isinstance(cmd, ev.Save):
            yield ev.Saved(cmd.path, self.step)
        elif isinstance(cmd, ev.Load):
            self.running = False
            self.config = self.config.replace(learning_rate=0.05, optimizer="sgd")
            self.step = 42
            yield self._started()
            yield self._snapshot()
            yield ev.Notice("info", f"Opened checkpoint {cmd.path} (step 42)")
            yield ev.Paused(self.step, "checkpoint opened")
        elif isinstance(cmd, ev.RequestSnapshot):
            yield self._snapshot()


@pytest.fixture(autouse=True, scope="session")
def _convscope_look(qapp: Any) -> None:
    from convscope.ui.app import configure_app

    configure_app(qapp)


@pytest.fixture(autouse=True, scope="session")
def _no_collection_off_the_gui_thread() -> Iterator[None]:
    """As in the app (ui/app.py): Python's cycle collector runs in whichever thread
    allocates, and a probe or training thread that collects a finished test's widgets
    destroys Qt objects off the GUI thread — seen as a deadlock (the GUI thread in Qt,
    a probe thread in XLA) and as rare segfaults. So collect only here, between tests."""
    gc.disable()
    yield
    gc.enable()


_FULL_COLLECT_EVERY = 25
_collections = [0]


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread(qapp: Any) -> Iterator[None]:
    """The youngest generation after each test — with the collector off, everything the
    test allocated is still in it, its widgets' cycles included; a full collection of a
    worker's whole heap took ~1 s per test late in a run — and all of them every
    ``_FULL_COLLECT_EVERY`` tests, so garbage that aged in an older generation goes too.
    What outlived a full collection is frozen: module-level caches, compiled programs;
    garbage among it later stays (memory only, in a test worker)."""
    yield
    delete_closed_widgets()
    _collections[0] += 1
    if _collections[0] % _FULL_COLLECT_EVERY:
        gc.collect(0)
    else:  # then set what survived aside for good (gc.freeze): the next full collection
        gc.collect(2)  # looks at what came since, not at the whole heap again
        gc.freeze()  # (0.4-0.9 s each late in a run, 0.05-0.35 s this way)


def delete_closed_widgets() -> None:
    """Delete the widgets pytest-qt closed and handed to ``deleteLater``. Outside an event
    loop their DeferredDelete events wait for one that never comes (``processEvents`` does
    not deliver them), so every window of a worker's earlier tests stayed alive: ~2,300
    widgets each, 5,500 after five windows, and all of them restyled by each theme change
    (app.setStyleSheet), looked at by every ``allWidgets`` and kept in memory."""
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication
    from shiboken6 import createdByPython

    for _ in range(3):  # a deleted widget's children may post their own
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # pyqtgraph gives each plot's context menus and their forms no parent widget (a plot
    # is a graphics item), and the plot's Python side lives on in reference cycles through
    # Qt's connections: ~200 widgets a window outlived it, 2,000 after ten windows, each
    # theme change slower by ~0.03 s per earlier window. No test keeps a hidden window of
    # its own past its end; Qt's own (a tooltip) were not made by Python.
    for w in QApplication.topLevelWidgets():
        if w.parentWidget() is None and not w.isVisible() and createdByPython(w):
            w.deleteLater()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def session(qtbot: Any) -> Any:
    """A Session whose loop is never started: tests emit its bridge's signals directly."""
    from convscope.ui.session import Session

    return Session(FAKE_DATASET, ArchSpec(), TrainConfig(), loop_factory=FakeLoop)


@pytest.fixture
def loops() -> list[FakeLoop]:
    """Every FakeLoop the windows of this test created, in order."""
    return []


@pytest.fixture
def make_window(qtbot: Any, loops: list[FakeLoop], request: Any) -> Iterator[Callable[..., Any]]:
    """``make_window(arch=None, config=None, wait=True, panels=None, **fake_loop_options)``.

    ``panels``: the panel classes of the window (default: the test module's
    ``WINDOW_PANELS``, else every panel). A module that tests one control or panel names
    what it needs: a window of every panel takes ~0.9 s to build and show, most of such a
    test's time; the window as users get it is tested whole elsewhere (test_main_window,
    test_layout, the real-engine tests)."""
    from convscope.ui.main_window import MainWindow

    windows = []
    module_panels = getattr(request.module, "WINDOW_PANELS", None)

    def make(
        arch: ArchSpec | None = None, config: TrainConfig | None = None, wait: bool = True,
        panels: list[type] | None = None, **options: Any,
    ):
        def factory(a: ArchSpec, c: TrainConfig, d: Any) -> FakeLoop:
            loop = FakeLoop(a, c, d, **options)
            loops.append(loop)
            return loop

        window = MainWindow(FAKE_DATASET, arch or ArchSpec(), config or TrainConfig(), loop_factory=factory,
                            panels=panels or module_panels)
        qtbot.addWidget(window)
        window.show()
        windows.append(window)
        if wait:
            qtbot.waitUntil(lambda: window.session.state == "paused", timeout=5000)
        return window

    yield make
    for window in windows:
        window.session.shutdown(timeout_s=2.0)


@pytest.fixture
def window(make_window: Callable[..., Any]) -> Any:
    return make_window()


@pytest.fixture
def loop(window: Any, loops: list[FakeLoop]) -> FakeLoop:
    return loops[-1]
