"""The losses of DCPT: L1 (or PSNR) for restoration and focal loss for degradation classification."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["RESTORATION_LOSSES", "focal_loss", "l1_loss", "psnr_loss"]

_DB_PER_NEPER = 10.0 / math.log(10.0)


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, computed in float32 so bf16/fp16 autocast does not round it."""
    return F.l1_loss(output.float(), target.float())


def psnr_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Minus the batch-mean PSNR (dB, peak 1), up to a constant: NAFNet's PSNRLoss.

    Why it exists beside L1: an all-in-one batch mixes images whose errors differ by 20 dB (a
    low-light input is ~10 dB from its target, a JPEG one ~31 dB). Under L1 the large errors own
    the gradient and a small network learns global brightness and colour moves that it then
    also applies to the mildly degraded classes, making them worse than their input. The log of
    each image's MSE weights every image by 1/MSE, so each counts by its change in dB, the scale
    the per-class evaluation uses. Computed in float32; 1e-8 keeps log finite on a perfect image.
    """
    mse = (output.float() - target.float()).pow(2).flatten(1).mean(dim=1)
    return _DB_PER_NEPER * torch.log(mse + 1e-8).mean()


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0) -> torch.Tensor:
    """Focal loss (Lin et al. 2017): cross-entropy scaled by (1 - p_true)^gamma, batch mean.

    DCPT uses gamma 2 so that easy degradations (noise is recognised within a few hundred steps)
    stop dominating the gradient while hard ones (haze vs low light) keep contributing. gamma 0
    is plain cross-entropy.

    Args:
        logits: N x classes (any float dtype; computed in float32).
        labels: N class indices.
        gamma: focusing exponent (>= 0).
    """
    log_probs = F.log_softmax(logits.float(), dim=1)
    log_p_true = log_probs.gather(1, labels.long().unsqueeze(1)).squeeze(1)
    weight = (1.0 - log_p_true.exp()).clamp(min=0.0).pow(gamma)
    return -(weight * log_p_true).mean()


# Fine-tuning's restoration loss by name (FinetuneConfig.loss).
RESTORATION_LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "l1": l1_loss,
    "psnr": psnr_loss,
}
