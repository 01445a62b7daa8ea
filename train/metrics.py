"""Per-class aggregation of training metrics; PSNR/SSIM are dcpt_sdk.metrics' (one of each)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import torch

from dcpt_sdk.metrics import psnr_batch as psnr
from dcpt_sdk.metrics import ssim_batch as ssim

__all__ = ["PerClass", "psnr", "ssim"]


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
