"""Render ConvScope's icon files from the SVG master, ``assets/icons/convscope.svg``.

Writes, beside the master:

* ``convscope-<N>.png`` for N in :data:`SIZES` (16 … 512 px, transparent background);
* ``convscope.ico`` (Windows: 16, 24, 32, 48, 64, 128 and 256 px, each from its own PNG);
* ``convscope.icns`` (macOS: 16 … 512 px and their @2x, from the PNGs; 1024 px is
  rendered for it alone and not kept as a PNG).

The PNGs, the .ico and the .icns are committed; run this after editing the SVG::

    python packaging/icons/render_icons.py

The bytes depend on the Qt and Pillow versions (antialiasing, PNG compression), so the
tests check the files' sizes and pixels, not their bytes.

Needs PySide6 (QtSvg, as PySide6-Essentials ships it) and Pillow, both ConvScope
dependencies. No display is needed (Qt's offscreen platform is used).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

ICON_DIR = Path(__file__).resolve().parents[2] / "assets" / "icons"
MASTER = "convscope.svg"
SIZES = (16, 22, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)


def png_name(size: int) -> str:
    """The file name of the ``size`` px PNG (``convscope-48.png``)."""
    return f"convscope-{size}.png"


def render_png(svg: Path, size: int) -> bytes:
    """The SVG drawn on a transparent ``size``×``size`` image, as PNG bytes."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice
    from PySide6.QtGui import QGuiApplication, QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (kept alive)
    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not an SVG Qt can draw")
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(0)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.convertToFormat(QImage.Format.Format_ARGB32).save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def render_all(icon_dir: Path = ICON_DIR) -> dict[str, bytes]:
    """Every file this script makes, by name, rendered from ``icon_dir``'s master."""
    from PIL import Image

    svg = icon_dir / MASTER
    pngs = {size: render_png(svg, size) for size in sorted(set(SIZES) | set(ICNS_SIZES))}
    images = {size: Image.open(io.BytesIO(data)).convert("RGBA") for size, data in pngs.items()}
    out = {png_name(size): pngs[size] for size in SIZES}

    # Pillow takes each size from append_images when one has it, so every size of the
    # .ico and .icns is the SVG drawn at that size, not the largest one scaled down.
    ico = io.BytesIO()
    largest_ico = images[max(ICO_SIZES)]
    largest_ico.save(
        ico,
        format="ICO",
        sizes=[(s, s) for s in ICO_SIZES],
        append_images=[images[s] for s in ICO_SIZES if s != max(ICO_SIZES)],
    )
    out["convscope.ico"] = ico.getvalue()
    icns = io.BytesIO()
    images[max(ICNS_SIZES)].save(
        icns, format="ICNS", append_images=[images[s] for s in ICNS_SIZES if s != max(ICNS_SIZES)]
    )
    out["convscope.icns"] = icns.getvalue()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, default=ICON_DIR, help="folder holding convscope.svg")
    args = parser.parse_args(argv)
    if not (args.dir / MASTER).is_file():
        print(f"render_icons: no {MASTER} in {args.dir}", file=sys.stderr)
        return 2
    files = render_all(args.dir)
    for name, data in files.items():
        (args.dir / name).write_bytes(data)
        print(f"wrote {args.dir / name} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
