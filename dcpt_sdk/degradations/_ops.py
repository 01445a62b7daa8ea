"""Small numpy building blocks shared by the degradations: FFT convolution, kernels, smoothing.

Private: the degradations are the public surface. Everything works on float32 arrays and keeps
them float32, because the training data loader calls these functions for every patch.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

__all__ = [
    "fft_convolve",
    "fft_convolve_sum",
    "segment_distance",
    "smooth",
    "to_uint8",
]


def _fast_len(n: int) -> int:
    """The smallest m >= n whose only prime factors are 2, 3 and 5 (fast FFT sizes)."""
    m = n
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _pad_and_size(shape: tuple[int, ...], radius: tuple[int, int]) -> tuple[int, int]:
    ry, rx = radius
    return _fast_len(shape[0] + 2 * ry), _fast_len(shape[1] + 2 * rx)


def fft_convolve_sum(layers: list[np.ndarray], kernels: list[np.ndarray]) -> np.ndarray:
    """sum_i layers[i] * kernels[i] (2-D convolution over the first two axes), same size as the
    layers, borders reflected. Summing in the frequency domain costs one inverse FFT for all.

    Kernels are odd-sized and centred. FFT keeps the cost flat in the kernel size (blur kernels
    reach 30 px, where a direct convolution would cost 900 multiply-adds per pixel).
    """
    ry = max(k.shape[0] for k in kernels) // 2
    rx = max(k.shape[1] for k in kernels) // 2
    h, w = layers[0].shape[:2]
    size = _pad_and_size(layers[0].shape, (ry, rx))
    terms = (
        _spectrum(layer, kernel, size, (ry, rx))
        for layer, kernel in zip(layers, kernels, strict=True)
    )
    total = next(terms)
    for term in terms:
        total += term
    full = np.fft.irfft2(total, s=size, axes=(0, 1))
    return np.ascontiguousarray(full[2 * ry : 2 * ry + h, 2 * rx : 2 * rx + w], dtype=np.float32)


def _spectrum(
    layer: np.ndarray, kernel: np.ndarray, size: tuple[int, int], radius: tuple[int, int]
) -> np.ndarray:
    """FFT of the reflect-padded layer times the FFT of the kernel."""
    ry, rx = radius
    extra = ((0, 0),) * (layer.ndim - 2)
    padded = np.pad(layer, ((ry, ry), (rx, rx), *extra), mode="reflect")
    spectrum = np.fft.rfft2(padded, s=size, axes=(0, 1))
    kspec = np.fft.rfft2(_centre(kernel, radius), s=size)
    return spectrum * (kspec[..., None] if layer.ndim == 3 else kspec)


def fft_convolve(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``img`` (HxW or HxWxC) convolved with a centred odd-sized ``kernel``, borders reflected."""
    return fft_convolve_sum([img], [kernel])


def _centre(kernel: np.ndarray, radius: tuple[int, int]) -> np.ndarray:
    """Embed ``kernel`` in a (2ry+1, 2rx+1) array so that all kernels share one centre."""
    ry, rx = radius
    kh, kw = kernel.shape
    out = np.zeros((2 * ry + 1, 2 * rx + 1), np.float32)
    oy, ox = ry - kh // 2, rx - kw // 2
    out[oy : oy + kh, ox : ox + kw] = kernel
    return out


def segment_distance(
    length: float, angle_deg: float, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance of every pixel of a centred grid to a segment, and the position along it.

    The segment has the given ``length`` (px), is centred, and points ``angle_deg`` away from the
    vertical (positive = leaning right at the bottom). The grid is odd-sized and reaches
    ``margin`` px beyond the segment's ends. Returns ``(distance, t)``, ``t`` in [-1, 1] on it.
    """
    a = np.deg2rad(angle_deg)
    dy, dx = np.cos(a), np.sin(a)
    half = length / 2.0
    ry = int(np.ceil(abs(dy) * half + margin))
    rx = int(np.ceil(abs(dx) * half + margin))
    y, x = np.mgrid[-ry : ry + 1, -rx : rx + 1].astype(np.float32)
    along = y * dy + x * dx
    across = np.abs(x * dy - y * dx)
    beyond = np.maximum(np.abs(along) - half, 0.0)
    distance = np.sqrt(across**2 + beyond**2)
    t = np.clip(along / max(half, 1e-6), -1.0, 1.0)
    return distance.astype(np.float32), t.astype(np.float32)


def smooth(plane: np.ndarray, factor: int) -> np.ndarray:
    """A large-scale blur of a 2-D float plane: block-average down by ``factor``, bilinear back up.

    Much cheaper than a Gaussian of the same reach, and smooth enough for a depth proxy.
    """
    h, w = plane.shape
    small = (max(1, round(w / factor)), max(1, round(h / factor)))
    image = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32))
    reduced = image.resize(small, Image.Resampling.BOX)
    return np.asarray(reduced.resize((w, h), Image.Resampling.BILINEAR), dtype=np.float32)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> uint8 with rounding (values outside [0, 1] are clipped)."""
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
