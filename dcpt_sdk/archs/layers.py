"""Small layers more than one architecture uses."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["LayerNorm2d"]


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of an N x C x H x W map (eps 1e-6).

    NAFNet's blocks and the DCPT classifier's ConvNorm both use it (same parameter names).

    Written with plain tensor ops (the official one is an autograd.Function) so that torch.onnx
    traces it into a graph with dynamic height and width.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        centred = x - mean
        var = centred.pow(2).mean(dim=1, keepdim=True)
        y = centred / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
