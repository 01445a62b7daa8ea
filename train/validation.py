"""Validation passes: restoration PSNR/SSIM per class, and classifier accuracy per class.

Each process evaluates its shard of the validation loader; ``gather_for_metrics`` collects the
per-image values (dropping the samples Accelerate repeats to even out the last batch), so the
figures are those of the whole held-out set whatever the number of processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.metrics import psnr_batch, ssim_batch
from dcpt_sdk.tiling import pad_to_multiple
from dcpt_sdk.train.losses import focal_loss
from dcpt_sdk.train.metrics import PerClass

__all__ = ["restore", "validate_classifier", "validate_restorer"]


def restore(model: nn.Module, lq: torch.Tensor, multiple: int) -> torch.Tensor:
    """The model's output for any input size: padded to the multiple as inference pads (the
    Restorer's own pad_to_multiple: reflect, bottom and right), cropped back."""
    padded, (height, width) = pad_to_multiple(lq, multiple)
    return model(padded)[..., :height, :width]


@torch.no_grad()
def validate_restorer(
    accelerator: Any, model: nn.Module, loader: DataLoader, classes: Sequence[str], multiple: int
) -> dict[str, float]:
    """``psnr/<class>``, ``ssim/<class>`` and their class means of ``model`` (eval mode)."""
    was_training = model.training
    model.eval()
    acc = PerClass(classes)
    for batch in loader:
        output = restore(model, batch["lq"], multiple)
        gt = batch["gt"]
        values = torch.stack([psnr_batch(output, gt), ssim_batch(output, gt)], dim=1)
        values, labels = accelerator.gather_for_metrics((values, batch["label"]))
        acc.add("psnr", values[:, 0], labels)
        acc.add("ssim", values[:, 1], labels)
    model.train(was_training)
    return {f"val/{k}": v for k, v in acc.summary().items()}


@torch.no_grad()
def validate_classifier(
    accelerator: Any,
    restorer: RestorationNetwork,
    loader: DataLoader,
    classes: Sequence[str],
    multiple: int,
) -> dict[str, float]:
    """Top-1 accuracy per class (``acc/<class>``), its class mean, overall accuracy and focal
    loss of the restorer's attached classifier on the degraded validation images."""
    was_training = restorer.training
    restorer.eval()
    acc = PerClass(classes)
    correct_total, count, loss_sum = 0.0, 0, 0.0
    for batch in loader:
        logits = restorer.classify_logits(pad_to_multiple(batch["lq"], multiple)[0])
        logits, labels = accelerator.gather_for_metrics((logits, batch["label"]))
        correct = (logits.argmax(dim=1) == labels).float()
        acc.add("acc", correct, labels)
        correct_total += float(correct.sum())
        loss_sum += float(focal_loss(logits, labels)) * len(labels)
        count += len(labels)
    restorer.train(was_training)
    out = {f"val/{k}": v for k, v in acc.summary().items()}
    if count:
        out["val/acc_overall"] = correct_total / count
        out["val/focal"] = loss_sum / count
    return out
