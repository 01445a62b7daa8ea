from __future__ import annotations

import io
import itertools
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageOps

from dcpt_sdk import imaging
from dcpt_sdk.errors import InvalidImageError, UnsupportedOptionError
from dcpt_sdk.imaging import (
    IMAGE_SUFFIXES,
    ImageInfo,
    from_float,
    from_pil,
    gray_to_rgb,
    merge_alpha,
    read_image,
    rgb_to_gray,
    split_alpha,
    to_float,
    to_pil,
    write_image,
    write_text_atomic,
)

SHAPES = {"HW": (6, 7), "HWx1": (6, 7, 1), "RGB": (6, 7, 3), "RGBA": (6, 7, 4)}


def _random(rng: np.random.Generator, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)
    return rng.random(shape).astype(dtype)


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# -- to_float / from_float -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_float_round_trip_keeps_kind(rng, dtype, shape_name):
    pixels = _random(rng, SHAPES[shape_name], dtype)
    image, info = to_float(pixels)
    assert image.dtype == np.float32 and image.flags.c_contiguous
    assert image.shape == (6, 7, 1 if pixels.ndim == 2 else pixels.shape[2])
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert info == ImageInfo(np.dtype(dtype), "HW" if pixels.ndim == 2 else "HWC", image.shape[2])
    back = from_float(image, info)
    assert back.dtype == pixels.dtype and back.shape == pixels.shape
    if dtype == np.float64:  # the float32 step costs float64 its extra digits
        np.testing.assert_allclose(back, pixels, atol=1e-7)
    else:
        np.testing.assert_array_equal(back, pixels)


def test_uint16_never_goes_through_8_bit():
    pixels = np.array([[0, 1, 255, 256, 257, 65534, 65535]], dtype=np.uint16)
    image, info = to_float(pixels)
    assert len(np.unique(image)) == pixels.size
    np.testing.assert_array_equal(from_float(image, info), pixels)


def test_to_float_accepts_big_endian_and_copies(rng):
    pixels = _random(rng, (4, 5, 3), np.uint16).astype(">u2")
    image, info = to_float(pixels)
    assert info.dtype == np.dtype(np.uint16)
    np.testing.assert_array_equal(from_float(image, info), pixels.astype(np.uint16))
    floats = rng.random((4, 5, 3)).astype(np.float32)
    converted, _ = to_float(floats)
    converted[:] = 0
    assert floats.any()  # the caller's array was not aliased


def test_from_float_clips_and_rounds():
    info = ImageInfo(np.dtype(np.uint8), "HW", 1)
    image = np.array([[[-0.5], [0.2 / 255], [0.6 / 255], [1.0], [1.7]]], dtype=np.float32)
    np.testing.assert_array_equal(from_float(image, info), [[0, 0, 1, 255, 255]])
    as_float = from_float(image, ImageInfo(np.dtype(np.float32), "HWC", 1))
    assert as_float.min() == 0.0 and as_float.max() == 1.0


@pytest.mark.parametrize(
    ("pixels", "match"),
    [
        (np.zeros((4, 4), np.int32), "dtype int32.*uint8, uint16"),
        (np.zeros((4, 4), bool), "dtype bool"),
        (np.zeros((4, 4), np.complex64), "dtype complex64"),
        (np.zeros(4, np.uint8), r"H x W or H x W x C, got shape \(4,\)"),
        (np.zeros((1, 4, 4, 3), np.uint8), "got shape"),
        (np.zeros((4, 4, 2), np.uint8), "got 2 channels.*1 \\(gray\\), 3 \\(RGB\\)"),
        (np.zeros((4, 4, 5), np.uint8), "got 5 channels"),
        (np.zeros((0, 4, 3), np.uint8), "empty"),
        (np.full((2, 2), np.nan, np.float32), "4 NaN or infinite"),
        (np.array([[0.5, np.inf]], np.float16), "1 NaN or infinite"),
        ([[1, 2]], "expected a numpy array, got list"),
    ],
)
def test_to_float_rejects_with_a_helpful_message(pixels, match):
    with pytest.raises(InvalidImageError, match=match):
        to_float(pixels)


def test_from_float_rejects_wrong_channels_and_nan():
    info = ImageInfo(np.dtype(np.uint8), "HWC", 3)
    with pytest.raises(InvalidImageError, match="got 4 channels but the original image had 3"):
        from_float(np.zeros((2, 2, 4), np.float32), info)
    with pytest.raises(InvalidImageError, match="precision='fp32'"):
        from_float(np.full((2, 2, 3), np.nan, np.float32), info)


# -- channel helpers -------------------------------------------------------------------------


def test_split_and_merge_alpha(rng):
    rgba = rng.random((3, 4, 4)).astype(np.float32)
    colour, alpha = split_alpha(rgba)
    assert colour.shape == (3, 4, 3) and alpha is not None and alpha.shape == (3, 4, 1)
    np.testing.assert_array_equal(merge_alpha(colour, alpha), rgba)
    rgb = rgba[:, :, :3]
    same, no_alpha = split_alpha(rgb)
    assert same is rgb and no_alpha is None
    assert merge_alpha(rgb, None) is rgb


def test_gray_rgb_round_trip(rng):
    gray = rng.random((3, 4, 1)).astype(np.float32)
    rgb = gray_to_rgb(gray)
    assert rgb.shape == (3, 4, 3) and np.array_equal(rgb[:, :, 2], gray[:, :, 0])
    np.testing.assert_allclose(rgb_to_gray(rgb), gray, atol=1e-7)
    assert rgb_to_gray(rgb).dtype == np.float32
    with pytest.raises(InvalidImageError, match="H x W x 1"):
        gray_to_rgb(rgb)


# -- PIL -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "dtype", "mode"),
    [
        ((5, 6), np.uint8, "L"),
        ((5, 6, 3), np.uint8, "RGB"),
        ((5, 6, 4), np.uint8, "RGBA"),
        ((5, 6), np.uint16, "I;16"),
        ((5, 6), np.float32, "F"),
    ],
)
def test_pil_round_trip_keeps_mode(rng, shape, dtype, mode):
    pixels = _random(rng, shape, dtype)
    image = to_pil(pixels)
    assert image.mode == mode and image.size == (6, 5)
    back = from_pil(image)
    assert back.dtype == pixels.dtype
    np.testing.assert_array_equal(back, pixels)


def test_from_pil_converts_other_modes():
    palette = Image.new("P", (3, 2))
    palette.putpalette([10, 20, 30] * 256)
    assert from_pil(palette).shape == (2, 3, 3)
    palette.info["transparency"] = 0
    assert from_pil(palette).shape == (2, 3, 4)
    assert from_pil(Image.new("LA", (3, 2))).shape == (2, 3, 4)
    assert from_pil(Image.new("1", (3, 2), 1)).tolist() == [[255] * 3] * 2
    assert from_pil(Image.new("CMYK", (3, 2))).shape == (2, 3, 3)
    big_endian = Image.new("I;16B", (3, 2), 300)
    assert from_pil(big_endian).dtype == np.uint16 and from_pil(big_endian)[0, 0] == 300
    assert from_pil(Image.new("I", (3, 2), 1000)).dtype == np.uint16
    with pytest.raises(InvalidImageError, match="-5..-5 do not fit 16 bits"):
        from_pil(Image.new("I", (3, 2), -5))


def test_to_pil_refuses_16_bit_colour(rng):
    with pytest.raises(InvalidImageError, match="Pillow has no image mode for uint16"):
        to_pil(_random(rng, (4, 4, 3), np.uint16))


# -- files: round trips ----------------------------------------------------------------------

GRAY, RGB, RGBA = (9, 11), (9, 11, 3), (9, 11, 4)
# PNG and TIFF keep 8 and 16 bits in every layout; TIFF also float gray; BMP 8-bit gray and RGB
# (Pillow reads its own RGBA BMPs back as RGB).
LOSSLESS = [
    *itertools.product([".png", ".tif"], [np.uint8, np.uint16], [GRAY, RGB, RGBA]),
    (".tiff", np.uint8, RGB),
    (".tif", np.float32, GRAY),
    (".bmp", np.uint8, GRAY),
    (".bmp", np.uint8, RGB),
]


@pytest.mark.parametrize(("suffix", "dtype", "shape"), LOSSLESS)
def test_lossless_formats_round_trip_exactly(tmp_path, rng, suffix, dtype, shape):
    pixels = _random(rng, shape, dtype)  # full range: uint16 values far above 255
    path = tmp_path / f"image{suffix}"
    write_image(path, pixels)
    loaded = read_image(path)
    assert loaded.pixels.dtype == pixels.dtype
    np.testing.assert_array_equal(loaded.pixels, pixels)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp file left


@pytest.mark.parametrize(
    ("suffix", "shape"),
    [(".jpg", (16, 24)), (".jpeg", (16, 24, 3)), (".webp", (16, 24, 3)), (".webp", (16, 24, 4))],
)
def test_lossy_formats_round_trip_closely(tmp_path, suffix, shape):
    ramp = np.linspace(0, 255, shape[0] * shape[1]).reshape(shape[:2])
    pixels = np.stack([ramp] * (shape[2] if len(shape) == 3 else 1), axis=-1)
    pixels = pixels.reshape(shape).astype(np.uint8)
    path = tmp_path / f"image{suffix}"
    write_image(path, pixels, quality=100)
    loaded = read_image(path)
    assert loaded.pixels.shape == pixels.shape and loaded.pixels.dtype == np.uint8
    assert np.abs(loaded.pixels.astype(int) - pixels).mean() < 3


def test_16_bit_png_is_a_standard_png(tmp_path, rng):
    pixels = _random(rng, (5, 8, 3), np.uint16)
    write_image(tmp_path / "a.png", pixels)
    with Image.open(tmp_path / "a.png") as image:  # Pillow's own decoder keeps the high bytes
        np.testing.assert_array_equal(np.asarray(image), (pixels >> 8).astype(np.uint8))


def test_16_bit_tiff_reads_in_tifffile(tmp_path, rng):
    tifffile = pytest.importorskip("tifffile")
    pixels = _random(rng, (5, 8, 4), np.uint16)
    write_image(tmp_path / "a.tif", pixels, icc_profile=_srgb_profile())
    np.testing.assert_array_equal(tifffile.imread(tmp_path / "a.tif"), pixels)


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "zlib", "predictor": True},
        {"compression": "zlib", "predictor": True, "tile": (16, 16)},
        {"byteorder": ">", "compression": "zlib", "predictor": True, "rowsperstrip": 3},
        {"planarconfig": "separate", "compression": "zlib", "predictor": True},
        {"planarconfig": "separate"},
    ],
)
@pytest.mark.parametrize("channels", [3, 4])
def test_reads_16_bit_colour_tiff_from_other_writers(tmp_path, rng, options, channels):
    tifffile = pytest.importorskip("tifffile")
    pixels = _random(rng, (21, 35, channels), np.uint16)
    stored = pixels.transpose(2, 0, 1) if options.get("planarconfig") else pixels
    extra = {"extrasamples": [2]} if channels == 4 else {}
    tifffile.imwrite(tmp_path / "a.tif", stored, photometric="rgb", **options, **extra)
    loaded = read_image(tmp_path / "a.tif")
    np.testing.assert_array_equal(loaded.pixels, pixels)


def test_16_bit_colour_tiff_stays_within_the_decompression_bomb_limit(tmp_path, rng, monkeypatch):
    """Decoding as a 3x wider gray image must not trip Pillow's limit for the colour image."""
    tifffile = pytest.importorskip("tifffile")
    pixels = _random(rng, (60, 80, 3), np.uint16)
    tifffile.imwrite(
        tmp_path / "a.tif", pixels, photometric="rgb", compression="zlib", rowsperstrip=4
    )
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 60 * 80)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        np.testing.assert_array_equal(read_image(tmp_path / "a.tif").pixels, pixels)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _reference_filter(rows: np.ndarray, bpp: int, kind: int) -> bytes:
    """Textbook per-byte PNG filtering, deliberately simple (independent of the encoder)."""
    out = bytearray()
    previous = [0] * rows.shape[1]
    for row in rows.tolist():
        out.append(kind)
        for i, value in enumerate(row):
            a = row[i - bpp] if i >= bpp else 0
            b = previous[i]
            c = previous[i - bpp] if i >= bpp else 0
            p = a + b - c
            paeth = (
                a
                if abs(p - a) <= abs(p - b) and abs(p - a) <= abs(p - c)
                else (b if abs(p - b) <= abs(p - c) else c)
            )
            predictor = [0, a, b, (a + b) // 2, paeth][kind]
            out.append((value - predictor) % 256)
        previous = row
    return bytes(out)


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4])
def test_reads_16_bit_png_with_every_filter(tmp_path, rng, kind):
    pixels = _random(rng, (5, 6, 3), np.uint16)
    rows = pixels.astype(">u2").reshape(5, -1).view(np.uint8)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 6, 5, 16, 2, 0, 0, 0))
    data += _png_chunk(b"IDAT", zlib.compress(_reference_filter(rows, 6, kind)))
    (tmp_path / "a.png").write_bytes(data + _png_chunk(b"IEND", b""))
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").pixels, pixels)


def test_reads_interlaced_16_bit_png(tmp_path, rng):
    height, width = 11, 13
    pixels = _random(rng, (height, width, 4), np.uint16)
    stream = b""
    for x0, y0, dx, dy in (
        (0, 0, 8, 8),
        (4, 0, 8, 8),
        (0, 4, 4, 8),
        (2, 0, 4, 4),
        (0, 2, 2, 4),
        (1, 0, 2, 2),
        (0, 1, 1, 2),
    ):
        sub = pixels[y0::dy, x0::dx]
        if sub.size:
            stream += _reference_filter(
                sub.astype(">u2").reshape(sub.shape[0], -1).view(np.uint8), 8, 4
            )
    header = struct.pack(">IIBBBBB", width, height, 16, 6, 0, 0, 1)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
    data += _png_chunk(b"IDAT", zlib.compress(stream)) + _png_chunk(b"IEND", b"")
    (tmp_path / "a.png").write_bytes(data)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").pixels, pixels)


def test_gray_alpha_and_palette_become_rgba(tmp_path):
    Image.new("LA", (4, 3), (100, 50)).save(tmp_path / "la.png")
    assert read_image(tmp_path / "la.png").pixels[0, 0].tolist() == [100, 100, 100, 50]
    palette = Image.new("P", (4, 3))
    palette.putpalette([200, 10, 20] * 256)
    palette.save(tmp_path / "p.png", transparency=0)
    assert read_image(tmp_path / "p.png").pixels[0, 0].tolist() == [200, 10, 20, 0]


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    Image.new("CMYK", (4, 3), (0, 255, 255, 0)).save(tmp_path / "c.jpg")
    loaded = read_image(tmp_path / "c.jpg")
    assert loaded.pixels.shape == (3, 4, 3)
    assert loaded.pixels[0, 0, 0] > 200 and loaded.pixels[0, 0, 1] < 50  # red
    assert loaded.icc_profile is None


# -- files: orientation and colour profile ---------------------------------------------------


def _asymmetric(shape: tuple[int, int]) -> np.ndarray:
    return np.arange(shape[0] * shape[1] * 3, dtype=np.uint8).reshape(*shape, 3)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_matches_pillow(tmp_path, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(_asymmetric((4, 6))).save(tmp_path / "o.png", exif=exif)
    with Image.open(tmp_path / "o.png") as image:
        expected = np.asarray(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(read_image(tmp_path / "o.png").pixels, expected)


def test_jpeg_exif_rotation_is_applied(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: display rotated 90 degrees clockwise
    pixels = np.zeros((16, 32, 3), np.uint8)
    pixels[:, :16] = 255  # left half white
    Image.fromarray(pixels).save(tmp_path / "r.jpg", exif=exif, quality=95)
    loaded = read_image(tmp_path / "r.jpg")
    assert loaded.pixels.shape == (32, 16, 3)
    assert loaded.pixels[:12].mean() > 240 and loaded.pixels[-12:].mean() < 15  # white on top


def test_exif_orientation_of_16_bit_png(tmp_path, rng):
    pixels = _random(rng, (4, 6, 3), np.uint16)
    write_image(tmp_path / "a.png", pixels)
    exif = Image.Exif()
    exif[0x0112] = 8
    data = (tmp_path / "a.png").read_bytes()
    raw = exif.tobytes()
    raw = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    data = data[:-12] + _png_chunk(b"eXIf", raw) + data[-12:]
    (tmp_path / "a.png").write_bytes(data)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png").pixels, np.rot90(pixels))


@pytest.mark.parametrize(
    ("suffix", "dtype"),
    [
        (".png", np.uint8),
        (".png", np.uint16),
        (".jpg", np.uint8),
        (".tif", np.uint8),
        (".tif", np.uint16),
        (".webp", np.uint8),
    ],
)
def test_icc_profile_round_trip(tmp_path, rng, suffix, dtype):
    icc = _srgb_profile()
    write_image(tmp_path / f"a{suffix}", _random(rng, (4, 5, 3), dtype), icc_profile=icc)
    assert read_image(tmp_path / f"a{suffix}").icc_profile == icc


def test_bmp_drops_icc_and_gray_profile_mismatch_is_refused(tmp_path, rng):
    write_image(tmp_path / "a.bmp", _random(rng, (4, 5, 3), np.uint8), icc_profile=_srgb_profile())
    assert read_image(tmp_path / "a.bmp").icc_profile is None
    with pytest.raises(InvalidImageError, match="not an RGB/GRAY profile matching"):
        write_image(tmp_path / "g.png", _random(rng, (4, 5), np.uint8), icc_profile=_srgb_profile())


# -- files: errors ---------------------------------------------------------------------------


def test_truncated_png_names_the_file(tmp_path, rng):
    write_image(tmp_path / "full.png", _random(rng, (64, 64, 3), np.uint8))
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match=r"cannot read image '.*cut\.png'.*PNG/JPEG/TIFF"):
        read_image(tmp_path / "cut.png")


@pytest.mark.parametrize(
    ("suffix", "dtype"), [(".png", np.uint16), (".jpg", np.uint8), (".tif", np.uint16)]
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")  # the cut TIFF's directory is gone
def test_truncated_files_raise(tmp_path, rng, suffix, dtype):
    write_image(tmp_path / f"full{suffix}", _random(rng, (64, 64, 3), dtype))
    data = (tmp_path / f"full{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match=f"cut\\{suffix}"):
        read_image(tmp_path / f"cut{suffix}")


def test_text_file_named_jpg(tmp_path):
    (tmp_path / "notes.jpg").write_text("not an image\n")
    with pytest.raises(
        InvalidImageError, match=r"'.*notes\.jpg': not a recognised image; is it a PNG"
    ):
        read_image(tmp_path / "notes.jpg")


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InvalidImageError, match="no such file"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(InvalidImageError, match="it is a folder"):
        read_image(tmp_path)


@pytest.mark.parametrize(
    ("name", "pixels", "match"),
    [
        ("a.gif", np.zeros((2, 2), np.uint8), r"unknown image suffix '\.gif'; use one of \.png"),
        ("a.jpg", np.zeros((2, 2, 3), np.uint16), r"8 bits per sample; write a \.png or \.tif"),
        ("a.webp", np.zeros((2, 2), np.uint16), "16-bit"),
        ("a.jpg", np.zeros((2, 2, 4), np.uint8), r"keeps no alpha.*\.png, \.tif or \.webp"),
        ("a.png", np.zeros((2, 2, 3), np.float32), "only float32 gray goes to .tif"),
        ("a.tif", np.zeros((2, 2, 3), np.float32), "float32 colour"),
        ("a.png", np.zeros((2, 2, 2), np.uint8), "got 2 channels"),
    ],
)
def test_write_refuses_what_the_format_cannot_hold(tmp_path, name, pixels, match):
    with pytest.raises(InvalidImageError, match=match):
        write_image(tmp_path / name, pixels)
    assert list(tmp_path.iterdir()) == []


def test_a_bmp_with_alpha_round_trips(tmp_path):
    """A 32-bit BMP with an alpha mask reads as RGBA and is written back with its alpha (the
    defect: read as RGBA, then refused at the write), readable by Pillow as RGBA."""
    rng = np.random.default_rng(3)
    rgba = rng.integers(0, 256, (5, 7, 4), dtype=np.uint8)
    write_image(tmp_path / "a.bmp", rgba)
    with Image.open(tmp_path / "a.bmp") as image:
        assert image.mode == "RGBA" and image.size == (7, 5)
        np.testing.assert_array_equal(np.asarray(image), rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "a.bmp").pixels, rgba)
    write_image(tmp_path / "b.bmp", read_image(tmp_path / "a.bmp").pixels)
    assert (tmp_path / "b.bmp").read_bytes() == (tmp_path / "a.bmp").read_bytes()


def test_write_checks_quality(tmp_path):
    with pytest.raises(UnsupportedOptionError, match="quality must be an int in 1..100, got 0"):
        write_image(tmp_path / "a.jpg", np.zeros((2, 2), np.uint8), quality=0)


def test_suffixes_are_the_readable_ones():
    assert set(IMAGE_SUFFIXES) == {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}


# -- files: atomic writes --------------------------------------------------------------------


def test_failed_write_leaves_old_file_and_no_temp(tmp_path, monkeypatch, rng):
    target = tmp_path / "out.png"
    target.write_bytes(b"old")

    def broken_encode(fp, *args):
        fp.write(b"half a file")
        raise RuntimeError("encoder crashed")

    monkeypatch.setattr(imaging, "_encode", broken_encode)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        write_image(target, _random(rng, (4, 4, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]
    assert target.read_bytes() == b"old"


def test_interrupted_write_leaves_no_temp(tmp_path, monkeypatch, rng):
    def interrupted(fp, *args):
        fp.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(imaging, "_encode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "out.tif", _random(rng, (4, 4), np.uint16))
    assert list(tmp_path.iterdir()) == []


def test_unwritable_target_is_an_image_error(tmp_path, rng):
    (tmp_path / "taken.png").mkdir()  # a folder where the file should go
    with pytest.raises(InvalidImageError, match=r"cannot write image '.*taken\.png'"):
        write_image(tmp_path / "taken.png", _random(rng, (4, 4), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["taken.png"]


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_written_file_gets_normal_permissions_and_parents(tmp_path, rng):
    umask = os.umask(0o022)
    try:
        write_image(tmp_path / "new" / "sub" / "a.png", _random(rng, (4, 4), np.uint8))
    finally:
        os.umask(umask)
    assert (tmp_path / "new" / "sub" / "a.png").stat().st_mode & 0o777 == 0o644


def test_write_text_atomic(tmp_path):
    write_text_atomic(tmp_path / "log.jsonl", "héllo\n")
    assert (tmp_path / "log.jsonl").read_text(encoding="utf-8") == "héllo\n"
    assert [p.name for p in tmp_path.iterdir()] == ["log.jsonl"]


def test_loaded_image_repr_is_short(tmp_path, rng):
    write_image(tmp_path / "a.png", _random(rng, (4, 5, 3), np.uint8), icc_profile=_srgb_profile())
    text = repr(read_image(Path(tmp_path / "a.png")))
    assert text.startswith("LoadedImage(format='PNG', shape=(4, 5, 3), dtype=uint8, icc_profile=")
    assert len(text) < 120


def _png_with_flipped_idat_byte(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    at = data.find(b"IDAT")
    data[at + 6] ^= 0xFF  # inside the compressed data; the chunk's CRC now disagrees
    return bytes(data)


@pytest.mark.parametrize(
    "pixels",
    [np.full((8, 8, 3), 7, np.uint8), np.full((8, 8), 300, np.uint16)],
    ids=["8-bit RGB", "16-bit gray"],
)
def test_a_png_whose_idat_fails_its_crc_is_refused(tmp_path, pixels):
    """Pillow does not check IDAT's CRC: these decoded into wrong pixels without a word."""
    path = tmp_path / "bad.png"
    path.write_bytes(_png_with_flipped_idat_byte(pixels))
    with pytest.raises(InvalidImageError, match="chunk 'IDAT' fails its CRC check"):
        read_image(path)


def test_a_truncated_16_bit_png_is_one_clear_error_and_nothing_on_stderr(tmp_path, capfd):
    rgb = (np.random.default_rng(0).random((64, 64, 3)) * 65535).astype(np.uint16)
    write_image(tmp_path / "a.png", rgb)
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidImageError, match="truncated PNG: the file ends inside its 'IDAT'"):
        read_image(tmp_path / "cut.png")
    assert capfd.readouterr().err == ""  # libpng says nothing of its own


def _tiff_without(data: bytes, tag: int, *, zero: bool = False) -> bytes:
    """The little-endian TIFF ``data`` with the IFD entry ``tag`` removed (or its value 0)."""
    out = bytearray(data)
    ifd = struct.unpack("<I", out[4:8])[0]
    count = struct.unpack("<H", out[ifd : ifd + 2])[0]
    entries = [bytes(out[ifd + 2 + 12 * i : ifd + 14 + 12 * i]) for i in range(count)]
    if zero:
        entries = [e[:8] + bytes(4) if struct.unpack("<H", e[:2])[0] == tag else e for e in entries]
    else:
        entries = [e for e in entries if struct.unpack("<H", e[:2])[0] != tag]
    out[ifd : ifd + 2] = struct.pack("<H", len(entries))
    out[ifd + 2 : ifd + 2 + 12 * count] = b"".join(entries).ljust(12 * count, b"\0")
    return bytes(out)


def test_tiff_header_damage_reads_as_words_not_numbers(tmp_path):
    """A 16-bit TIFF missing StripByteCounts gave the bare '279' (tifffile, like libtiff, now
    derives the counts and reads it); RowsPerStrip 0 gave 'integer division or modulo by zero'."""
    pixels = np.full((4, 6, 3), 999, np.uint16)
    write_image(tmp_path / "a.tif", pixels)
    data = (tmp_path / "a.tif").read_bytes()
    (tmp_path / "missing.tif").write_bytes(_tiff_without(data, 279))
    np.testing.assert_array_equal(read_image(tmp_path / "missing.tif").pixels, pixels)
    (tmp_path / "zero.tif").write_bytes(_tiff_without(data, 278, zero=True))
    with pytest.raises(InvalidImageError, match=r"zero\.tif': corrupt header \(a size field"):
        read_image(tmp_path / "zero.tif")


@pytest.mark.slow
def test_a_9000x9000_16_bit_png_reads_within_1_2_gb(tmp_path):
    """The hand-written decoder needed 2.4 GB and 9 s for this 486 MB image; libpng via
    OpenCV reads it in one allocation (the subprocess measures its own peak RSS)."""
    import subprocess
    import sys

    pixels = np.zeros((9000, 9000, 3), np.uint16)
    pixels[::7, ::5] = 40000
    write_image(tmp_path / "big.png", pixels)
    del pixels
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (the test
    # process, over 1.5 GB late in a full run), while VmHWM belongs to the new program's memory.
    code = (
        "import sys; from dcpt_sdk.imaging import read_image; "
        "p = read_image(sys.argv[1]).pixels; assert p.shape == (9000, 9000, 3); "
        "print(next(int(l.split()[1]) for l in open('/proc/self/status') "
        "if l.startswith('VmHWM')) // 1024)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "big.png")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(done.stdout.strip()) < 1200, done.stdout


@pytest.mark.parametrize(
    ("depth", "colour_type"), [(16, 6), (8, 2)], ids=["16-bit RGBA", "8-bit RGB"]
)
def test_a_tiny_png_declaring_a_huge_image_is_one_clear_error(tmp_path, depth, colour_type):
    """A 68-byte PNG whose IHDR declares 13000x13000 (under the bomb limit) gave 'MemoryError'."""
    ihdr = struct.pack(">IIBBBBB", 13000, 13000, depth, colour_type, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
    data += _png_chunk(b"IDAT", zlib.compress(b"\0" * 20)) + _png_chunk(b"IEND", b"")
    (tmp_path / "tiny.png").write_bytes(data)
    with pytest.raises(InvalidImageError, match="truncated") as caught:
        read_image(tmp_path / "tiny.png")
    assert "MemoryError" not in str(caught.value)
