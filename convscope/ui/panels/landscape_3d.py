"""The Loss landscape as a 3D surface the user can rotate (pyqtgraph.opengl), where
OpenGL works: it needs PyOpenGL and a display with an OpenGL context, which an
offscreen or headless session lacks. ``gl_status`` says which, for the 3D toggle's
tooltip; nothing here is imported until the toggle is used.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QVBoxLayout, QWidget

from convscope.ui.panels.mapview import SEQUENTIAL


def gl_status() -> tuple[bool, str]:
    """Whether a 3D surface can be drawn here, and if not, why (for the tooltip)."""
    platform = QGuiApplication.platformName()
    if platform in ("offscreen", "minimal", "vnc"):
        return False, f"3D view needs an OpenGL display; this one is “{platform}”"
    try:
        import OpenGL.GL  # noqa: F401
        import pyqtgraph.opengl  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - any import failure means no 3D
        return False, f"3D view needs PyOpenGL (pip install PyOpenGL): {type(exc).__name__}"
    from PySide6.QtGui import QOffscreenSurface, QOpenGLContext

    context = QOpenGLContext()
    if not context.create():
        return False, "3D view: no OpenGL context could be created on this display"
    surface = QOffscreenSurface()
    surface.create()
    ok = context.makeCurrent(surface)
    if ok:
        context.doneCurrent()
    return (True, "") if ok else (False, "3D view: OpenGL is not usable on this display")


class Surface3D(QWidget):
    """The landscape as a surface the user can rotate (only built when ``gl_status()``
    says OpenGL works)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        import pyqtgraph.opengl as gl

        self.view = gl.GLViewWidget()
        self.view.setBackgroundColor("w")
        self.view.setCameraPosition(distance=4.0, elevation=30, azimuth=-60)
        self.surface = gl.GLSurfacePlotItem(computeNormals=False, smooth=False)
        self.view.addItem(self.surface)
        self.grid = gl.GLGridItem(color=(0, 0, 0, 60))
        self.grid.setSize(2, 2)
        self.grid.setSpacing(0.25, 0.25)
        self.view.addItem(self.grid)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def show_surface(
        self, alphas: np.ndarray, betas: np.ndarray, shown: np.ndarray, levels: tuple[float, float]
    ) -> None:
        lo, hi = levels
        unit = (shown - lo) / (hi - lo)  # heights 0..1 over a unit square, whatever the span
        x = (alphas - alphas[0]) / (alphas[-1] - alphas[0]) * 2 - 1
        y = (betas - betas[0]) / (betas[-1] - betas[0]) * 2 - 1
        idx = np.clip((unit * (len(SEQUENTIAL) - 1)).round().astype(int), 0, len(SEQUENTIAL) - 1)
        colors = SEQUENTIAL[idx].astype(np.float32) / 255
        # GLSurfacePlotItem wants z[x index, y index] (the grid is [beta, alpha]) and one
        # colour per vertex in that order, flattened (its docstring's (w, h, 4) fails to draw).
        self.surface.setData(x=x, y=y, z=unit.T, colors=colors.transpose(1, 0, 2).reshape(-1, 4))
