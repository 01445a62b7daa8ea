"""The one PSNR and SSIM: peak, clipping and the identical-image rule (dcpt_sdk.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dcpt_sdk.metrics import psnr, psnr_batch, ssim_batch


def test_psnr_of_a_known_error_on_the_unit_scale() -> None:
    target = np.zeros((4, 5, 3), np.float32)
    assert psnr(target + 0.1, target) == pytest.approx(20.0)  # MSE 0.01
    assert psnr(target + 0.01, target) == pytest.approx(40.0)


def test_identical_images_give_infinity_in_both_forms() -> None:
    image = np.random.default_rng(0).random((6, 7, 3)).astype(np.float32)
    assert psnr(image, image.copy()) == math.inf
    batch = torch.from_numpy(image.transpose(2, 0, 1))[None]
    assert psnr_batch(batch, batch.clone()).tolist() == [math.inf]


def test_integer_images_are_scaled_by_their_dtype_maximum() -> None:
    rng = np.random.default_rng(1)
    clean = rng.integers(0, 256, (8, 9, 3), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-9, 10, clean.shape), 0, 255).astype(np.uint8)
    error = clean.astype(np.float64) - noisy
    peak_255 = 10 * math.log10(255.0**2 / np.mean(error**2))
    assert psnr(noisy, clean) == pytest.approx(peak_255)
    # the same picture as [0, 1] floats, and as 16-bit, gives the same figure
    assert psnr(noisy / np.float32(255), clean / np.float32(255)) == pytest.approx(peak_255)
    assert psnr(noisy.astype(np.uint16) * 257, clean.astype(np.uint16) * 257) == pytest.approx(
        peak_255
    )


def test_peak_scales_float_images_of_another_range() -> None:
    target = np.zeros((3, 3), np.float64)
    assert psnr(target + 0.2, target, peak=2.0, clip=False) == pytest.approx(20.0)


def test_clip_applies_to_the_output_only() -> None:
    target = np.full((4, 4), 1.0)
    overshoot = np.full((4, 4), 1.5)
    assert psnr(overshoot, target) == math.inf  # clipped to 1.0, as a saved image would be
    assert psnr(overshoot, target, clip=False) == pytest.approx(10 * math.log10(1 / 0.25))


def test_batch_psnr_is_psnr_of_each_image() -> None:
    rng = np.random.default_rng(2)
    target = rng.random((3, 3, 10, 12)).astype(np.float32)
    output = target + rng.normal(0, [[[[0.02]]], [[[0.1]]], [[[0.3]]]], target.shape)
    output = output.astype(np.float32)
    per_image = psnr_batch(torch.from_numpy(output), torch.from_numpy(target))
    expected = [psnr(o, t) for o, t in zip(output, target, strict=True)]
    np.testing.assert_allclose(per_image.numpy(), expected, rtol=1e-4)


def test_shape_mismatch_is_refused() -> None:
    with pytest.raises(ValueError, match="different shapes"):
        psnr(np.zeros((4, 4)), np.zeros((4, 5)))


def test_ssim_is_one_for_identical_images_and_drops_with_noise() -> None:
    rng = np.random.default_rng(3)
    clean = torch.from_numpy(rng.random((1, 3, 24, 20)).astype(np.float32))
    noisy = clean + 0.2 * torch.randn(clean.shape, generator=torch.Generator().manual_seed(0))
    assert float(ssim_batch(clean, clean)[0]) == pytest.approx(1.0, abs=1e-5)
    assert float(ssim_batch(noisy, clean)[0]) < 0.9
