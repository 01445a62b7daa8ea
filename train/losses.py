"""The two losses of DCPT: L1 for restoration and focal loss for degradation classification."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["focal_loss", "l1_loss"]


def l1_loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean absolute error, computed in float32 so bf16/fp16 autocast does not round it."""
    return F.l1_loss(output.float(), target.float())


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
