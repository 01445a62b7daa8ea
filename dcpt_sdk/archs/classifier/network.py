"""DCPT degradation classifiers: they read a restorer's decoder features, never the image.

DCPT: Hu et al., "Universal Image Restoration Pre-training via Degradation Classification",
ICLR 2025, arXiv 2501.15510; reference code github MILab-PKU/dcpt.

Two heads with the same call, ``classifier(features) -> logits`` (N x num_classes), where
``features`` is the restorer's ``forward_features(x)``: one map per level, highest resolution
first, each level half the resolution of the previous.

* :class:`DegradationClassifier`: the reference DCPT head (a feature aggregator built from ResNet
  bottleneck blocks). Parameter names and shapes follow the reference checkpoints, so they load
  strictly. It is large: 49.3M parameters on NAFNet-w64 features, 7.4M on Restormer's, 9.7M on
  PromptIR's.
* :class:`LightDegradationClassifier`: a small head of our own (1x1 projections, global average
  and max pooling, a two-layer MLP), about 0.2M parameters on NAFNet-w64 features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dcpt_sdk.archs.layers import LayerNorm2d
from dcpt_sdk.errors import UnsupportedOptionError


def _check_common(feature_dims: Sequence[int], num_classes: int) -> None:
    if not feature_dims or min(feature_dims) < 1 or num_classes < 1:
        raise UnsupportedOptionError(
            f"a degradation classifier needs at least one feature level with >= 1 channel and "
            f"num_classes >= 1; got feature_dims={list(feature_dims)}, num_classes={num_classes}"
        )


def _check_features(features: Sequence[torch.Tensor], feature_dims: Sequence[int]) -> None:
    """Features of the wrong restorer fail here, with the channel counts, not deep in a conv.

    Skipped while tracing (ONNX export): the channels are static there and int() on a traced
    size only produces a TracerWarning.
    """
    if torch.jit.is_tracing():
        return
    got = [int(f.shape[1]) for f in features]
    if got != list(feature_dims):
        raise ValueError(
            f"classifier expects {len(feature_dims)} feature maps with channels "
            f"{list(feature_dims)} (highest resolution first); got channels {got}"
        )


class ConvNorm(nn.Conv2d):
    """Bias-free convolution followed by a channel LayerNorm.

    A Conv2d subclass holding its norm as the child ``norm`` because that is the reference key
    layout (``conv1.weight``, ``conv1.norm.weight``, ``conv1.norm.bias``).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
        )
        self.norm = LayerNorm2d(out_channels)
        # MSRA fill, as the reference (Detectron2's c2_msra_fill) initialises these convs.
        nn.init.kaiming_normal_(self.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(super().forward(x))


class Bottleneck(nn.Module):
    """ResNet bottleneck at constant width: 1x1 (2x wider) -> 3x3 -> 1x1 back, identity residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = 2 * channels
        self.conv1 = ConvNorm(channels, hidden, 1)
        self.conv2 = ConvNorm(hidden, hidden, 3)
        self.conv3 = ConvNorm(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv1(x))
        y = F.relu(self.conv2(y))
        return F.relu(self.conv3(y) + x)


def _stage(channels: int, num_blocks: int) -> nn.Sequential:
    return nn.Sequential(*[Bottleneck(channels) for _ in range(num_blocks)])


def _transition(in_channels: int, out_channels: int) -> nn.Sequential:
    """1x1 conv to the next level's width, 2x max-pool, ReLU (reference "downsample_layers").

    The pool rounds down, as the reference's ``MaxPool2d(2, 2)`` does: on an odd map the last row
    or column is dropped (the logits of a PromptIR at 72x40, whose last map is 9x5, depend on it).
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, bias=False),
        nn.MaxPool2d(2, 2),
        nn.ReLU(),
    )


def _fit(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Crop x to at most like's height and width.

    Padded restorers give maps of exactly half the size per level, so this is the identity there.
    A map of odd size pooled down (floor) can be one row smaller than the next feature, which the
    reference cannot add at all; both sides are then cropped to the common size. A slice, not a
    branch on the sizes, so a traced ONNX graph stays valid at every input size.
    """
    return x[:, :, : like.shape[2], : like.shape[3]]


class DegradationClassifier(nn.Module):
    """The reference DCPT classifier (a multi-level feature aggregator).

    x starts at zero; for each level i: ``x = stage_i(x + softmax(mixing_weights)[i] *
    feature_i)``, then a 1x1 conv to the next level's width, 2x max-pool and ReLU. After the last
    level one more stage, a global average pool and a linear layer give the logits.

    Args:
        feature_dims: channels of the restorer's feature maps, highest resolution first.
        num_classes: degradation classes (5 for the paper's 5D setting).
        num_res_blocks: bottleneck blocks per stage (2 in the reference).

    Raises:
        UnsupportedOptionError: for hyper-parameters that build no valid network.

    Example:
        >>> head = DegradationClassifier([8, 16], num_classes=5)
        >>> head([torch.zeros(1, 8, 16, 16), torch.zeros(1, 16, 8, 8)]).shape
        torch.Size([1, 5])
    """

    def __init__(
        self, feature_dims: Sequence[int], num_classes: int = 5, num_res_blocks: int = 2
    ) -> None:
        super().__init__()
        _check_common(feature_dims, num_classes)
        if num_res_blocks < 1:
            raise UnsupportedOptionError(f"num_res_blocks must be >= 1; got {num_res_blocks}")
        dims = [int(d) for d in feature_dims]
        self.feature_dims = tuple(dims)
        # Attribute order = state_dict order of the reference checkpoints.
        self.mixing_weights = nn.Parameter(torch.ones(len(dims)))
        self.bottleneck_layers = nn.ModuleList([_stage(d, num_res_blocks) for d in dims])
        next_dims = [*dims[1:], dims[-1]]
        self.downsample_layers = nn.ModuleList(
            [_transition(d, n) for d, n in zip(dims, next_dims, strict=True)]
        )
        self.last_stage = _stage(dims[-1], num_res_blocks)
        self.fc = nn.Linear(dims[-1], num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        _check_features(features, self.feature_dims)
        weights = torch.softmax(self.mixing_weights, dim=0)
        x = weights[0] * features[0]
        for i, (stage, transition) in enumerate(
            zip(self.bottleneck_layers, self.downsample_layers, strict=True)
        ):
            if i > 0:
                x = _fit(x, features[i])
                x = x + weights[i] * _fit(features[i], x)
            x = transition(stage(x))
        x = self.last_stage(x).mean(dim=(2, 3))
        return self.fc(x)


class LightDegradationClassifier(nn.Module):
    """A small degradation head: per-level 1x1 projection, global average and max pooling,
    concatenation, LayerNorm and a two-layer MLP.

    Global pooling makes it indifferent to the feature sizes, so any restorer's taps work; the
    max pool keeps sparse evidence (rain streaks, inpainting lines) that an average dilutes.

    Args:
        feature_dims: channels of the restorer's feature maps, highest resolution first.
        num_classes: degradation classes.
        proj_dim: channels each level is projected to.
        hidden_dim: width of the MLP's hidden layer.

    Raises:
        UnsupportedOptionError: for hyper-parameters that build no valid network.
    """

    def __init__(
        self,
        feature_dims: Sequence[int],
        num_classes: int = 5,
        proj_dim: int = 64,
        hidden_dim: int = 256,
    ) -> None:
        super().__init__()
        _check_common(feature_dims, num_classes)
        if proj_dim < 1 or hidden_dim < 1:
            raise UnsupportedOptionError(
                f"proj_dim and hidden_dim must be >= 1; got {proj_dim}, {hidden_dim}"
            )
        self.feature_dims = tuple(int(d) for d in feature_dims)
        self.level_proj = nn.ModuleList([nn.Conv2d(d, proj_dim, 1) for d in self.feature_dims])
        pooled = 2 * proj_dim * len(self.feature_dims)
        self.head_norm = nn.LayerNorm(pooled)
        self.head_hidden = nn.Linear(pooled, hidden_dim)
        self.head_out = nn.Linear(hidden_dim, num_classes)

    def forward(self, features: Sequence[torch.Tensor]) -> torch.Tensor:
        _check_features(features, self.feature_dims)
        pooled = []
        for proj, feature in zip(self.level_proj, features, strict=True):
            y = F.relu(proj(feature))
            pooled += [y.mean(dim=(2, 3)), y.amax(dim=(2, 3))]
        x = self.head_norm(torch.cat(pooled, dim=1))
        return self.head_out(F.gelu(self.head_hidden(x)))
