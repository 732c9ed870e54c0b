"""Help ▸ Try this: preset experiments. Each loads a setting into the session (live
hyperparameters, the architecture, a smaller training split, an image) through the
session's own API, raises the panel to watch and says, in the guide's panel, what to
watch for. The presets are data (:data:`PRESETS`); :class:`PresetRunner` applies them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from PySide6.QtCore import QObject, QPoint, QRect
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow, QMenu, QWidget

from convscope.config import LIVE_FIELDS, ArchSpec, TrainConfig
from convscope.data import DataError
from convscope.data.subset import training_subset
from convscope.ui.inspection import Transform, controller_for
from convscope.ui.session import arch_for_dataset
from convscope.ui.tour import GuideStep, Target, dock_tab, guide_for


@dataclass(frozen=True)
class Preset:
    """One experiment. Empty fields leave that part of the session as it is."""

    title: str  # the menu entry and the note's heading
    watch: str  # what to watch for, and what to try next (the note)
    keys: str  # its shortcut
    hyperparams: Mapping[str, Any] = field(default_factory=dict)  # live TrainConfig fields
    arch: Mapping[str, Any] = field(default_factory=dict)  # ArchSpec fields (init, activation)
    pool: str = ""  # every conv block's pooling ("max", "avg")
    train_subset: int = 0  # train on this many images of the full set, at most a quarter (0: leave the data)
    image_shift: tuple[int, int] | None = None  # inspect validation example 0 moved (dx, dy)
    dock: str = ""  # the panel to watch (raised; the note points at it)
    point_at: str = ""  # rather point at this part of a panel: "Image:sliders"
    note_side: str = "below"  # where the note goes first
    # What the note must not cover, as point_at names parts ("Prediction", "Image:graphics");
    # by default the panel to watch.
    keep_clear: tuple[str, ...] = ()
    train: bool = False  # press Train once it is loaded
    fresh: bool = False  # new weights even if the layers stay the same
    defaults: bool = False  # back to the full data set, the default layers and hyperparameters


PRESETS: list[Preset] = [
    Preset(
        "Learning rate too high",
        "A fresh model (Leaky ReLUs, so no unit dies for good) on plain SGD at learning rate "
        "1: within a few steps the loss becomes non-finite, training pauses and the last good "
        "weights come back. Lower the learning rate to 0.05 and press Train: it learns again.",
        "Shift+F2",
        hyperparams={"optimizer": "sgd", "learning_rate": 1.0},
        arch={"activation": "leaky_relu"},
        fresh=True,
        dock="Training",
        train=True,
    ),
    Preset(
        "Dead ReLUs from a bad initialization",
        "Every weight starts at zero, so every ReLU outputs 0 for every image and passes no "
        "gradient back: the Activations panel shows 100% dead units and the loss stays near "
        "ln 10 ≈ 2.30. Pick He initialization in the Architecture editor and Apply.",
        "Shift+F3",
        arch={"init": "zeros", "activation": "relu"},
        dock="Activations",
        train=True,
    ),
    Preset(
        "Overfitting a small subset, without dropout",
        "500 training images, no dropout, no augmentation: training accuracy climbs to 100% "
        "while validation stays behind (about 93% on the digits) — the gap is overfitting. "
        "Raise Dropout to 0.5 and Reset: the gap narrows.",
        "Shift+F4",
        hyperparams={"dropout": 0.0, "augment": False},
        train_subset=500,
        dock="Training",
        train=True,
    ),
    Preset(
        "An off-centre digit",
        "A validation digit moved 6 px right and 4 px down. Convolutions share their weights "
        "across the image, so the feature maps move with it; pooling and the dense layers "
        "are only partly invariant. Watch the prediction, then drag Shift x back to 0.",
        "Shift+F5",
        image_shift=(6, 4),
        dock="Prediction",
        point_at="Image:sliders",  # the note must not cover the sliders it asks to drag,
        note_side="left",
        keep_clear=("Image", "Prediction"),  # nor what is to be watched
    ),
    Preset(
        "Max pooling",
        "Every conv block keeps the largest value of each 2×2 window: the feature maps stay "
        "crisp and small shifts change little. Compare the accuracy with average pooling.",
        "Shift+F6",
        pool="max",
        dock="Feature maps",
        train=True,
    ),
    Preset(
        "Average pooling",
        "Every conv block averages each 2×2 window: the feature maps blur a little and "
        "weak responses count too. Compare the accuracy curve with max pooling.",
        "Shift+F7",
        pool="avg",
        dock="Feature maps",
        train=True,
    ),
    Preset(
        "Back to the defaults",
        "The full data set, the default layers and the default hyperparameters again.",
        "Shift+F8",
        defaults=True,
        dock="Training",
    ),
]


def default_hyperparams() -> dict[str, Any]:
    base = TrainConfig()
    return {name: getattr(base, name) for name in LIVE_FIELDS}


def part_of_panel(where: str) -> Callable[[QMainWindow], Target | None]:
    """A target from "Panel title:attribute.key" (attributes, or keys of a dict); a dict
    of widgets is the rectangle around them all (e.g. "Image:sliders")."""
    title, _, path = where.partition(":")

    def find(window: QMainWindow) -> Target | None:
        panel: Any = getattr(window, "panels", {}).get(title)
        obj = panel
        for part in path.split(".") if path else ():
            obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
        if isinstance(obj, dict) and isinstance(panel, QWidget):
            rect = QRect()
            for widget in obj.values():
                rect = rect.united(QRect(widget.mapTo(panel, QPoint(0, 0)), widget.size()))
            return panel, rect
        return (obj, None) if isinstance(obj, QWidget) else None

    return find


class PresetRunner(QObject):
    """Help ▸ Try this for one window: the menu, and applying a preset."""

    def __init__(self, window: QMainWindow, menu: QMenu) -> None:
        super().__init__(window)
        self.window = window
        self.session = window.session  # type: ignore[attr-defined]
        self.full_dataset = self.session.dataset  # what a subset is taken from
        self._subset: Any = None  # the subset this runner loaded, if it is the data set now
        self.session.dataset_changed.connect(self._on_dataset)
        self.actions: list[QAction] = []
        for preset in PRESETS:
            action = QAction(preset.title, window)
            action.setToolTip(preset.watch)
            action.triggered.connect(lambda _checked=False, p=preset: self.apply(p))
            menu.addAction(action)
            self.actions.append(action)

    def _on_dataset(self, dataset: Any) -> None:
        if dataset is not self._subset:  # the user opened another data set
            self.full_dataset, self._subset = dataset, None

    def apply(self, preset: Preset) -> str:
        """Load ``preset`` into the session; returns why it could not ("" if it did)."""
        s = self.session
        if s.following is not None:
            return self._refuse(preset, f"following {s.following.name}; File ▸ Stop Following first")
        changes = default_hyperparams() if preset.defaults else dict(preset.hyperparams)
        if changes:
            # Before a data change: its new loop is built with the session's config.
            why = s.set_hyperparams(**changes)
            if why:
                return self._refuse(preset, why)
            s.config_changed.emit(s.config)  # the controls show what was set
        why = self._set_data(preset)
        if why:
            return self._refuse(preset, why)
        try:
            arch = self._arch(preset, s.arch)
        except ValueError as exc:  # e.g. pooling every block of a deep net leaves no map
            return self._refuse(preset, str(exc))
        if arch != s.arch or preset.fresh:
            s.reset(arch)
        if preset.image_shift is not None:
            controller = controller_for(s)
            controller.choose_validation(0)
            dx, dy = preset.image_shift
            controller.set_transform(Transform(dx=dx, dy=dy))
        elif preset.defaults:
            controller_for(s).reset_transform()
        if preset.train:
            s.train()
        self.note(preset.title, preset.watch, preset.dock, preset.point_at, preset.note_side,
                  preset.keep_clear or (preset.dock,))
        return ""

    def _set_data(self, preset: Preset) -> str:
        s = self.session
        if preset.train_subset:
            full = self.full_dataset
            n = max(int(full.num_classes), min(preset.train_subset, len(full.y_train) // 4))
            try:
                subset = training_subset(full, n)
            except DataError as exc:
                return str(exc)
            self._subset = subset
            return self._switch_to(subset)
        if preset.defaults and self._subset is not None and s.dataset is self._subset:
            self._subset = None
            return self._switch_to(self.full_dataset)
        return ""

    def _switch_to(self, dataset: Any) -> str:
        why = self.session.set_dataset(dataset)
        if not why:  # the title names the data set (the window sets it only for files it opens)
            self.window.setWindowTitle(f"ConvScope — {dataset.name}")
        return why

    def _arch(self, preset: Preset, arch: ArchSpec) -> ArchSpec:
        if preset.defaults:
            default = arch_for_dataset(ArchSpec(), self.session.dataset)
            return default if isinstance(default, ArchSpec) else arch
        if preset.arch:
            arch = dataclasses.replace(arch, **preset.arch)
        if preset.pool:
            convs = tuple(dataclasses.replace(c, pool=preset.pool) for c in arch.convs)
            arch = dataclasses.replace(arch, convs=convs)
        return arch

    def note(
        self, title: str, text: str, dock: str = "", point_at: str = "", side: str = "below",
        keep_clear: tuple[str, ...] = (),
    ) -> None:
        """The non-modal note (the guide's panel), pointing at ``dock`` (its tab) or at
        ``point_at``, raising ``dock``, and clear of the parts ``keep_clear`` names."""
        target = part_of_panel(point_at) if point_at else dock_tab(dock) if dock else (lambda _w: None)
        parts = [part_of_panel(name) for name in keep_clear if name]

        def clear(window: QMainWindow) -> list[QRect]:
            rects = []
            for found in (part(window) for part in parts):
                if found is not None and found[0].isVisible() and found[0].window() is window:
                    widget, rect = found
                    rect = rect if rect is not None else widget.rect()
                    rects.append(QRect(widget.mapTo(window, rect.topLeft()), rect.size()))
            return rects

        step = GuideStep(f"Try this: {title}", text, target, dock=dock, side=side, keep_clear=clear)
        guide_for(self.window).start([step])

    def _refuse(self, preset: Preset, why: str) -> str:
        self.note(preset.title, f"Could not load this experiment: {why}")
        return why
