"""The main window: toolbar (Train / Pause / Step / Reset), dockable panels, status bar.

Every panel is a QWidget class with a ``title``, a default dock ``area`` ("left",
"right", "bottom", "top"), optionally ``tab_with`` (the title of a panel to share a
tabbed dock with) or ``split_with`` ((title, "right" | "below"): a dock of its own
beside that panel's), and an ``__init__(session)``. Adding one is one line in
:data:`PANELS`; the window wraps it in a QDockWidget the user can move, float or close
(View menu brings it back).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QStyle,
    QToolBar,
    QWidget,
)

from convscope import events as ev
from convscope.config import ArchSpec, TrainConfig
from convscope.data import LoadOptions
from convscope.runs.recording import RunRecorder
from convscope.ui import dock_layout, help_menu, notices, preferences, recent, timeline, transfer_actions
from convscope.ui import session as run
from convscope.ui.arch_editor import ArchitectureEditor
from convscope.ui.closing import stop_everything
from convscope.ui.controls import HyperparameterControls
from convscope.ui.dock_layout import AREAS
from convscope.ui.inspection import IMAGE_FILTER, InspectionController, controller_for
from convscope.ui.layout_memory import WindowLayout
from convscope.ui.one_line_label import OneLineLabel
from convscope.ui.panels.activations import ActivationsPanel
from convscope.ui.panels.architecture import ArchitecturePanel
from convscope.ui.panels.dataset import DatasetPanel, ask_and_open, loader_for
from convscope.ui.panels.deepvis import DeepVisPanel
from convscope.ui.panels.ensemble import EnsemblePanel
from convscope.ui.panels.evaluation import EvaluationPanel
from convscope.ui.panels.evolution import EvolutionPanel
from convscope.ui.panels.feature_maps import FeatureMapsPanel
from convscope.ui.panels.filters import FiltersPanel
from convscope.ui.panels.hparams_view import HParamsPanel
from convscope.ui.panels.inspect_image import ImagePanel
from convscope.ui.panels.invariance import InvariancePanel
from convscope.ui.panels.landscape import LandscapePanel
from convscope.ui.panels.playground import KernelPlaygroundPanel
from convscope.ui.panels.prediction import PredictionPanel
from convscope.ui.panels.runs_panel import RunsPanel
from convscope.ui.panels.training import TrainingPanel
from convscope.ui.run_actions import RunActions
from convscope.ui.session import LoopFactory, Session

log = logging.getLogger(__name__)

# The docks, in the order they are added. A new panel: append its class here.
PANELS: list[type[QWidget]] = [
    HyperparameterControls,
    ArchitectureEditor,
    TrainingPanel,
    ImagePanel,  # split off Training before the tabs join it (Qt cannot split a tab)
    PredictionPanel,
    ArchitecturePanel,
    FeatureMapsPanel,
    FiltersPanel,
    ActivationsPanel,
    LandscapePanel,
    KernelPlaygroundPanel,
    DeepVisPanel,
    DatasetPanel,
    EvaluationPanel,
    RunsPanel,  # the runs under the runs root, tabbed under Training
    HParamsPanel,  # their hyperparameters, a tab beside Training (one shared selection)
    InvariancePanel,  # the inspected image moved: per-layer feature distance, p(class)
    EvolutionPanel,  # a layer's channels over the run's snapshots (patch, synthetic input, filter)
    EnsemblePanel,  # several runs averaged, beside each of them; where they disagree
]

# Placements that override a panel's own ``area`` when the panel named is present:
# with the image column beside Training, the layer table goes under Training so that
# the column can take the full height.
PLACEMENT = {"Architecture": ("Training", "below")}
CHECKPOINT_FILTER = "ConvScope checkpoints (*.npz);;All files (*)"
STATE_TEXT = {
    run.IDLE: "starting…",
    run.COMPILING: "compiling…",
    run.PAUSED: "paused",
    run.TRAINING: "training",
    run.FINISHED: "stopped",
    run.FAILED: "failed",
    run.FOLLOWING: "following",
}
RECORD_WAIT_S = 0.7  # at close: the longest wait for the loop's thread to end its run


class MainWindow(QMainWindow):
    """ConvScope's window around one :class:`Session` (one model, one training loop)."""

    def __init__(
        self,
        dataset: Any,
        arch: ArchSpec,
        config: TrainConfig,
        loop_factory: LoopFactory | None = None,
        panels: list[type[QWidget]] | None = None,
        load_options: LoadOptions | None = None,
        runs_root: str | Path | None = None,
        settings: QSettings | None = None,
    ) -> None:
        """``load_options``: the validation split and image-folder image size that File ▸
        Open Data Set and the Data panel start with (default: ``LoadOptions()``).
        ``runs_root``: every training is recorded as a run directory there (None: not
        recorded); ``settings``: where File ▸ Runs Folder… keeps its choice."""
        super().__init__()
        if loop_factory is None:  # on as many devices as the preference allows (read at each start)
            loop_factory = preferences.loop_factory(lambda: self.preferences.device_limit)
        name = getattr(dataset, "name", "data set")
        self.setWindowTitle(f"ConvScope — {name}")
        recorder = RunRecorder(runs_root) if runs_root is not None else None
        self.session = Session(dataset, arch, config, loop_factory, parent=self, recorder=recorder)
        if load_options is not None:  # before the panels, which show them
            loader_for(self.session).options = load_options
        self.docks: dict[str, QDockWidget] = {}
        self._tab_bars_check_queued = False
        self.panels: dict[str, QWidget] = {}
        self.last_error = ""
        self._started_engine = False
        self._arranged = False

        self.setDockNestingEnabled(True)
        self.setCorner(Qt.Corner.BottomLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.setCorner(Qt.Corner.TopLeftCorner, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._build_actions()
        self._build_toolbar()
        self._build_menus()
        self._build_status_bar()
        for panel_class in PANELS if panels is None else panels:
            self.add_panel(panel_class(self.session))
        self.runs = RunActions(self, recorder, settings)  # after the panels: it draws after their clear
        runs_panel = self.panels.get(RunsPanel.title)
        if runs_panel is not None and runs_panel.root != self.runs.root:  # e.g. the preference, not recording
            runs_panel.set_root(self.runs.root)
        for action in self.runs.actions:
            self.file_menu.insertAction(self.quit_action, action)
        self.file_menu.insertSeparator(self.quit_action)
        timeline.install(self)  # the scrubber under the toolbar (before the default layout is taken)
        self.window_layout = WindowLayout(self)  # the default arrangement, Reset Layout, memory
        self.recent = recent.install(self, settings)  # File ▸ Open Recent, the last data set
        self.preferences = preferences.install(self, settings)  # File ▸ Preferences…
        self.transfer = transfer_actions.install(self)  # File ▸ Start From Checkpoint…
        help_menu.install(self)  # Help menu, Try this, and the keys of every action
        self.setAcceptDrops(True)  # drop an image file anywhere on the window to inspect it
        inspection = self.session.findChild(InspectionController)
        if inspection is not None:
            inspection.failed.connect(
                lambda message: self.show_notice("warning", f"Inspection: {message}", source="inspection")
            )
            inspection.recovered.connect(lambda: self.clear_notice("inspection"))

        bridge = self.session.bridge
        self.session.state_changed.connect(self._on_state)
        bridge.started.connect(self._on_started)
        bridge.stepped.connect(self._on_step)
        bridge.noticed.connect(self._on_notice)
        bridge.saved.connect(
            lambda e: self.show_notice("info", f"Saved checkpoint {e.path} (step {e.step}).")
        )
        bridge.compiling.connect(lambda e: self.state_label.setToolTip(f"compiling {e.what}"))
        bridge.errored.connect(self._on_error)
        loader = loader_for(self.session)  # File ▸ Open Data Set and the Data panel load through it
        loader.failed.connect(lambda message: self.show_error("Cannot open the data set", message))
        loader.loaded.connect(self._on_dataset)
        self._on_state(self.session.state)

    # ----------------------------------------------------------------- panels
    def add_panel(self, panel: QWidget) -> QDockWidget:
        """Wrap ``panel`` in a dock at its ``area`` (tabbed with ``tab_with`` if given)."""
        title = getattr(panel, "title", type(panel).__name__)
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock:{title}")
        dock.setWidget(dock_layout.scrollable(panel))
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(AREAS[getattr(panel, "area", "right")], dock)
        tab_with = getattr(panel, "tab_with", None)
        beside, where = PLACEMENT.get(title) or getattr(panel, "split_with", (None, ""))
        if beside in self.docks:
            orientation = Qt.Orientation.Horizontal if where == "right" else Qt.Orientation.Vertical
            self.splitDockWidget(self.docks[beside], dock, orientation)
        elif tab_with in self.docks:
            self.tabifyDockWidget(self.docks[tab_with], dock)
            self.docks[tab_with].raise_()
        self.docks[title] = dock
        self.panels[title] = panel
        dock.visibilityChanged.connect(self._soon_hide_stale_tab_bars)
        self.view_menu.addAction(dock.toggleViewAction())
        return dock

    def _soon_hide_stale_tab_bars(self, _visible: bool = True) -> None:
        """Once after Qt's relayout, however many docks changed visibility before it."""
        if not self._tab_bars_check_queued:
            self._tab_bars_check_queued = True
            QTimer.singleShot(0, self, self._hide_stale_tab_bars)

    def _hide_stale_tab_bars(self) -> None:
        self._tab_bars_check_queued = False
        dock_layout.hide_stale_tab_bars(self)

    def _arrange(self) -> None:
        self.window_layout.arrange_first()
        self._soon_hide_stale_tab_bars()

    # ----------------------------------------------------------------- chrome
    def _build_actions(self) -> None:
        s = self.session
        icon = self.style().standardIcon
        px = QStyle.StandardPixmap
        self.train_action = QAction(
            icon(px.SP_MediaPlay), "Train", self, toolTip="Start or continue training (Space)"
        )
        self.pause_action = QAction(
            icon(px.SP_MediaPause), "Pause", self, toolTip="Pause after the current step (Space)"
        )
        self.step_action = QAction(
            icon(px.SP_MediaSkipForward), "Step", self, toolTip="Train on exactly one batch, then pause"
        )
        self.reset_action = QAction(
            icon(px.SP_BrowserReload), "Reset", self, toolTip="Re-initialise the weights (same architecture)"
        )
        self.toggle_action = QAction("Train / Pause", self, shortcut=QKeySequence(Qt.Key.Key_Space))
        self.toggle_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.train_action.triggered.connect(s.train)
        self.pause_action.triggered.connect(s.pause)
        self.step_action.triggered.connect(s.step)
        self.reset_action.triggered.connect(lambda: s.reset())
        self.toggle_action.triggered.connect(s.toggle_training)
        self.addAction(self.toggle_action)

        self.save_action = QAction("&Save Checkpoint…", self, shortcut=QKeySequence("Ctrl+S"))
        self.open_action = QAction("&Open Checkpoint…", self, shortcut=QKeySequence("Ctrl+Shift+O"))
        self.open_image_action = QAction("Open &Image…", self, shortcut=QKeySequence("Ctrl+O"))
        self.open_image_action.setToolTip("Inspect a picture of your own (or drop one on the window)")
        self.open_image_action.triggered.connect(lambda: self.open_image())
        self.open_data_folder_action = QAction("Open Data Set &Folder…", self)
        self.open_data_folder_action.setToolTip(
            "MNIST/CIFAR files or class folders of images; training restarts on it"
        )
        self.open_data_folder_action.triggered.connect(lambda: self.open_dataset(folder=True))
        self.open_data_file_action = QAction("Open Data Set F&ile…", self)
        self.open_data_file_action.setToolTip("An .npz or a CIFAR .tar.gz; training restarts on it")
        self.open_data_file_action.triggered.connect(lambda: self.open_dataset(folder=False))
        self.quit_action = QAction("&Quit", self, shortcut=QKeySequence("Ctrl+Q"))
        self.save_action.triggered.connect(lambda: self.save_checkpoint())
        self.open_action.triggered.connect(lambda: self.open_checkpoint())
        self.quit_action.triggered.connect(self.close)

    def _build_toolbar(self) -> None:
        bar = QToolBar("Training", self)
        bar.setObjectName("runToolbar")
        bar.setMovable(False)
        bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        bar.setIconSize(QSize(22, 22))
        for action in (self.train_action, self.pause_action, self.step_action, self.reset_action):
            bar.addAction(action)
        bar.addSeparator()
        self.notice_label = OneLineLabel()  # one line: a long message must not push the panels down
        self.notice_label.setObjectName("notice")
        self.notice_label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        bar.addWidget(self.notice_label)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
        self.toolbar = bar

    def _build_menus(self) -> None:
        file_menu = self.file_menu = self.menuBar().addMenu("&File")
        file_menu.addAction(self.open_image_action)
        file_menu.addAction(self.open_data_folder_action)
        file_menu.addAction(self.open_data_file_action)
        file_menu.addSeparator()
        file_menu.addAction(self.save_action)
        file_menu.addAction(self.open_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        train_menu = self.menuBar().addMenu("&Training")
        for action in (self.train_action, self.pause_action, self.step_action, self.reset_action):
            train_menu.addAction(action)
        self.view_menu = self.menuBar().addMenu("&View")
        self.help_menu = self.menuBar().addMenu("&Help")  # filled by the help modules

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.state_label = QLabel()
        self.state_label.setObjectName("runState")
        self.step_label = QLabel("step –")
        self.epoch_label = QLabel("epoch –")
        self.speed_label = QLabel("– examples/s")
        self.device_label = QLabel("device –")
        for label in (
            self.state_label,
            self.step_label,
            self.epoch_label,
            self.speed_label,
            self.device_label,
        ):
            label.setContentsMargins(10, 0, 10, 0)
            bar.addPermanentWidget(label)

    # ----------------------------------------------------------------- events
    def _on_state(self, state: str) -> None:
        self.state_label.setText(STATE_TEXT.get(state, state))
        self.state_label.setProperty("state", state)
        self.state_label.style().unpolish(self.state_label)
        self.state_label.style().polish(self.state_label)
        live = state in (run.PAUSED, run.TRAINING, run.COMPILING)
        self.train_action.setEnabled(state in (run.PAUSED, run.COMPILING) and not self.session.is_training)
        self.pause_action.setEnabled(state == run.TRAINING)
        self.step_action.setEnabled(live)
        self.reset_action.setEnabled(live or state in (run.FAILED, run.FINISHED))
        self.save_action.setEnabled(state in (run.PAUSED, run.TRAINING))
        self.open_action.setEnabled(live)

    def _on_started(self, event: ev.Started) -> None:
        self.device_label.setText(event.device)
        self.step_label.setText(f"step {event.step:,}")  # a checkpoint's, or 0
        self.epoch_label.setText(f"epoch {event.epoch:.2f}")
        self.speed_label.setText("– examples/s")
        self.statusBar().showMessage(
            f"Model ready: {event.num_params:,} parameters · {event.train_size:,} training / "
            f"{event.val_size:,} validation images",
            8000,
        )

    def _on_step(self, m: ev.StepMetrics) -> None:
        self.step_label.setText(f"step {m.step:,}")
        self.epoch_label.setText(f"epoch {m.epoch:.2f}")
        rate = m.examples_per_s  # NaN when not recorded (a followed or resumed run's earlier steps)
        self.speed_label.setText(f"{rate:,.0f} examples/s" if rate == rate else "– examples/s")

    def _on_notice(self, notice: ev.Notice) -> None:
        self.show_notice(notice.level, notice.message)

    def _on_error(self, exc: object) -> None:
        self.show_error("Training stopped with an error", f"{type(exc).__name__}: {exc}")

    def show_notice(self, level: str, message: str, source: str = "") -> None:
        notices.show_notice(self, level, message, source)

    def clear_notice(self, source: str) -> None:
        notices.clear_notice(self, source)

    def show_error(self, title: str, message: str) -> None:
        notices.show_error(self, title, message)

    # ----------------------------------------------------------------- files
    def save_checkpoint(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getSaveFileName(
                self, "Save checkpoint", "checkpoint.npz", CHECKPOINT_FILTER
            )
        if path:
            self.session.save(path)
            self.statusBar().showMessage(f"Saving {path}…", 4000)

    def open_checkpoint(self, path: str | None = None) -> None:
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", "", CHECKPOINT_FILTER)
        if path:
            self.recent.add("checkpoint", path)
        if path and not self.runs.resumes(path):  # a run's newest checkpoint continues that run
            self.session.load(path)
            self.statusBar().showMessage(f"Opening {path}…", 4000)

    def open_image(self, path: str | None = None) -> bool:
        """Inspect an image file; a bad one is reported and the current image stays."""
        from convscope.data import DataError

        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if not path:
            return False
        try:
            controller_for(self.session).open_image(path)
        except (DataError, OSError, ValueError) as exc:
            self.show_error("Cannot open the image", str(exc))
            return False
        self.recent.add("image", path)
        self.statusBar().showMessage(f"Inspecting {path}", 6000)
        return True

    def open_dataset(self, folder: bool = True) -> str:
        """Ask for a data set and load it off the GUI thread; a bad one is reported in a
        message box and the current set and its training stay. Returns the choice or ""."""
        return ask_and_open(self, self.session, folder)

    def _on_dataset(self, data: Any) -> None:
        self.setWindowTitle(f"ConvScope — {data.name}")
        notes = getattr(data, "notes", "")  # e.g. what was resized or skipped
        self.show_notice("info", f"Now training on {data.summary()}" + (f" ({notes})" if notes else ""))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dropEvent(self, event: QDropEvent) -> None:
        files = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_image(files[0])
        else:
            super().dropEvent(event)

    # ----------------------------------------------------------------- lifecycle
    def start_engine(self) -> None:
        """Start the training loop's worker (it compiles, then waits for Train)."""
        if not self._started_engine:
            self._started_engine = True
            self.session.start()

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._arranged:
            self._arranged = True
            QTimer.singleShot(0, self._arrange)  # dock sizes need the final window size
        if not self._started_engine:
            # After the first paint, so the window appears before JAX starts compiling.
            QTimer.singleShot(0, self.start_engine)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._started_engine = True  # a start still queued from showEvent must not run now
        stop_everything(self, RECORD_WAIT_S)
        event.accept()
        super().closeEvent(event)
