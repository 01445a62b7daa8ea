"""Image quality metrics: the one PSNR and the one SSIM of the project.

Every figure in dB that dcpt-sdk prints, records or tests comes from here: the product (autotune's
quality floor, the demo, dcpt-degrade's sheet), training validation, export verification, the
benchmarks and the tests. The rules, once:

- PSNR = 10 log10(peak^2 / MSE) in dB, the MSE taken over every pixel and channel.
- Peak: images are compared on the [0, 1] scale. Integer images (uint8, uint16) are divided by
  their dtype's maximum first, so a uint8 PSNR is the usual "peak 255" figure and a uint8 and a
  float image of the same picture compare as they should. Float images are divided by ``peak``
  (1.0: the [0, 1] floats of this project; the width of a model's value range for its raw
  outputs).
- Clip: by default the output (never the target) is clipped to [0, 1] first, as a saved image
  would be; ``clip=False`` compares raw network outputs (export parity, backend parity).
- Identical images: +inf (MSE 0), never a large finite stand-in; tables print it as "exact".

``psnr`` takes two numpy images and returns a float; ``psnr_batch`` and ``ssim_batch`` give one
value per image of N x C x H x W torch tensors in [0, 1] (training validation, the quality report),
by the same rules (peak 1, output clipped). SSIM is the usual restoration-benchmark definition on
RGB: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid region, mean over channels; so the
figures compare with papers that report RGB PSNR/SSIM without cropping borders.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["psnr", "psnr_batch", "ssim_batch"]

_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def _unit(image: np.ndarray, peak: float) -> np.ndarray:
    """``image`` in float64 on the [0, 1] scale (integers by their dtype's maximum)."""
    return image.astype(np.float64) / _MAX.get(image.dtype, peak)


def psnr(output: np.ndarray, target: np.ndarray, *, peak: float = 1.0, clip: bool = True) -> float:
    """PSNR in dB of ``output`` against ``target`` (+inf when they are equal).

    Args:
        output, target: images of the same shape; integer ones (uint8, uint16) are scaled by
            their dtype's maximum, float ones by ``peak``.
        peak: the largest value of a float image (1.0 for this project's [0, 1] images).
        clip: clip the scaled output to [0, 1] first, as a saved image would be.

    Raises:
        ValueError: the shapes differ.

    Example:
        >>> psnr(np.full((2, 2), 0.1), np.zeros((2, 2)))  # MSE 0.01
        20.0
    """
    if output.shape != target.shape:
        raise ValueError(f"psnr of images of different shapes {output.shape} and {target.shape}")
    a, b = _unit(output, peak), _unit(target, peak)
    if clip:
        a = np.clip(a, 0.0, 1.0)
    mse = float(np.mean(np.square(a - b)))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def psnr_batch(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of N x C x H x W tensors in [0, 1]: ``psnr`` of each image pair.

    The output is clipped to [0, 1]; an image equal to its target gives +inf.
    """
    mse = (output.float().clamp(0, 1) - target.float()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / mse)


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim_batch(output: torch.Tensor, target: torch.Tensor, window: int = 11) -> torch.Tensor:
    """Per-image SSIM of N x C x H x W tensors in [0, 1] (valid region, mean over channels).

    Images smaller than the window use a window of their smaller side (odd), so tiny validation
    crops still give a value rather than an error.
    """
    x, y = output.float().clamp(0, 1), target.float()
    channels = x.shape[1]
    size = min(window, x.shape[-1], x.shape[-2])
    size -= 1 - size % 2
    kernel = _gaussian_window(size, 1.5, channels, x.device)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, kernel, groups=channels)

    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2)
    )
    return ssim_map.flatten(1).mean(dim=1)
