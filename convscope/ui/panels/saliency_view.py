"""Saliency of the inspected image: a method, a class, a heatmap blended over the image.

Computed on a ProbeRunner of its own (so it never waits behind activation
maximization), for the InspectionController's current ``model_image`` and the snapshot
the Deep-visualization panel hands it. The heatmap (``SaliencyResult.heatmap``, 0 … 1:
1 is the map's maximum, or its 99th percentile for gradient methods) is coloured with viridis and alpha-blended over the
image; the colour bar beside it states the scale.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
from PySide6.QtCore import QSignalBlocker, Qt, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from convscope import events as ev
from convscope.probes.saliency import METHODS, SaliencyResult
from convscope.probes.saliency_job import SaliencyRequest, saliency_job
from convscope.ui.panels.mapview import SEQUENTIAL_MAP, MapView, graphics_widget
from convscope.ui.probe_runner import ProbeRunner
from convscope.viz.display import OVERLAY_OPACITY, saliency_overlay

METHOD_TEXT = {
    "vanilla": "Vanilla gradient",
    "smoothgrad": "SmoothGrad",
    "guided": "Guided backprop",
    "gradcam": "Grad-CAM",
    "occlusion": "Occlusion",
}
METHOD_TIPS = {
    "vanilla": "|∂ class score / ∂ pixel|: which pixels change the score most",
    "smoothgrad": "The gradient averaged over 50 noisy copies of the image: less speckle",
    "guided": "Gradient through ReLUs that lets only positive signals back: sharper edges",
    "gradcam": "Last conv block's maps weighted by their mean gradient: where the class is seen",
    "occlusion": "Drop of the class score (its logit) when a grey square hides each region",
}
DEFAULT_OPACITY = OVERLAY_OPACITY


class SaliencyView(QWidget):
    """Method and class pickers, the blended heatmap with a colour bar, a caption.

    ``set_snapshot`` / ``set_image`` give it what to explain; it computes when either,
    the method or the class changes (latest request wins). ``computed(result)`` fires
    when a heatmap is drawn.
    """

    computed = Signal(object)

    def __init__(self, class_names: tuple[str, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.class_names = tuple(class_names)
        self.runner = ProbeRunner("saliency", self)
        self.snapshot: ev.Snapshot | None = None
        self.image: np.ndarray | None = None
        self.result: SaliencyResult | None = None
        self.result_image: np.ndarray | None = None  # the image the result explains
        self.result_step = -1
        self.blended: np.ndarray | None = None
        self.error = ""
        self.generation = 0
        self.stopped = False  # stop() cancelled the last request
        self._requested: SaliencyRequest | None = None

        self.method = QComboBox()
        for i, m in enumerate(METHODS):
            self.method.addItem(METHOD_TEXT.get(m, m), m)
            self.method.setItemData(i, METHOD_TIPS.get(m, ""), Qt.ItemDataRole.ToolTipRole)
        self.method.setToolTip("How the heatmap is computed (hover the choices for a line on each)")
        self.method.currentIndexChanged.connect(lambda _i: self.request())
        self.target = QComboBox()
        self.target.setToolTip("The class whose score is explained: the predicted one, or any class")
        self.target.setMinimumContentsLength(9)  # "predicted"
        self.target.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.set_class_names(self.class_names)
        self.target.currentIndexChanged.connect(lambda _i: self.request())
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(DEFAULT_OPACITY * 100))
        self.opacity.setToolTip("Heatmap opacity: 0 shows the image alone, 100 the heatmap alone")
        self.opacity.setMinimumWidth(60)
        self.opacity.setMaximumWidth(140)
        self.opacity.valueChanged.connect(lambda _v: self.draw())

        self.graphics = graphics_widget()
        self.view = MapView(self.graphics, 0, 0, bar_label="saliency")
        self.graphics.setToolTip("The heatmap over the image, viridis from 0 to 1: 1 is the map's own maximum "
                                    "(gradient methods: its 99th percentile, larger values clipped)")
        self.caption = QLabel("Saliency: waiting for the model…")  # two short lines, never wrapped

        top = QHBoxLayout()
        label = QLabel("<b>Saliency</b>")
        label.setToolTip("Which pixels of the inspected image matter for a class")
        top.addWidget(label)
        top.addWidget(self.method)
        top.addWidget(self.target)
        top.addWidget(self.opacity, stretch=1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.graphics, stretch=1)
        layout.addWidget(self.caption)
        self.runner.finished.connect(self.on_result)
        self.runner.errored.connect(self.on_error)
        self.runner.busy_changed.connect(self._on_busy)

    # ----------------------------------------------------------------- inputs
    def set_class_names(self, names: tuple[str, ...]) -> None:
        self.class_names = tuple(names)
        with QSignalBlocker(self.target):
            self.target.clear()
            self.target.addItem("predicted", None)
            for i, name in enumerate(self.class_names):
                self.target.addItem(f"{i}: {name}" if name != str(i) else name, i)

    def set_snapshot(self, snapshot: ev.Snapshot, generation: int = 0) -> None:
        """Explain what ``snapshot`` does; ``generation`` tells a reset model (same step) apart."""
        if len(self.class_names) != snapshot.arch.num_classes:
            self.set_class_names(tuple(str(i) for i in range(snapshot.arch.num_classes)))
        self.snapshot, self.generation = snapshot, generation

    def set_image(self, image: np.ndarray | None) -> None:
        self.image = image

    def set_method(self, method: str) -> None:
        self.method.setCurrentIndex(METHODS.index(method))

    def set_target(self, target: int | None) -> None:
        self.target.setCurrentIndex(0 if target is None else target + 1)

    @property
    def stale(self) -> bool:
        """The snapshot or image differs from the last request."""
        return self._make_request() not in (None, self._requested)

    def _make_request(self) -> SaliencyRequest | None:
        if self.snapshot is None or self.image is None:
            return None
        if tuple(self.image.shape) != tuple(self.snapshot.arch.input_shape):
            return None  # the image is refitted for a new architecture: wait for it
        return SaliencyRequest(self.generation, self.snapshot.step, self.method.currentData(), self.target.currentData(),
                               self.image.tobytes())

    def request(self, force: bool = False) -> bool:
        """Compute for the current snapshot, image, method and class; False if nothing to
        do (``force``: even if that was the last request)."""
        req = self._make_request()
        if req is None or (req == self._requested and not force):
            return False
        self._requested = req
        self.stopped = False
        assert self.snapshot is not None and self.image is not None
        self.runner.submit((req, self.image), saliency_job(self.snapshot, self.image, req.method, req.target))
        return True

    def stop(self) -> bool:
        """Cancel the running computation; True if there was one."""
        if self.runner.idle():
            return False
        self.runner.cancel()
        self.stopped = True
        self.caption.setText("Saliency stopped.<br>Recompute starts it again.")
        self.caption.setProperty("kind", "")
        self._polish()
        return True

    # ----------------------------------------------------------------- results
    def on_result(self, tag: Any, result: SaliencyResult) -> None:
        req, image = tag
        self.result, self.result_image, self.result_step = result, image, req.step
        self.error = ""
        self.draw()
        self.computed.emit(result)

    def on_error(self, tag: Any, message: str) -> None:
        # _requested stays: the same request is not retried; a new image, snapshot,
        # method or class is.
        self.error = message
        first = message.strip().splitlines()[0] if message.strip() else "unknown error"
        short = first if len(first) <= 70 else first[:67] + "…"
        self.caption.setText(f"Saliency failed:<br>{html.escape(short)}")
        self.caption.setToolTip(message)
        self.caption.setProperty("kind", "error")
        self._polish()

    def _on_busy(self, busy: bool) -> None:
        if busy and self.result is None:
            self.caption.setText("Computing saliency…<br>(the first map of a method compiles it)")

    def draw(self) -> None:
        result, image = self.result, self.result_image
        if result is None or image is None:
            return
        opacity = self.opacity.value() / 100.0
        self.blended = saliency_overlay(image, result.heatmap, opacity)
        self.view.show(self.blended, (0, 255))
        if self.view.bar is not None:
            self.view.bar.setLevels((0.0, 1.0))
            self.view.bar.setColorMap(SEQUENTIAL_MAP)
        t = result.target_class
        name = self.class_names[t] if t < len(self.class_names) else str(t)
        predicted = int(np.argmax(result.probabilities))
        which = "the predicted class" if predicted == t else f"predicted: {predicted}"
        where = f" at {result.layer}" if result.layer else ""
        self.caption.setText(
            f"{METHOD_TEXT.get(result.method, result.method)}{where} for class <b>{name}</b> "
            f"(p = {result.probabilities[t]:.2f})<br>{which} · step {self.result_step:,} · "
            f"{result.seconds:.2f} s"
        )
        self.caption.setProperty("kind", "")
        self._polish()

    def _polish(self) -> None:
        self.caption.style().unpolish(self.caption)
        self.caption.style().polish(self.caption)
