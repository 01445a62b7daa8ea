"""``degrade`` on every image type: kind, dtype and layout come back as they went in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcpt_sdk.degradations import degrade, degrade_array
from dcpt_sdk.errors import InvalidImageError, UnsupportedOptionError


@pytest.fixture(scope="module")
def rgb8(natural_image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(natural_image[100:164, 150:230])  # 64x80, not square


def test_uint8_rgb_matches_the_float_engine(rgb8: np.ndarray) -> None:
    out = degrade(rgb8, "rain", seed=3)
    assert out.dtype == np.uint8 and out.shape == rgb8.shape
    expected = degrade_array(rgb8.astype(np.float32) / 255, "rain", 3)
    np.testing.assert_array_equal(out, (expected * 255 + 0.5).astype(np.uint8))


def test_uint16_stays_16_bit(rgb8: np.ndarray) -> None:
    img16 = rgb8.astype(np.uint16) * 257 + 100  # values that are not 8-bit multiples
    out = degrade(img16, "defocus_blur", seed=0)
    assert out.dtype == np.uint16 and out.shape == img16.shape
    assert (out % 257 != 0).mean() > 0.9  # fine levels survive: no trip through 8 bits


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtypes_kept(rgb8: np.ndarray, dtype: type) -> None:
    img = (rgb8 / 255.0).astype(dtype)
    out = degrade(img, "haze", seed=0)
    assert out.dtype == dtype and out.shape == img.shape


def test_float_noise_unclipped_is_passed_through(rgb8: np.ndarray) -> None:
    out = degrade((rgb8 / 255.0).astype(np.float32), "noise", seed=0, sigma=50, clip=False)
    assert out.min() < 0.0 or out.max() > 1.0


@pytest.mark.parametrize("shape", [(64, 80), (64, 80, 1)])
def test_gray_in_gray_out_with_exact_noise_level(shape: tuple[int, ...]) -> None:
    gray = np.full(shape, 128, np.uint8)
    out = degrade(gray, "noise", seed=0, sigma=25)
    assert out.shape == shape and out.dtype == np.uint8
    assert np.std(out.astype(np.float64) - 128) == pytest.approx(25, rel=0.06)


def test_rgba_alpha_untouched(rgb8: np.ndarray) -> None:
    alpha = np.random.default_rng(0).integers(0, 256, rgb8.shape[:2], dtype=np.uint8)
    rgba = np.dstack([rgb8, alpha])
    out = degrade(rgba, "snow", seed=1)
    assert out.shape == rgba.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(out[..., :3], degrade(rgb8, "snow", seed=1))


def test_gray_alpha(rgb8: np.ndarray) -> None:
    la = np.dstack([rgb8[..., 0], np.full(rgb8.shape[:2], 200, np.uint8)])
    out = degrade(la, "jpeg", seed=0)
    assert out.shape == la.shape
    assert (out[..., 1] == 200).all()


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "LA", "I;16"])
def test_pil_mode_kept(rgb8: np.ndarray, mode: str) -> None:
    image = Image.fromarray(rgb8).convert(mode)
    out = degrade(image, "motion_blur", seed=0)
    assert isinstance(out, Image.Image)
    assert out.mode == mode and out.size == image.size


def test_pil_palette_comes_back_rgb(rgb8: np.ndarray) -> None:
    image = Image.fromarray(rgb8).convert("P")
    out = degrade(image, "rain", seed=0)
    assert out.mode == "RGB" and out.size == image.size


def test_path_gives_an_array(tmp_path: Path, rgb8: np.ndarray) -> None:
    path = tmp_path / "photo.png"
    Image.fromarray(rgb8).save(path)
    out = degrade(path, "mosaic", seed=0)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.shape == rgb8.shape
    np.testing.assert_array_equal(out, degrade(str(path), "mosaic", seed=0))


def test_16_bit_png_path_stays_16_bit(tmp_path: Path) -> None:
    path = tmp_path / "gray16.png"
    Image.fromarray(np.full((32, 40), 40000, np.uint16)).save(path)
    out = degrade(path, "noise", seed=0, sigma=5)
    assert out.dtype == np.uint16 and out.shape == (32, 40)
    assert abs(float(out.mean()) - 40000) < 200


def test_seed_makes_it_reproducible(rgb8: np.ndarray) -> None:
    np.testing.assert_array_equal(degrade(rgb8, "snow", seed=9), degrade(rgb8, "snow", seed=9))
    assert not np.array_equal(degrade(rgb8, "snow", seed=9), degrade(rgb8, "snow", seed=10))


def test_mixes_and_params_pass_through(rgb8: np.ndarray) -> None:
    out = degrade(rgb8, "haze+rain", seed=0, **{"haze.beta": 0.0, "rain.density": 0.0})
    np.testing.assert_array_equal(out, rgb8)


@pytest.mark.parametrize(
    ("img", "match"),
    [
        (np.zeros((8, 8, 3), np.int32), "unsupported image dtype int32; give uint8, uint16"),
        (np.zeros((8, 8, 5), np.uint8), r"unsupported image shape \(8, 8, 5\)"),
        (np.zeros((8,), np.uint8), r"unsupported image shape \(8,\)"),
        (np.full((8, 8, 3), 3.0, np.float32), r"float images must lie in \[0, 1\], got \[3, 3\]"),
        ("/no/such/file.png", "cannot read image '/no/such/file.png'"),
        (42, "takes a numpy array, a PIL image or a path, got int"),
    ],
)
def test_invalid_images(img: object, match: str) -> None:
    with pytest.raises(InvalidImageError, match=match):
        degrade(img, "noise", seed=0)  # type: ignore[arg-type]


def test_not_an_image_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("not an image")
    with pytest.raises(InvalidImageError, match="cannot read image"):
        degrade(path, "noise")


def test_unknown_degradation(rgb8: np.ndarray) -> None:
    with pytest.raises(UnsupportedOptionError, match="unknown degradation 'fog'"):
        degrade(rgb8, "fog")


def test_16bit_colour_file_stays_16bit(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from dcpt_sdk.imaging import write_image

    pixels = (np.random.default_rng(0).random((16, 16, 3)) * 65535).astype(np.uint16)
    write_image(tmp_path / "x16.png", pixels)
    out = degrade(tmp_path / "x16.png", "noise", seed=0)
    assert out.dtype == np.uint16 and out.shape == pixels.shape and int(out.max()) > 255
