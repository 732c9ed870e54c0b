"""Where ConvScope's own files are: the built-in digits, the sample photos, the icons.

``assets/`` at the top of a source checkout is the one source of them. A wheel or a
PyInstaller bundle carries a copy inside the package, ``convscope/assets``; that copy is
used when it is there, the checkout's otherwise. Standard library only (any layer may
import it).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
SAMPLE_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def assets_dir() -> Path:
    """The assets folder: the installed copy inside the package, else the checkout's."""
    inside = _PACKAGE / "assets"
    if inside.is_dir():
        return inside
    return _PACKAGE.parent / "assets"


def sample_images() -> list[Path]:
    """The sample photos shipped with ConvScope (``assets/images``), sorted by name."""
    folder = assets_dir() / "images"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in SAMPLE_IMAGE_SUFFIXES)
