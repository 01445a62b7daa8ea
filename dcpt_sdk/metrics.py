"""Image quality metrics: the one PSNR and SSIM of the project.

``psnr`` compares two numpy images (integer pixels are normalised by their dtype's maximum, so a
uint8 and a float image of the same picture compare as they should); ``psnr_batch`` and
``ssim_batch`` give per-image values for N x C x H x W torch tensors in [0, 1] (training,
validation and the quality report). Both follow the usual restoration-benchmark definitions on RGB
(SSIM: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, valid region, mean over channels), so
figures compare with papers that report RGB PSNR/SSIM without cropping borders.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["psnr", "psnr_batch", "ssim_batch"]

_MAX = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def _unit(image: np.ndarray) -> np.ndarray:
    scale = _MAX.get(image.dtype)
    array = image.astype(np.float64)
    return array / scale if scale else array


def psnr(output: np.ndarray, target: np.ndarray, *, clip: bool = True) -> float:
    """PSNR in dB of two images on the [0, 1] scale (inf when they are equal).

    Integer images are divided by their dtype's maximum first; float images are taken as [0, 1]
    and, with ``clip`` (the default), the output is clipped to it as a saved image would be.
    """
    if output.shape != target.shape:
        raise ValueError(f"psnr of images of different shapes {output.shape} and {target.shape}")
    a, b = _unit(output), _unit(target)
    if clip:
        a = np.clip(a, 0.0, 1.0)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


def psnr_batch(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Per-image PSNR in dB of N x C x H x W tensors in [0, 1] (outputs are clamped first)."""
    mse = (output.float().clamp(0, 1) - target.float()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / (mse + eps))


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
