"""Data panel: what the model trains on — name, source, sizes, classes with their counts,
a grid of samples per class — and the controls to change it: the built-in sets, and how
the next set is loaded: the validation fraction and split seed of sets without a test
split, and the size image folders' images are resized to.

Loading runs on a worker thread (:class:`DatasetLoader`, one per session): a large
folder of images takes seconds to decode. A set that fails to load leaves the current
one, and its training, as they were; the loader's ``failed`` signal carries the message.
The loader holds the load options (``DatasetLoader.options``); the panel's controls set
them, and File ▸ Open Data Set uses them too.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from convscope.data import LoadOptions
from convscope.ui.panels.mapview import heading
from convscope.ui.session import Session

BUILTINS = (
    ("Digits (MNIST, built-in)", "builtin:mnist"),
    ("Colours (shapes and textures, built-in)", "builtin:colors"),
)
AUTO_SIZE = 3  # the image-size spin's "automatic" (one below the smallest side allowed)
SAMPLES_PER_CLASS = 8
MAX_GRID_CLASSES = 20
GRID_SCALE = 3
DATASET_FILTER = (
    "Data sets (*.npz *.tar.gz *.tgz *.tar *-ubyte *-ubyte.gz *.bin data_batch_* test_batch);;All files (*)"
)


def sample_grid(
    x: np.ndarray,
    y: np.ndarray,
    num_classes: int,
    per_class: int = SAMPLES_PER_CLASS,
    max_classes: int = MAX_GRID_CLASSES,
    pad: int = 1,
) -> np.ndarray:
    """A uint8 (H', W', 3) mosaic: one row per class (the first ``max_classes``), its
    first ``per_class`` images left to right on a white background."""
    n, h, w, c = x.shape
    y = np.asarray(y)[:n]  # never index past the images, whatever the labels say
    rows = min(num_classes, max_classes)
    out = np.full((rows * (h + pad) + pad, per_class * (w + pad) + pad, 3), 255, np.uint8)
    for cls in range(rows):
        for j, i in enumerate(np.flatnonzero(y == cls)[:per_class]):
            img = x[i] if c == 3 else np.repeat(x[i][..., :1], 3, axis=2)
            top, left = pad + cls * (h + pad), pad + j * (w + pad)
            out[top : top + h, left : left + w] = img
    return out


def _pixmap(rgb: np.ndarray, scale: int) -> QPixmap:
    rgb = np.ascontiguousarray(np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1))
    h, w, _ = rgb.shape
    image = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())  # copy: the array dies with this function


def resolve_choice(path: str | Path) -> Path:
    """A file inside a folder-based set (an IDX file, a CIFAR batch) stands for its folder."""
    from convscope.data.cifar import SIGNATURE_NAMES
    from convscope.data.idx import IDX_NAME

    p = Path(path)
    if p.is_file() and (IDX_NAME.match(p.name) or SIGNATURE_NAMES.match(p.name)):
        return p.parent
    return p


class DatasetLoader(QObject):
    """Loads data sets off the GUI thread and hands them to the session."""

    loading = Signal(str)  # what is being loaded
    loaded = Signal(object)  # the Dataset now in use
    failed = Signal(str)  # one line: why it was not loaded (the current set stays)
    _done = Signal(int, object, object)  # token, dataset or None, message or None

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.session = session
        # How a set is loaded unless a load says otherwise (the Data panel sets them).
        self.options = LoadOptions()
        self._token = 0
        self.busy = False
        self._done.connect(self._on_done)

    def load(self, spec: str | Path, options: LoadOptions | None = None) -> None:
        """Load ``spec`` (a path or ``builtin:…``) on a thread with ``options`` (default:
        ``self.options``); the last request wins."""
        from convscope.data import load_dataset

        options = self.options if options is None else options

        self._token += 1
        token = self._token
        target = spec if isinstance(spec, str) and spec.startswith("builtin:") else str(resolve_choice(spec))
        self.busy = True
        self.loading.emit(target)

        def work() -> None:
            try:
                data = load_dataset(
                    target,
                    val_fraction=float(options.val_fraction),
                    seed=options.seed,
                    image_size=options.image_size,
                )
            except (ValueError, OSError, MemoryError) as exc:  # DataError is a ValueError
                self._done.emit(token, None, str(exc) or type(exc).__name__)
                return
            self._done.emit(token, data, None)

        threading.Thread(target=work, name="convscope-load-data", daemon=True).start()

    @Slot(int, object, object)
    def _on_done(self, token: int, data: Any, message: str | None) -> None:
        if token != self._token:
            return  # superseded by a later request
        self.busy = False
        if data is None:
            self.failed.emit(message or "cannot load the data set")
            return
        refused = self.session.set_dataset(data)
        if refused:
            self.failed.emit(refused)
        else:
            self.loaded.emit(data)


def loader_for(session: Session) -> DatasetLoader:
    """The session's one DatasetLoader (made on first use)."""
    found = session.findChild(DatasetLoader)
    return found if found is not None else DatasetLoader(session)


def ask_and_open(parent: QWidget, session: Session, folder: bool) -> str:
    """Ask for a data set folder (or file) and start loading it with the loader's options
    (the Data panel's split and image size); returns the choice or ""."""
    if folder:
        path = QFileDialog.getExistingDirectory(parent, "Open data set folder")
    else:
        path, _ = QFileDialog.getOpenFileName(parent, "Open data set file", "", DATASET_FILTER)
    if path:
        loader_for(session).load(path)
    return path or ""


def _set_quietly(spin: QSpinBox | QDoubleSpinBox, value: float) -> None:
    """Show ``value`` without emitting valueChanged (nothing loops back)."""
    spin.blockSignals(True)
    spin.setValue(value)
    spin.blockSignals(False)


class DatasetPanel(QWidget):
    title = "Data"
    area = "bottom"
    tab_with = "Architecture"

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.loader = loader_for(session)
        self.heading = heading()
        self.source_label = QLabel(wordWrap=True)
        self.notes_label = QLabel(wordWrap=True)
        self.notes_label.setObjectName("notice")
        self.sizes_label = QLabel(wordWrap=True)
        self.status_label = QLabel()

        self.builtin_combo = QComboBox(toolTip="Switch to a data set that comes with ConvScope")
        for text, spec in BUILTINS:
            self.builtin_combo.addItem(text, spec)
        self.use_builtin = QPushButton("Use", toolTip="Load the chosen built-in set; training restarts on it")
        self.use_builtin.clicked.connect(lambda: self.loader.load(self.builtin_combo.currentData()))
        self.open_folder = QPushButton("Open folder…")
        self.open_folder.clicked.connect(lambda: ask_and_open(self, session, folder=True))
        self.open_file = QPushButton("Open file…")
        self.open_file.clicked.connect(lambda: ask_and_open(self, session, folder=False))

        self.fraction_spin = QDoubleSpinBox(decimals=2, minimum=0.05, maximum=0.9, singleStep=0.05, value=0.1)
        self.fraction_spin.setToolTip(
            "Share of each class held out for validation (sets without a test split)"
        )
        self.seed_spin = QSpinBox(
            minimum=0, maximum=2**31 - 1, value=0, toolTip="Seed of the validation split"
        )
        self.size_spin = QSpinBox(minimum=AUTO_SIZE, maximum=256, value=AUTO_SIZE, suffix=" px")
        self.size_spin.setSpecialValueText("automatic")
        self.size_spin.setToolTip(
            "Image folders: resize every image to this many pixels square; automatic: the most "
            "common size, its longer side capped at 64"
        )
        self.resplit_button = QPushButton(
            "Reload", toolTip="Load the current set again with this split and image size; training restarts"
        )
        self.resplit_button.clicked.connect(self.resplit)
        self._show_options(self.loader.options)
        for spin in (self.fraction_spin, self.seed_spin, self.size_spin):
            spin.valueChanged.connect(self._options_edited)

        self.class_table = QTableWidget(0, 3)
        self.class_table.setHorizontalHeaderLabels(["Class", "Train", "Val"])
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.grid_label = QLabel(alignment=Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.grid_label.setToolTip(
            f"The first {SAMPLES_PER_CLASS} training images of each class, one row per class"
        )
        grid_scroll = QScrollArea(widgetResizable=True)
        grid_scroll.setWidget(self.grid_label)

        choose = QGridLayout()  # two rows: the panel is narrow beside the sample grid
        choose.addWidget(self.builtin_combo, 0, 0, 1, 2)
        choose.addWidget(self.use_builtin, 0, 2)
        choose.addWidget(self.open_folder, 1, 0)
        choose.addWidget(self.open_file, 1, 1)
        choose.setColumnStretch(0, 1)
        choose.setColumnStretch(1, 1)
        split = QFormLayout()
        split_row = QHBoxLayout()
        split_row.addWidget(QLabel("fraction"))
        split_row.addWidget(self.fraction_spin)
        split_row.addWidget(QLabel("seed"))
        split_row.addWidget(self.seed_spin)
        split_row.addStretch(1)
        size_row = QHBoxLayout()
        size_row.addWidget(self.size_spin)
        size_row.addWidget(self.resplit_button)
        size_row.addStretch(1)
        split.addRow("Validation split:", split_row)
        split.addRow("Image size (folders):", size_row)
        # Three columns, so that the panel reads well both short and wide (it shares the
        # bottom of the window with the layer table): what the set is and the controls on
        # the left, the class counts at full height, its pictures (a row a class) right.
        split.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        info = QVBoxLayout()
        for widget in (self.heading, self.source_label, self.sizes_label, self.notes_label):
            info.addWidget(widget)
        info.addLayout(choose)
        info.addLayout(split)
        info.addWidget(self.status_label)
        info.addStretch(1)
        # Scrolls when the dock is short rather than squeezing the controls.
        info_box = QWidget()
        info_box.setLayout(info)
        info.setContentsMargins(0, 0, 4, 0)
        info_scroll = QScrollArea(widgetResizable=True)
        info_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        info_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        info_scroll.setWidget(info_box)
        self.info_scroll = info_scroll
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(info_scroll, stretch=1)
        layout.addWidget(self.class_table)
        layout.addWidget(grid_scroll)
        self.grid_scroll = grid_scroll

        session.dataset_changed.connect(self.show_dataset)
        self.loader.loading.connect(lambda what: self.status_label.setText(f"Loading {what}…"))
        self.loader.failed.connect(lambda message: self.status_label.setText(f"Not loaded: {message}"))
        self.loader.loaded.connect(lambda _d: self.status_label.setText(""))
        self.show_dataset(session.dataset)

    def show_dataset(self, data: Any) -> None:
        """Fill every field from ``data`` (a Dataset, or anything with its attributes)."""
        name = getattr(data, "name", "data set")
        self.heading.setText(f"<b>{name}</b>")
        self.source_label.setText(getattr(data, "source", ""))
        notes = getattr(data, "notes", "")
        self.notes_label.setText(notes)
        self.notes_label.setVisible(bool(notes))
        x_train, y_train = np.asarray(data.x_train), np.asarray(data.y_train)
        y_val = np.asarray(data.y_val)
        names = list(getattr(data, "class_names", ()))
        k = len(names)
        shape = "×".join(str(v) for v in tuple(data.image_shape))
        split = getattr(data, "val_split", None)
        held = (
            f"split off the training images ({split[0]:.0%}, seed {split[1]})"
            if split
            else "the set's own test split"
        )
        self.sizes_label.setText(
            f"{len(y_train):,} training / {len(y_val):,} validation images ({held}) · {shape} · {k} classes"
        )
        origin = getattr(data, "origin", "")
        self.resplit_button.setEnabled(bool(origin) and not origin.startswith("builtin:"))
        if split:  # what this set was split with is what the next load uses
            _set_quietly(self.fraction_spin, float(split[0]))
            _set_quietly(self.seed_spin, int(split[1]))
            self._options_edited()
        index = self.builtin_combo.findData(origin)
        if index >= 0:
            self.builtin_combo.setCurrentIndex(index)

        train_counts = np.bincount(y_train, minlength=k)[:k] if len(y_train) else np.zeros(k, int)
        val_counts = np.bincount(y_val, minlength=k)[:k] if len(y_val) else np.zeros(k, int)
        self.class_table.setRowCount(k)
        for row, cls in enumerate(names):
            for col, text in enumerate((cls, f"{int(train_counts[row]):,}", f"{int(val_counts[row]):,}")):
                item = QTableWidgetItem(text)
                if col:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.class_table.setItem(row, col, item)
        table = self.class_table  # as wide as its columns: the grid takes the rest
        table.resizeColumnsToContents()
        table.setFixedWidth(
            table.horizontalHeader().length()
            + table.verticalScrollBar().sizeHint().width()
            + 2 * table.frameWidth()
        )
        self.grid = sample_grid(x_train, y_train, k)
        h = x_train.shape[1]
        scale = max(1, min(GRID_SCALE, 40 // max(h, 1)))  # whole rows of 8 fit beside the facts
        pixmap = _pixmap(self.grid, scale)
        self.grid_label.setPixmap(pixmap)
        bar = self.grid_scroll.verticalScrollBar().sizeHint().width()
        self.grid_scroll.setFixedWidth(pixmap.width() + bar + 2 * self.grid_scroll.frameWidth() + 2)

    def shown_options(self) -> LoadOptions:
        """The load options the controls show."""
        size = self.size_spin.value()
        return LoadOptions(
            round(self.fraction_spin.value(), 2), self.seed_spin.value(), None if size == AUTO_SIZE else size
        )

    def _show_options(self, options: LoadOptions) -> None:
        size = options.image_size
        side = size if isinstance(size, int) else (size[0] if size and size[0] == size[-1] else None)
        _set_quietly(self.fraction_spin, float(options.val_fraction))
        _set_quietly(self.seed_spin, options.seed)
        _set_quietly(self.size_spin, AUTO_SIZE if side is None else side)

    def _options_edited(self) -> None:
        self.loader.options = self.shown_options()

    def resplit(self) -> None:
        """Reload the current set with the split and image size shown."""
        origin = getattr(self.session.dataset, "origin", "")
        if origin:
            self.loader.load(origin, self.shown_options())
