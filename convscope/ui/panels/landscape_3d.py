"""The Loss landscape as a 3D surface the user can rotate (pyqtgraph.opengl), where
OpenGL works: it needs PyOpenGL and a display with an OpenGL context, which an
offscreen or headless session lacks. ``gl_status`` says which, for the 3D toggle's
tooltip; nothing here is imported until the toggle is used. The current weights are
marked on the surface as on the map (:func:`surface_point` places the marker; it needs
no OpenGL, so it is tested everywhere).
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


MARKER_COLOR = (1.0, 0.5, 0.05, 1.0)  # the map's path colour (#ff7f0e)
MARKER_LIFT = 0.02  # above the surface, so the surface never hides the marker's centre


def unit_xy(alphas: np.ndarray, betas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid's coordinates scaled to [−1, 1] each, whatever the span."""
    a, b = np.asarray(alphas, np.float64), np.asarray(betas, np.float64)
    return (a - a[0]) / (a[-1] - a[0]) * 2 - 1, (b - b[0]) / (b[-1] - b[0]) * 2 - 1


def unit_heights(shown: np.ndarray, levels: tuple[float, float]) -> np.ndarray:
    lo, hi = levels
    return (np.asarray(shown, np.float64) - lo) / (hi - lo)


def surface_point(
    alphas: np.ndarray,
    betas: np.ndarray,
    shown: np.ndarray,
    levels: tuple[float, float],
    at: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """(x, y, z) on the drawn surface above the point ``at`` (α, β) of the plane: the
    current weights by default. z is the surface's height there, interpolated bilinearly
    (the centre is a grid point on random directions, not always on the PCA plane)."""
    x, y = unit_xy(alphas, betas)
    z = unit_heights(shown, levels)  # (len(betas), len(alphas))
    along = np.array([np.interp(at[0], alphas, row) for row in z])
    height = float(np.interp(at[1], betas, along))
    return np.array([np.interp(at[0], alphas, x), np.interp(at[1], betas, y), height])


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
        # The current weights: a dot above the surface on a stem from the floor.
        self.marker = gl.GLScatterPlotItem(pos=np.zeros((1, 3)), size=14, color=MARKER_COLOR, pxMode=True)
        self.marker.setGLOptions("translucent")
        self.stem = gl.GLLinePlotItem(pos=np.zeros((2, 3)), color=MARKER_COLOR, width=2, antialias=True)
        self.view.addItem(self.stem)
        self.view.addItem(self.marker)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)

    def show_surface(
        self, alphas: np.ndarray, betas: np.ndarray, shown: np.ndarray, levels: tuple[float, float]
    ) -> None:
        unit = unit_heights(shown, levels)  # heights 0..1 over a unit square, whatever the span
        x, y = unit_xy(alphas, betas)
        idx = np.clip((unit * (len(SEQUENTIAL) - 1)).round().astype(int), 0, len(SEQUENTIAL) - 1)
        colors = SEQUENTIAL[idx].astype(np.float32) / 255
        # GLSurfacePlotItem wants z[x index, y index] (the grid is [beta, alpha]) and one
        # colour per vertex in that order, flattened (its docstring's (w, h, 4) fails to draw).
        self.surface.setData(x=x, y=y, z=unit.T, colors=colors.transpose(1, 0, 2).reshape(-1, 4))
        point = surface_point(alphas, betas, shown, levels)
        point[2] += MARKER_LIFT
        self.marker.setData(pos=point[None])
        self.stem.setData(pos=np.array([[point[0], point[1], 0.0], point]))
