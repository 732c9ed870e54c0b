"""A user's own picture: load it safely, fit it to the model's input, move it around.

``load_image`` decodes only an allowlist of formats with Pillow and refuses anything
odd (not a file, empty, not an image, a format outside the list, truncated or corrupt,
a decompression bomb) with an :class:`ImageError` whose one-line message names the
file. ``fit_image`` resizes with the aspect ratio kept and pads to the model's input;
``transform_image`` shifts, rotates and scales (the "move the image" controls).

NumPy and Pillow only. Pillow is imported inside the functions that need it, so that
``import convscope.data`` (which does not import this module) stays NumPy-only and this
module costs nothing until an image is actually opened.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from convscope.data.errors import DataError

if TYPE_CHECKING:
    from PIL import Image as PILImage

ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")
MAX_PIXELS = 40_000_000

# ITU-R BT.601 luma weights (what Pillow's "L" conversion and MNIST-era tools use).
LUMA_601 = np.array([0.299, 0.587, 0.114], np.float32)

# Leading bytes of common image formats outside the allowlist, so that the message can
# say "format ICO is not supported" rather than "not an image". Only compared, never
# decoded: Pillow is asked to open nothing but ALLOWED_FORMATS.
_OTHER_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\x01\x00", "ICO"),
    (b"\x00\x00\x02\x00", "CUR"),
    (b"8BPS", "PSD"),
    (b"%PDF", "PDF"),
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"icns", "ICNS"),
    (b"DDS ", "DDS"),
    (b"qoif", "QOI"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"\x76\x2f\x31\x01", "OpenEXR"),
    (b"SIMPLE  =", "FITS"),
    (b"gimp xcf", "XCF"),
    (b"<svg", "SVG"),
    (b"<?xml", "XML/SVG"),
)


class ImageError(DataError):
    """An image file that cannot be used; the one-line message names the file."""


def _sniff_other_format(head: bytes) -> str | None:
    for magic, name in _OTHER_SIGNATURES:
        if head.startswith(magic):
            return name
    if head[:1] == b"\x0a" and len(head) > 2 and head[1] in (0, 2, 3, 4, 5) and head[2] == 1:
        return "PCX"
    if len(head) > 2 and head[:1] == b"P" and head[1:2] in b"1234567" and head[2:3] in b" \t\r\n":
        return "PPM/PGM/PBM"
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF"
        if brand in (b"heic", b"heix", b"hevc", b"mif1", b"msf1"):
            return "HEIF"
    return None


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file into uint8 (H, W, 3) RGB or (H, W, 1) grayscale.

    EXIF orientation is applied; a GIF (or animated PNG/WebP, multi-page TIFF) gives its
    first frame; palette images become RGB (or gray when the palette is all gray);
    transparency is composited over white; 16-bit and 32-bit integer images are scaled
    to 0..255 (``I;16``: v / 257; ``I``: the same when its values lie in 0..65535, else
    its own min..max); float images in [0, 1] are scaled by 255 (else min..max);
    1-bit becomes 0/255 gray; CMYK and other colour spaces become RGB.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image file")
    if not path.exists():
        if path.is_symlink():
            raise ImageError(f"{path}: is a broken link (its target does not exist)")
        raise ImageError(f"{path}: no such file")
    if not path.is_file():
        raise ImageError(f"{path}: is not a regular file")
    try:
        size = path.stat().st_size
        if size == 0:
            raise ImageError(f"{path}: is empty (0 bytes), not an image")
        with path.open("rb") as f:
            head = f.read(32)
    except OSError as e:
        raise ImageError(f"{path}: cannot be read ({e.strerror or e})") from e

    fmt = ""
    try:
        with warnings.catch_warnings():
            # Pillow's own bomb check only warns between MAX_IMAGE_PIXELS and twice that;
            # make it an error everywhere. Its UserWarnings (e.g. corrupt EXIF) concern
            # metadata of an image that otherwise decodes, so they are not the user's problem.
            warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=list(ALLOWED_FORMATS)) as im:
                width, height = im.size
                if width * height > MAX_PIXELS:
                    raise ImageError(
                        f"{path}: {width}×{height} pixels is more than the {MAX_PIXELS:,} allowed "
                        "(possibly a decompression bomb)"
                    )
                if width < 1 or height < 1:
                    raise ImageError(f"{path}: has no pixels ({width}×{height})")
                fmt = im.format or ""
                im.load()  # full decode now, so truncation and corruption surface here
                upright = ImageOps.exif_transpose(im)
                return _to_array(upright)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"{path}: too many pixels (possibly a decompression bomb): {e}") from e
    except UnidentifiedImageError as e:
        other = _sniff_other_format(head)
        allowed = ", ".join(ALLOWED_FORMATS)
        if other:
            raise ImageError(f"{path}: format {other} is not supported (allowed: {allowed})") from e
        raise ImageError(f"{path}: not an image file (or not in a supported format: {allowed})") from e
    except MemoryError as e:
        raise ImageError(f"{path}: too large to decode") from e
    except Exception as e:  # noqa: BLE001 - any decoder failure means a broken file
        # Truncated and corrupt files surface as OSError, SyntaxError, ValueError,
        # EOFError, struct.error, zlib.error … depending on the plugin.
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        what = f"{fmt} image" if fmt else "image"
        raise ImageError(f"{path}: {what} is truncated or corrupt ({detail})") from e


def _composite_over_white(values: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    a = alpha.astype(np.float32)[..., None] / 255.0
    out = values.astype(np.float32) * a + 255.0 * (1.0 - a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _scale_wide(values: np.ndarray, mode: str) -> np.ndarray:
    """16/32-bit integer or float gray values → uint8 0..255."""
    v = values.astype(np.float64)
    finite = np.isfinite(v)
    if not finite.all():
        v = np.where(finite, v, 0.0)
    lo, hi = (float(v.min()), float(v.max())) if v.size else (0.0, 0.0)
    if mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535):
        out = v / 257.0  # 65535 / 257 = 255 exactly
    elif mode == "F" and lo >= 0 and hi <= 1:
        out = v * 255.0
    elif hi > lo:
        out = (v - lo) * (255.0 / (hi - lo))
    else:
        out = np.zeros_like(v)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _to_array(im: PILImage.Image) -> np.ndarray:
    mode = im.mode
    if mode == "1":
        return np.asarray(im.convert("L"), np.uint8)[..., None]
    if mode == "L":
        return np.asarray(im, np.uint8)[..., None]
    if mode in ("LA", "La"):
        arr = np.asarray(im.convert("LA"), np.uint8)
        return _composite_over_white(arr[..., :1], arr[..., 1])
    if mode == "RGB":
        return np.asarray(im, np.uint8)
    if mode in ("RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in im.info):
        arr = np.asarray(im.convert("RGBA"), np.uint8)
        rgb = _composite_over_white(arr[..., :3], arr[..., 3])
        return _gray_if_palette_gray(rgb) if mode in ("P", "PA") else rgb
    if mode == "P":
        return _gray_if_palette_gray(np.asarray(im.convert("RGB"), np.uint8))
    if mode.startswith("I") or mode == "F":
        return _scale_wide(np.asarray(im), mode)[..., None]
    # CMYK, YCbCr, LAB, HSV, RGBX …: Pillow knows the conversion.
    return np.asarray(im.convert("RGB"), np.uint8)


def _gray_if_palette_gray(rgb: np.ndarray) -> np.ndarray:
    """A palette image whose colours are all gray is a grayscale image."""
    if np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 1], rgb[..., 2]):
        return np.ascontiguousarray(rgb[..., :1])
    return rgb


# ------------------------------------------------------------------ fit to the model


def _as_hwc(img: np.ndarray, what: str) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 2:
        img = img[..., None]
    if img.ndim != 3 or img.shape[0] < 1 or img.shape[1] < 1 or img.shape[2] < 1:
        raise ValueError(f"{what}: expected an image of shape (H, W) or (H, W, C), got {img.shape}")
    return img


def _convert_channels(x: np.ndarray, c: int) -> np.ndarray:
    """float (H, W, C0) → (H, W, c): luma for gray targets, repetition for colour ones."""
    c0 = x.shape[2]
    if c0 == c:
        return x
    if c == 1:
        if c0 >= 3:
            return (x[..., :3] @ LUMA_601)[..., None]
        return x.mean(axis=2, keepdims=True)
    gray = (
        x if c0 == 1 else ((x[..., :3] @ LUMA_601)[..., None] if c0 >= 3 else x.mean(axis=2, keepdims=True))
    )
    return np.repeat(gray, c, axis=2)


def border_and_centre(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixels of the outer ring (10% of the short side, at least 1 px) and of the
    middle half of ``x`` (H, W, C), each as (n, C)."""
    h, w = x.shape[:2]
    ring = max(1, round(0.1 * min(h, w)))
    mask = np.zeros((h, w), bool)
    mask[:ring, :] = mask[-ring:, :] = True
    mask[:, :ring] = mask[:, -ring:] = True
    centre = x[h // 4 : h - h // 4 or h, w // 4 : w - w // 4 or w]
    return x[mask], centre.reshape(-1, x.shape[2])


def fit_image(img: np.ndarray, shape: tuple[int, int, int], *, invert: bool | None = None) -> np.ndarray:
    """Fit ``img`` (uint8 (H, W) or (H, W, C)) to the model input ``shape`` = (h, w, c).

    The image is resized with its aspect ratio kept (Lanczos, antialiased when
    shrinking) to fit inside h×w, then centred and padded. Channels: RGB → gray by
    ITU-R 601 luma when c == 1, gray → RGB by repetition when c == 3 (any other c: the
    gray image repeated). ``invert=None`` is automatic: for a gray (c == 1) target, an
    image whose border (outer 10%) is brighter on average than its centre (middle half)
    — dark ink on light paper — is inverted to match MNIST's white on black. ``True`` /
    ``False`` force it. The padding is the per-channel median of the (possibly
    inverted) border, so the frame continues the picture's background.
    """
    from PIL import Image

    img = _as_hwc(img, "fit_image")
    if len(shape) != 3 or not all(isinstance(v, (int, np.integer)) and v >= 1 for v in shape):
        raise ValueError(f"fit_image: shape must be (height, width, channels) of positive ints, got {shape}")
    th, tw, tc = (int(v) for v in shape)
    h, w, c0 = img.shape
    if img.dtype != np.uint8:
        img = np.clip(np.rint(np.asarray(img, np.float64)), 0, 255).astype(np.uint8)

    scale = min(th / h, tw / w)
    nh = min(th, max(1, round(h * scale)))
    nw = min(tw, max(1, round(w * scale)))
    if (nh, nw) == (h, w):
        small = img.astype(np.float32)
    elif c0 in (1, 3):
        pil = Image.fromarray(img[..., 0] if c0 == 1 else img, "L" if c0 == 1 else "RGB")
        small = np.asarray(pil.resize((nw, nh), Image.Resampling.LANCZOS), np.float32)
        small = small.reshape(nh, nw, c0)
    else:  # unusual channel counts: one float image per channel
        small = np.stack(
            [
                np.asarray(
                    Image.fromarray(img[..., k].astype(np.float32), "F").resize(
                        (nw, nh), Image.Resampling.LANCZOS
                    ),
                    np.float32,
                )
                for k in range(c0)
            ],
            axis=2,
        )
        small = np.clip(small, 0, 255)

    small = _convert_channels(small, tc)
    if invert is None:
        border, centre = border_and_centre(small)
        invert = tc == 1 and float(border.mean()) > float(centre.mean())
    if invert:
        small = 255.0 - small
    pad_value = np.median(border_and_centre(small)[0], axis=0)  # (tc,)

    out = np.empty((th, tw, tc), np.float32)
    out[...] = pad_value
    top, left = (th - nh) // 2, (tw - nw) // 2
    out[top : top + nh, left : left + nw] = small
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------ move the image


def transform_image(
    img: np.ndarray, dx: float = 0, dy: float = 0, angle: float = 0, scale: float = 1
) -> np.ndarray:
    """Shift by (dx right, dy down) pixels, rotate by ``angle`` degrees counter-clockwise
    and scale by ``scale``, both about the image centre; same shape, pixels that come
    from outside the image are 0.

    Inverse mapping with bilinear sampling: each output pixel looks up where it came
    from. A uint8 image gives uint8 (rounded); any other dtype gives float32.
    """
    arr = np.asarray(img)
    flat = arr.ndim == 2
    x = _as_hwc(arr, "transform_image")
    if not (math.isfinite(dx) and math.isfinite(dy) and math.isfinite(angle) and math.isfinite(scale)):
        raise ValueError(
            f"transform_image: dx, dy, angle and scale must be finite, got {(dx, dy, angle, scale)}"
        )
    if scale <= 0:
        raise ValueError(f"transform_image: scale must be positive, got {scale}")
    h, w, c = x.shape
    out_dtype = np.uint8 if arr.dtype == np.uint8 else np.float32
    if dx == 0 and dy == 0 and angle % 360 == 0 and scale == 1:
        out = x.astype(out_dtype, copy=True)
        return out[..., 0] if flat else out

    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    theta = math.radians(angle)
    cos, sin = math.cos(theta), math.sin(theta)
    # Exact quarter turns, so that 90° equals np.rot90 without rounding noise.
    cos, sin = (
        (round(cos) if abs(cos - round(cos)) < 1e-12 else cos),
        (round(sin) if abs(sin - round(sin)) < 1e-12 else sin),
    )
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    u = (xx - cx - dx) / scale
    v = (yy - cy - dy) / scale
    # Forward (x right, y down, counter-clockwise on screen): x' = cos·x + sin·y,
    # y' = −sin·x + cos·y. Its inverse is the transpose.
    src_x = cos * u - sin * v + cx
    src_y = sin * u + cos * v + cy
    # Coordinates within rounding of an integer are that integer (no half-weights from noise).
    for s in (src_x, src_y):
        near = np.rint(s)
        close = np.abs(s - near) < 1e-9
        s[close] = near[close]

    x0 = np.floor(src_x).astype(np.int64)
    y0 = np.floor(src_y).astype(np.int64)
    fx = (src_x - x0).astype(np.float32)[..., None]
    fy = (src_y - y0).astype(np.float32)[..., None]
    xf = x.astype(np.float32)
    acc = np.zeros((h, w, c), np.float32)
    for oy, ox, weight in (
        (0, 0, (1 - fy) * (1 - fx)),
        (0, 1, (1 - fy) * fx),
        (1, 0, fy * (1 - fx)),
        (1, 1, fy * fx),
    ):
        yi, xi = y0 + oy, x0 + ox
        valid = (yi >= 0) & (yi < h) & (xi >= 0) & (xi < w)
        vals = xf[np.clip(yi, 0, h - 1), np.clip(xi, 0, w - 1)]
        acc += np.where(valid[..., None], vals * weight, 0.0)
    if out_dtype == np.uint8:
        result = np.clip(np.rint(acc), 0, 255).astype(np.uint8)
    else:
        result = acc
    return result[..., 0] if flat else result
