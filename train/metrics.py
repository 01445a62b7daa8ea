"""Image quality and classification metrics in torch, and per-class aggregation.

PSNR and SSIM follow the usual restoration-benchmark definitions on RGB in [0, 1] (SSIM: 11x11
Gaussian window, sigma 1.5, K1 0.01, K2 0.03, mean over channels), so figures are comparable to
papers that report RGB PSNR/SSIM without cropping borders.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["PerClass", "psnr", "ssim"]


def psnr(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Per-image PSNR in dB of N x C x H x W tensors in [0, 1] (outputs are clamped first)."""
    mse = (output.float().clamp(0, 1) - target.float()).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / (mse + eps))


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float32, device=device) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(output: torch.Tensor, target: torch.Tensor, window: int = 11) -> torch.Tensor:
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


class PerClass:
    """Accumulates per-sample values by class label and reports class means and their average.

    Example:
        >>> acc = PerClass(["derain", "denoise"])
        >>> acc.add("psnr", torch.tensor([30.0, 20.0]), torch.tensor([0, 1]))
        >>> acc.summary()["psnr/mean"]
        25.0
    """

    def __init__(self, class_names: Sequence[str]) -> None:
        self.class_names = list(class_names)
        self._values: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))

    def add(self, metric: str, values: torch.Tensor, labels: torch.Tensor) -> None:
        for value, label in zip(values.detach().cpu().tolist(), labels.cpu().tolist(), strict=True):
            self._values[metric][int(label)].append(float(value))

    def counts(self) -> dict[str, int]:
        first = next(iter(self._values.values()), {})
        return {self.class_names[k]: len(v) for k, v in sorted(first.items())}

    def summary(self) -> dict[str, float]:
        """``metric/class`` means for every class seen, and ``metric/mean``: the mean over
        classes (each class weighs the same, as the paper's "average" column)."""
        out: dict[str, float] = {}
        for metric, by_class in self._values.items():
            means = []
            for label in sorted(by_class):
                mean = sum(by_class[label]) / len(by_class[label])
                out[f"{metric}/{self.class_names[label]}"] = mean
                means.append(mean)
            out[f"{metric}/mean"] = sum(means) / len(means)
        return out
