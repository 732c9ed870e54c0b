"""PyInstaller hook for pyqtgraph, replacing the contributed one, which collects every
submodule (the examples, the Jupyter and OpenGL widgets, every Qt binding's templates).

ConvScope needs the 2D plotting, the colour maps (data files) and the exporters, which
pyqtgraph and ConvScope load by name. The 3D landscape (pyqtgraph.opengl) needs PyOpenGL,
an optional extra the bundle leaves out; the panel then says "3D view needs PyOpenGL".
"""

from PyInstaller.utils.hooks import collect_data_files, collect_submodules

_SKIP = ("pyqtgraph.examples", "pyqtgraph.opengl", "pyqtgraph.jupyter", "pyqtgraph.canvas",
         "pyqtgraph.flowchart", "pyqtgraph.console")


def _wanted(name: str) -> bool:
    # Left out of the modules collected by name only: what pyqtgraph imports itself
    # still comes along through the import scan.
    return not name.startswith(_SKIP) and ".tests" not in name


hiddenimports = collect_submodules("pyqtgraph", filter=_wanted)
datas = collect_data_files("pyqtgraph", excludes=["**/examples/**", "**/tests/**"])
