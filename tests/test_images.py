"""convscope.data.images: every supported mode and format converted correctly, every bad
input refused with a one-line ImageError naming the file, and fit/transform geometry.

Fixtures are generated here with Pillow; the real photo is tests/data/chelsea.png (shipped,
see tests/data/PROVENANCE.md).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convscope.data import DataError
from convscope.data.images import (
    ALLOWED_FORMATS,
    MAX_PIXELS,
    ImageError,
    fit_image,
    load_image,
    transform_image,
)

PHOTOS = Path(__file__).resolve().parent / "data"
PHOTO_SHAPES = {"chelsea.png": (300, 451, 3)}


def _rgb_pattern(h: int = 12, w: int = 16) -> np.ndarray:
    """An asymmetric colour image with blocks large enough to survive JPEG."""
    img = np.zeros((h, w, 3), np.uint8)
    img[: h // 2, : w // 2] = (255, 0, 0)
    img[: h // 2, w // 2 :] = (0, 255, 0)
    img[h // 2 :, : w // 2] = (0, 0, 255)
    img[h // 2 :, w // 2 :] = (255, 255, 255)
    return img


def _mode(path: Path) -> str:
    with Image.open(path) as im:
        return im.mode


# --- modes and formats ---------------------------------------------------------------------


def test_rgba_is_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[...] = (255, 0, 0, 128)  # half-transparent red
    rgba[0, 0] = (0, 0, 0, 0)  # fully transparent → white
    rgba[0, 1] = (10, 20, 30, 255)  # opaque → itself
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    got = load_image(tmp_path / "a.png")
    assert got.shape == (4, 5, 3) and got.dtype == np.uint8
    assert tuple(got[1, 1]) == (255, 127, 127)  # 0·a + 255·(1 − 128/255) = 127
    assert tuple(got[0, 0]) == (255, 255, 255)
    assert tuple(got[0, 1]) == (10, 20, 30)


def test_la_is_composited_over_white_and_stays_gray(tmp_path: Path) -> None:
    la = np.zeros((3, 3, 2), np.uint8)
    la[..., 0] = 0
    la[..., 1] = 255
    la[1, 1] = (0, 0)  # transparent black → white
    la[2, 2] = (100, 51)  # 100·0.2 + 255·0.8 = 224
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    got = load_image(tmp_path / "la.png")
    assert got.shape == (3, 3, 1)
    assert got[0, 0, 0] == 0 and got[1, 1, 0] == 255 and got[2, 2, 0] == 224


def test_grayscale_keeps_one_channel(tmp_path: Path) -> None:
    gray = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    got = load_image(tmp_path / "g.png")
    assert got.shape == (6, 10, 1)
    np.testing.assert_array_equal(got[..., 0], gray)


def test_palette_becomes_rgb_or_gray(tmp_path: Path) -> None:
    idx = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    colour = Image.fromarray(idx, "P")
    colour.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (253 * 3))
    colour.save(tmp_path / "p.png")
    got = load_image(tmp_path / "p.png")
    assert got.shape == (2, 3, 3)
    assert (
        tuple(got[0, 0]) == (255, 0, 0)
        and tuple(got[0, 1]) == (0, 255, 0)
        and tuple(got[0, 2]) == (0, 0, 255)
    )

    gray = Image.fromarray(idx, "P")
    gray.putpalette([0, 0, 0, 128, 128, 128, 255, 255, 255] + [0] * (253 * 3))
    gray.save(tmp_path / "pg.png")
    got = load_image(tmp_path / "pg.png")
    assert got.shape == (2, 3, 1)
    np.testing.assert_array_equal(got[..., 0], np.array([[0, 128, 255], [255, 128, 0]]))


def test_palette_transparency_is_composited(tmp_path: Path) -> None:
    idx = np.array([[0, 1]], np.uint8)
    im = Image.fromarray(idx, "P")
    im.putpalette([255, 0, 0, 0, 0, 255] + [0] * (254 * 3))
    im.save(tmp_path / "pt.png", transparency=0)
    got = load_image(tmp_path / "pt.png")
    assert tuple(got[0, 0]) == (255, 255, 255) and tuple(got[0, 1]) == (0, 0, 255)


def test_16_bit_is_scaled_to_8_bit(tmp_path: Path) -> None:
    values = np.array([[0, 257, 32768, 65535], [1000, 2570, 12850, 65278]], np.uint16)
    Image.fromarray(values).save(tmp_path / "i16.png")
    assert _mode(tmp_path / "i16.png").startswith("I")
    got = load_image(tmp_path / "i16.png")
    assert got.shape == (2, 4, 1)
    np.testing.assert_array_equal(got[..., 0], np.rint(values / 257.0).astype(np.uint8))
    # 32-bit integer TIFF holding 16-bit values: the same scale.
    Image.fromarray(values.astype(np.int32)).save(tmp_path / "i32.tif")
    assert _mode(tmp_path / "i32.tif") == "I"
    np.testing.assert_array_equal(load_image(tmp_path / "i32.tif")[..., 0], np.rint(values / 257.0))


def test_one_bit_becomes_0_and_255(tmp_path: Path) -> None:
    bits = np.array([[1, 0, 1], [0, 0, 1]], bool)
    Image.fromarray(bits).convert("1").save(tmp_path / "b.png")
    got = load_image(tmp_path / "b.png")
    assert got.shape == (2, 3, 1)
    np.testing.assert_array_equal(got[..., 0], bits * 255)


def test_cmyk_jpeg_becomes_rgb(tmp_path: Path) -> None:
    Image.fromarray(_rgb_pattern(32, 32)).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert _mode(tmp_path / "c.jpg") == "CMYK"
    got = load_image(tmp_path / "c.jpg")
    assert got.shape == (32, 32, 3)
    for (r, c), want in {(4, 4): (255, 0, 0), (4, 28): (0, 255, 0), (28, 4): (0, 0, 255)}.items():
        assert np.abs(got[r, c].astype(int) - want).max() < 12, (r, c, got[r, c])


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    img = _rgb_pattern(16, 32)  # wide: 16 rows, 32 columns
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation 6: the camera was turned; display rotated 90° clockwise
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=exif, quality=95)
    got = load_image(tmp_path / "r.jpg")
    assert got.shape == (32, 16, 3)  # upright: tall
    want = np.rot90(img, k=-1)  # clockwise
    # compare the middle of each colour block (JPEG blurs colour across block edges)
    for r in (4, 12, 20, 28):
        for c in (4, 12):
            assert np.abs(got[r, c].astype(int) - want[r, c].astype(int)).max() < 40, (r, c)
    # the red block (top-left of the stored image) is now top-right
    assert got[4, 12, 0] > 200 and got[4, 12, 1] < 60


def test_gif_first_frame(tmp_path: Path) -> None:
    red = Image.new("RGB", (8, 6), (255, 0, 0))
    blue = Image.new("RGB", (8, 6), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue], duration=100, loop=0)
    with Image.open(tmp_path / "anim.gif") as im:
        assert im.n_frames == 2
    got = load_image(tmp_path / "anim.gif")
    assert got.shape == (6, 8, 3)
    assert (got == (255, 0, 0)).all()


@pytest.mark.parametrize(
    ("fmt", "suffix", "kwargs"),
    [
        ("TIFF", "tif", {}),
        ("TIFF", "tiff", {"compression": "tiff_lzw"}),
        ("WEBP", "webp", {"lossless": True}),
        ("BMP", "bmp", {}),
        ("PNG", "png", {}),
    ],
)
def test_lossless_formats_round_trip(tmp_path: Path, fmt: str, suffix: str, kwargs: dict) -> None:
    img = np.random.default_rng(1).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    path = tmp_path / f"x.{suffix}"
    Image.fromarray(img).save(path, format=fmt, **kwargs)
    assert fmt in ALLOWED_FORMATS
    np.testing.assert_array_equal(load_image(path), img)


def test_real_photos(tmp_path: Path) -> None:
    for name, shape in PHOTO_SHAPES.items():
        src = PHOTOS / name
        dst = tmp_path / name
        shutil.copyfile(src, dst)
        got = load_image(dst)
        assert got.shape == shape and got.dtype == np.uint8
        with Image.open(src) as im:
            np.testing.assert_array_equal(got, np.asarray(im.convert("RGB")))
        fitted = fit_image(got, (28, 28, 1))
        assert fitted.shape == (28, 28, 1) and fitted.dtype == np.uint8 and fitted.std() > 5
        assert fit_image(got, (32, 32, 3)).shape == (32, 32, 3)


# --- bad input ----------------------------------------------------------------------------


def _png_bytes(size: tuple[int, int] = (4, 4), mode: str = "L") -> bytes:
    import io

    buf = io.BytesIO()
    Image.new(mode, size).save(buf, format="PNG")
    return buf.getvalue()


def _patch_ihdr(data: bytes, width: int, height: int) -> bytes:
    """Rewrite a PNG's IHDR width and height (and its CRC): a header that lies."""
    assert data[12:16] == b"IHDR"
    body = struct.pack(">II", width, height) + data[24:29]
    crc = struct.pack(">I", zlib.crc32(b"IHDR" + body) & 0xFFFFFFFF)
    return data[:16] + body + crc + data[33:]


def _expect(path: Path, message: str) -> ImageError:
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    text = str(info.value)
    assert str(path) in text and "\n" not in text
    assert isinstance(info.value, DataError)
    return info.value


def test_text_file_named_png(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("just some text, not pixels\n")
    _expect(path, "not an image")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    _expect(path, "empty")


def test_directory_and_missing_file(tmp_path: Path) -> None:
    folder = tmp_path / "folder.png"
    folder.mkdir()
    _expect(folder, "directory")
    _expect(tmp_path / "nope.jpg", "no such file")


def test_truncated_png(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    _expect(path, "truncated or corrupt")


def test_truncated_jpeg(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.jpg")
    data = (tmp_path / "full.jpg").read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 3])
    _expect(path, "truncated or corrupt")


def test_corrupt_png_data(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "ok.png")
    data = bytearray((tmp_path / "ok.png").read_bytes())
    start = data.index(b"IDAT") + 4
    data[start + 10 : start + 40] = bytes(30)  # damage the compressed pixels (and the CRC check)
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    _expect(path, "truncated or corrupt")


@pytest.mark.parametrize("side", [7_000, 20_000])
def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path, side: int) -> None:
    # 7000² = 49 M is over our cap but under Pillow's; 20000² = 400 M trips Pillow's own error.
    assert side * side > MAX_PIXELS
    path = tmp_path / f"bomb{side}.png"
    path.write_bytes(_patch_ihdr(_png_bytes(), side, side))
    _expect(path, "decompression bomb")


@pytest.mark.parametrize(
    ("fmt", "suffix", "name"), [("ICO", "ico", "ICO"), ("PCX", "pcx", "PCX"), ("PPM", "ppm", "PPM")]
)
def test_formats_outside_the_allowlist(tmp_path: Path, fmt: str, suffix: str, name: str) -> None:
    path = tmp_path / f"pic.{suffix}"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(path, format=fmt)
    err = _expect(path, "not supported")
    assert name in str(err)
    # The same bytes under an allowed-looking name are still refused.
    disguised = tmp_path / "pic.png"
    disguised.write_bytes(path.read_bytes())
    _expect(disguised, "not supported")


def test_images_module_is_not_imported_by_the_data_package() -> None:
    code = (
        "import sys, convscope.data.images; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'PySide6', 'PIL')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --- fit_image ---------------------------------------------------------------------------


def test_fit_keeps_aspect_and_centres() -> None:
    bar = np.full((10, 20), 255, np.uint8)  # 20 wide, 10 tall, with a black frame
    bar[0, :] = bar[-1, :] = 0
    bar[:, 0] = bar[:, -1] = 0
    out = fit_image(bar, (28, 28, 1), invert=False)
    assert out.shape == (28, 28, 1) and out.dtype == np.uint8
    # 20×10 → 28×14, rows 7…20; above and below: the border's median (black)
    assert (out[:7] == 0).all() and (out[21:] == 0).all()
    assert (out[9:19, 2:26] > 200).all()
    # rows 7 and 20 hold the (black) frame; everything bright lies between them
    assert np.nonzero(out.max(axis=(1, 2)) > 100)[0].tolist() == list(range(8, 20))
    np.testing.assert_array_equal(fit_image(bar, (28, 28, 1)), out)  # auto: no inversion


def test_fit_pads_tall_images_at_the_sides() -> None:
    tall = np.zeros((40, 10, 3), np.uint8)
    tall[5:35, 3:7] = (200, 100, 50)
    out = fit_image(tall, (20, 20, 3))
    assert out.shape == (20, 20, 3)
    # 10×40 → 5×20: columns 7…11 hold the image, the rest is the (black) border colour
    assert (out[:, :7] == 0).all() and (out[:, 12:] == 0).all()
    assert out[10, 9, 0] > 150


def test_fit_inverts_dark_ink_on_light_paper() -> None:
    paper = np.full((56, 56), 230, np.uint8)
    paper[10:46, 25:31] = 20  # a dark "1"
    out = fit_image(paper, (28, 28, 1))
    assert out[0, 0, 0] == 255 - 230 and out[14, 14, 0] > 200  # white on black now
    kept = fit_image(255 - paper, (28, 28, 1))  # already white on black: left alone
    assert kept[0, 0, 0] == 255 - 230 and kept[14, 14, 0] > 200
    assert fit_image(paper, (28, 28, 1), invert=False)[0, 0, 0] == 230


def test_fit_converts_channels() -> None:
    red = np.zeros((28, 28, 3), np.uint8)
    red[...] = (255, 0, 0)
    gray = fit_image(red, (28, 28, 1), invert=False)
    assert gray.shape == (28, 28, 1) and (gray == round(0.299 * 255)).all()
    mixed = np.zeros((28, 28, 3), np.uint8)
    mixed[...] = (10, 200, 30)
    want = round(0.299 * 10 + 0.587 * 200 + 0.114 * 30)
    assert (fit_image(mixed, (28, 28, 1), invert=False) == want).all()
    g = np.arange(28 * 28, dtype=np.uint32).reshape(28, 28, 1) % 256
    rgb = fit_image(g.astype(np.uint8), (28, 28, 3))
    assert rgb.shape == (28, 28, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], g[..., 0])  # same size: values unchanged


def test_fit_downscales_with_antialiasing() -> None:
    stripes = np.zeros((280, 280), np.uint8)
    stripes[:, ::2] = 255  # 1-pixel stripes: a point sampler would alias them
    out = fit_image(stripes, (28, 28, 1), invert=False)
    assert np.abs(out[4:-4, 4:-4].astype(int) - 128).max() < 10


def test_fit_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="shape"):
        fit_image(np.zeros((4, 4, 3), np.uint8), (28, 28))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="got"):
        fit_image(np.zeros((4,), np.uint8), (28, 28, 1))


# --- transform_image -----------------------------------------------------------------------


def test_shift_moves_a_pixel() -> None:
    img = np.zeros((20, 20, 1), np.uint8)
    img[10, 10] = 255
    out = transform_image(img, dx=3)
    assert out.shape == img.shape and out.dtype == np.uint8
    assert out[10, 13, 0] == 255 and out.sum() == 255
    down = transform_image(img, dy=2, dx=-1)
    assert down[12, 9, 0] == 255 and down.sum() == 255
    np.testing.assert_array_equal(transform_image(img), img)


def test_rotation_by_90_degrees_equals_rot90() -> None:
    rng = np.random.default_rng(4)
    for side in (15, 16):
        img = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
        np.testing.assert_array_equal(transform_image(img, angle=90), np.rot90(img))
        np.testing.assert_array_equal(transform_image(img, angle=-90), np.rot90(img, -1))
        np.testing.assert_array_equal(transform_image(img, angle=180), np.rot90(img, 2))


def test_rotation_of_an_asymmetric_shape() -> None:
    img = np.zeros((21, 21), np.uint8)
    img[10, 10:19] = 255  # a bar from the centre to the right
    out = transform_image(img, angle=90)  # counter-clockwise: it now points up
    assert out.shape == (21, 21)
    assert (out[2:11, 10] == 255).all() and out[10, 11:].max() == 0


def test_scale_two_doubles_a_square() -> None:
    img = np.zeros((20, 20), np.uint8)
    img[8:12, 8:12] = 255  # side 4, centred on 9.5
    out = transform_image(img, scale=2)
    bright = out > 127
    rows, cols = np.nonzero(bright)
    assert rows.max() - rows.min() + 1 == 8 and cols.max() - cols.min() + 1 == 8
    assert bright[6:14, 6:14].all()
    half = transform_image(img, scale=0.5)
    assert (half > 0).sum() <= 9


def test_transform_fills_with_zero_and_validates() -> None:
    img = np.full((10, 10, 1), 200, np.uint8)
    out = transform_image(img, dx=4)
    assert (out[:, :4] == 0).all() and (out[:, 4:] == 200).all()
    with pytest.raises(ValueError, match="scale"):
        transform_image(img, scale=0)
    with pytest.raises(ValueError, match="finite"):
        transform_image(img, angle=float("nan"))
