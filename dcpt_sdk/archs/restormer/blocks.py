"""Restormer's building blocks (Zamir et al., CVPR 2022): the channel LayerNorm, MDTA channel
attention, the GDFN gated feed-forward, the transformer block and the pixel-(un)shuffle
resamplers; public because PromptIR is built from the same blocks (network.py assembles them).

Every reshape reads its sizes from the tensor (or uses -1), never from constants, so a traced ONNX
graph keeps H and W dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from dcpt_sdk.archs.layers import gate_halves

__all__ = [
    "DCPT_EPS",
    "LAYERNORM_TYPES",
    "OFFICIAL_EPS",
    "AttentionActivation",
    "ChannelAttention",
    "Downsample",
    "GatedFeedForward",
    "LayerNorm",
    "LayerNormType",
    "OverlapPatchEmbed",
    "TransformerBlock",
    "Upsample",
    "WrappedLevel",
]

LayerNormType = Literal["WithBias", "BiasFree"]
AttentionActivation = Literal["softmax", "relu"]

LAYERNORM_TYPES: tuple[str, ...] = ("WithBias", "BiasFree")
# The official Restormer and PromptIR add 1e-5 to the variance; DCPT's restormer_arch.py (both its
# Restormer and its Restormer_origin) adds 1e-6. Outputs move by ~1e-4 between the two.
OFFICIAL_EPS = 1e-5
DCPT_EPS = 1e-6


class _ChannelNormBody(nn.Module):
    """Normalises over the channel axis of an N x C x H x W map.

    The reference implementation moves channels last and normalises the last axis; doing it on
    axis 1 is the same arithmetic without the two layout changes. The bias-free form divides the
    *uncentred* input by the standard deviation, as the reference does (it is not RMSNorm).
    """

    def __init__(self, channels: int, with_bias: bool, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        weight = self.weight[:, None, None]
        if self.bias is None:
            return x * torch.rsqrt(var + self.eps) * weight
        return (x - mean) * torch.rsqrt(var + self.eps) * weight + self.bias[:, None, None]


class _Body(nn.Module):
    """A module that is its child ``body``: the wrapper exists only so the state-dict keys are
    the reference's (``norm1.body.weight``, ``down1_2.body.0.weight``, ``<level>.body.<i>``)."""

    body: nn.Module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class LayerNorm(_Body):
    """Channel LayerNorm; the ``body`` child gives the reference names (``norm1.body.weight``)."""

    def __init__(
        self, channels: int, layernorm_type: LayerNormType, eps: float = OFFICIAL_EPS
    ) -> None:
        super().__init__()
        self.body = _ChannelNormBody(channels, with_bias=layernorm_type == "WithBias", eps=eps)


class ChannelAttention(nn.Module):
    """Multi-Dconv head transposed attention (MDTA): attention across channels, not pixels.

    q and k are L2-normalised over the H*W axis, so the C x C map is a cosine similarity scaled by a
    learned per-head temperature; cost grows linearly with the image area. ``activation`` is the
    official softmax or the ReLU of the DCPT variant.
    """

    def __init__(
        self, dim: int, num_heads: int, bias: bool, activation: AttentionActivation = "softmax"
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.activation = activation
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, kernel_size=1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(
            dim * 3, dim * 3, kernel_size=3, padding=1, groups=dim * 3, bias=bias
        )
        self.project_out = nn.Conv2d(dim, dim, kernel_size=1, bias=bias)

    def _split_heads(self, t: torch.Tensor) -> torch.Tensor:
        # N x (heads*c) x H x W -> N x heads x c x (H*W); sizes come from the tensor (dynamic H/W).
        return t.reshape(t.shape[0], self.num_heads, -1, t.shape[2] * t.shape[3])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        q = F.normalize(self._split_heads(q), dim=-1)
        k = F.normalize(self._split_heads(k), dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.temperature
        attn = attn.softmax(dim=-1) if self.activation == "softmax" else F.relu(attn)
        out = attn @ self._split_heads(v)
        return self.project_out(out.reshape(x.shape))


class GatedFeedForward(nn.Module):
    """Gated-Dconv feed-forward network (GDFN): GELU(branch 1) * branch 2 after a depthwise conv."""

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)  # the reference truncates; detection relies on it
        self.project_in = nn.Conv2d(dim, hidden * 2, kernel_size=1, bias=bias)
        self.dwconv = nn.Conv2d(
            hidden * 2, hidden * 2, kernel_size=3, padding=1, groups=hidden * 2, bias=bias
        )
        self.project_out = nn.Conv2d(hidden, dim, kernel_size=1, bias=bias)
        self.export_form = False  # RestorationNetwork.use_export_form

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, value = gate_halves((self.project_in, self.dwconv), x, split=self.export_form)
        return self.project_out(F.gelu(gate) * value)


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + attn(norm1(x)), then + ffn(norm2(x))."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        ffn_expansion_factor: float,
        bias: bool,
        layernorm_type: LayerNormType,
        activation: AttentionActivation = "softmax",
        eps: float = OFFICIAL_EPS,
    ) -> None:
        super().__init__()
        self.norm1 = LayerNorm(dim, layernorm_type, eps)
        self.attn = ChannelAttention(dim, num_heads, bias, activation)
        self.norm2 = LayerNorm(dim, layernorm_type, eps)
        self.ffn = GatedFeedForward(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class WrappedLevel(_Body):
    """A level stored as ``<level>.body.<i>`` (the DCPT checkpoints' naming)."""

    def __init__(self, blocks: Sequence[nn.Module]) -> None:
        super().__init__()
        self.body = nn.Sequential(*blocks)


class Downsample(_Body):
    """Halve H and W, double channels: 3x3 conv to C/2, then pixel-unshuffle (x4 channels)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels // 2, kernel_size=3, padding=1, bias=False),
            nn.PixelUnshuffle(2),
        )


class Upsample(_Body):
    """Double H and W, halve channels: 3x3 conv to 2C, then pixel-shuffle (/4 channels)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels * 2, kernel_size=3, padding=1, bias=False),
            nn.PixelShuffle(2),
        )


class OverlapPatchEmbed(nn.Module):
    """3x3 conv embedding; bias-free whatever ``bias`` says, as in the reference."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)
