"""Image panel: the picture as loaded, the exact tensor the model receives, the move
controls (shift, rotate, scale, or drag the image inside the input frame) and a strip
of validation examples to click.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, QSize, Qt
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QButtonGroup,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from convscope.ui.inspection import InspectionController, controller_for
from convscope.ui.panels.mapview import ExportButton, MapView, export_scene, graphics_widget, heading
from convscope.ui.session import Session

MAX_PREVIEW_SIDE = 1024  # the "as loaded" view shows big photos subsampled to this
STRIP_COLUMNS = 8
STRIP_ICON = 34


def _pixmap(img: np.ndarray, side: int) -> QPixmap:
    """A uint8 (H, W, 1 | 3) image as a QPixmap scaled to ``side`` (nearest neighbour)."""
    a = np.ascontiguousarray(img[..., 0] if img.shape[2] == 1 else img)
    h, w = a.shape[:2]
    fmt = QImage.Format.Format_Grayscale8 if a.ndim == 2 else QImage.Format.Format_RGB888
    qimg = QImage(a.data, w, h, a.strides[0], fmt).copy()  # copy: `a` dies with this frame
    return QPixmap.fromImage(qimg).scaled(
        side, side, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation
    )


def _display(img: np.ndarray) -> np.ndarray:
    """(H, W, 1) → (H, W) for the gray LUT; big images subsampled for the preview."""
    step = max(1, int(np.ceil(max(img.shape[:2]) / MAX_PREVIEW_SIDE)))
    img = img[::step, ::step]
    return img[..., 0] if img.shape[2] == 1 else img


class ImagePanel(QWidget):
    """What goes into the network: original, model input (values stated), controls."""

    title = "Image"
    area = "right"
    split_with = ("Training", "right")

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.controller: InspectionController = controller_for(session)
        c = self.controller
        shape = c.arch.input_shape

        self.heading = heading()
        self.graphics = graphics_widget()
        self.graphics.setMinimumHeight(170)
        self.original_view = MapView(self.graphics, 0, 0, "As loaded", bar=False)
        self.input_view = MapView(self.graphics, 0, 1, "Model input", bar=False)
        self._shown_input: tuple[Any, bytes] | None = None  # (image, norm) the input view shows
        for col in (0, 1):  # two equal frames, whatever their titles' lengths
            self.graphics.ci.layout.setColumnStretchFactor(col, 1)
            self.graphics.ci.layout.setColumnMinimumWidth(col, 120)
        self.input_view.view.mouseDragEvent = self._drag  # drag the picture inside the frame
        self.input_view.view.setCursor(Qt.CursorShape.OpenHandCursor)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)

        # Move controls: integer pixels, degrees and percent, so a label is exact.
        self.sliders: dict[str, QSlider] = {}
        self.values: dict[str, QLabel] = {}
        controls = QGridLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.setVerticalSpacing(2)
        specs = [
            ("dx", "Shift x", -(shape[1] // 2), shape[1] // 2),
            ("dy", "Shift y", -(shape[0] // 2), shape[0] // 2),
            ("angle", "Rotate", -180, 180),
            ("scale", "Scale", 50, 200),
        ]
        for row, (key, text, lo, hi) in enumerate(specs):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(lo, hi)
            slider.setValue(100 if key == "scale" else 0)
            slider.valueChanged.connect(self._on_slider)
            value = QLabel()
            value.setObjectName("sliderValue")
            value.setMinimumWidth(value.fontMetrics().horizontalAdvance("−180°") + 6)
            value.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            controls.addWidget(QLabel(text), row, 0)
            controls.addWidget(slider, row, 1)
            controls.addWidget(value, row, 2)
            self.sliders[key], self.values[key] = slider, value
        self.reset_button = QPushButton("Reset")
        self.reset_button.setToolTip("Put the image back: no shift, no rotation, 100%")
        self.reset_button.clicked.connect(c.reset_transform)
        controls.addWidget(self.reset_button, 0, 3, 2, 1)

        # The strip of validation examples (refilled when the data set changes).
        self.strip = QButtonGroup(self)
        self.strip.setExclusive(True)
        strip_grid = self.strip_grid = QGridLayout()
        strip_grid.setContentsMargins(0, 0, 0, 0)
        strip_grid.setSpacing(3)
        self._fill_strip()
        self.strip.idClicked.connect(c.choose_example)
        self.export_button = ExportButton(self.export, "image.png")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        layout.addWidget(self.heading)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.caption)
        layout.addLayout(controls)
        strip_row = QHBoxLayout()
        strip_row.addWidget(QLabel("Validation examples (click one):"), stretch=1)
        strip_row.addWidget(self.export_button)
        layout.addLayout(strip_row)
        layout.addLayout(strip_grid)

        c.image_changed.connect(self.refresh)
        c.examples_changed.connect(self._fill_strip)
        c.inspected.connect(lambda _i: self._show_input())
        self.refresh()

    def _fill_strip(self) -> None:
        c = self.controller
        for button in self.strip.buttons():
            self.strip.removeButton(button)
            self.strip_grid.removeWidget(button)
            button.deleteLater()
        names = getattr(self.session.dataset, "class_names", ())
        for i, img in enumerate(c.examples):
            button = QToolButton()
            button.setCheckable(True)
            button.setIcon(QIcon(_pixmap(np.asarray(img), STRIP_ICON)))
            button.setIconSize(QSize(STRIP_ICON, STRIP_ICON))
            label = int(c.example_labels[i]) if i < len(c.example_labels) else None
            name = names[label] if label is not None and label < len(names) else label
            button.setToolTip(f"Validation example {i}" + (f" (class {name})" if name is not None else ""))
            self.strip.addButton(button, i)
            self.strip_grid.addWidget(button, i // STRIP_COLUMNS, i % STRIP_COLUMNS)

    # ----------------------------------------------------------------- drawing
    def refresh(self) -> None:
        c = self.controller
        image = c.image
        if image is None:
            self.heading.setText("No image")
            return
        h, w = image.original.shape[:2]
        text = f"{image.label} ({w}×{h})"
        names = getattr(self.session.dataset, "class_names", ())
        if image.true_class is not None and image.true_class < len(names):
            text += f" · class {names[image.true_class]}"
        self.heading.setText(text)
        self.original_view.show(_display(image.original), (0, 255))
        self._sync_controls()
        self._show_input()
        index = image.label.removeprefix("validation example ")
        button = self.strip.button(int(index)) if index.isdigit() else None
        if button is not None:
            button.setChecked(True)
        elif self.strip.checkedButton() is not None:
            self.strip.setExclusive(False)
            self.strip.checkedButton().setChecked(False)
            self.strip.setExclusive(True)

    def _show_input(self) -> None:
        """The exact float tensor once the model has seen this image; its pixels before."""
        c = self.controller
        if c.model_image is None:
            return
        h, w, ch = c.model_image.shape
        current = c.inspection is not None and c.inspected_image is c.model_image
        snap = c.snapshot
        if current and snap is not None:
            norm = np.asarray(snap.norm, np.float64)
            last, self._shown_input = self._shown_input, (c.inspected_image, norm.tobytes())
            if last is not None and last[0] is c.inspected_image and last[1] == self._shown_input[1]:
                return  # training's next snapshot: the same image, standardised the same way
            x = np.asarray(c.inspection.input)
            lo, hi = (0.0 - norm[0]) / norm[1], (1.0 - norm[0]) / norm[1]  # pixel 0 and 255
            levels: Any = (float(lo[0]), float(hi[0])) if ch == 1 else np.stack([lo, hi], axis=1)
            self.input_view.show(x[..., 0] if ch == 1 else x, levels)
            means = ", ".join(f"{m:.3f}" for m in norm[0])
            stds = ", ".join(f"{s:.3f}" for s in norm[1])
            self.caption.setText(
                f"float32 {h}×{w}×{ch} = (pixel/255 − {means}) / {stds}<br>"
                f"values <b>{x.min():.2f} … {x.max():.2f}</b> (black = {lo.min():.2f}, "
                f"white = {hi.max():.2f})"
            )
        else:
            self._shown_input = None
            img = c.model_image
            self.input_view.show(img[..., 0] if ch == 1 else img, (0, 255))
            self.caption.setText(
                f"uint8 {h}×{w}×{ch}, pixels {img.min()} … {img.max()}<br>"
                "<i>waiting for the model to standardise it…</i>"
            )

    def _sync_controls(self) -> None:
        t = self.controller.transform
        values = {"dx": t.dx, "dy": t.dy, "angle": round(t.angle), "scale": round(100 * t.scale)}
        for key, slider in self.sliders.items():
            with QSignalBlocker(slider):
                slider.setValue(int(values[key]))
        self.values["dx"].setText(f"{t.dx:+d} px" if t.dx else "0 px")
        self.values["dy"].setText(f"{t.dy:+d} px" if t.dy else "0 px")
        self.values["angle"].setText(f"{t.angle:+.0f}°" if t.angle else "0°")
        self.values["scale"].setText(f"{100 * t.scale:.0f}%")

    # ----------------------------------------------------------------- controls
    def _on_slider(self, _value: int) -> None:
        s = self.sliders
        self.controller.move(
            dx=s["dx"].value(),
            dy=s["dy"].value(),
            angle=float(s["angle"].value()),
            scale=s["scale"].value() / 100.0,
        )

    def _drag(self, ev: Any, axis: Any = None) -> None:
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        image = self.input_view.image
        if ev.isStart():
            self._drag_origin = (self.controller.transform.dx, self.controller.transform.dy)
        origin = getattr(self, "_drag_origin", (0, 0))
        start = image.mapFromScene(ev.buttonDownScenePos())
        now = image.mapFromScene(ev.scenePos())
        h, w = self.controller.arch.input_shape[:2]
        dx = int(np.clip(origin[0] + round(now.x() - start.x()), -(w // 2), w // 2))
        dy = int(np.clip(origin[1] + round(now.y() - start.y()), -(h // 2), h // 2))
        self.controller.move(dx=dx, dy=dy)

    def export(self, path: str) -> None:
        export_scene(self.graphics, path)
