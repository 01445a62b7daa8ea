"""Small layers more than one architecture uses."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CENTRE_BY_CONV_MAX_CHANNELS", "LayerNorm2d", "conv_halves", "gate_halves"]

# The widest map whose LayerNorm an export centres with a C x C convolution (LayerNorm2d).
CENTRE_BY_CONV_MAX_CHANNELS = 32


class LayerNorm2d(nn.Module):
    """Layer normalisation over the channels of an N x C x H x W map (eps 1e-6).

    NAFNet's blocks and the DCPT classifier's ConvNorm both use it (same parameter names).

    Written with plain tensor ops (the official one is an autograd.Function) so that torch.onnx
    traces it into a graph with dynamic height and width.

    ``conv_statistics`` (False unless an export sets it, see
    RestorationNetwork.use_export_form) takes the two channel means, of the map and of its
    centred square, as 1x1 convolutions with a constant 1/C weight (one output channel) instead
    of ReduceMean over the channel axis. Same function, other operators: on the default model at
    512x512 OpenVINO bf16 ran its channel ReduceMeans at ~4 GB/s (25% of its time; the
    16-channel full-resolution ones dominate), and the convolution form ran 1.10-1.14x faster
    overall, ONNX Runtime fp32 1.09-1.21x, OpenVINO fp32 0.87-0.97x (interleaved runs), so export
    chooses it per target (Format.conv_statistics in dcpt_sdk/formats.py,
    benchmarks/results/graph_forms.md).

    ``centre_by_conv`` (set with it by :meth:`use_conv_statistics` on maps of at most
    CENTRE_BY_CONV_MAX_CHANNELS channels) centres the map by one C x C 1x1 convolution (weight
    I - 1/C) instead of subtracting the mean map from it: OpenVINO runs
    that subtraction, a one-channel map broadcast over the channels, as its own elementwise pass
    over the full-resolution map, slower than the small convolution (the default model's 16- and
    32-channel levels; OpenVINO bf16 1.04x per round in benchmarks/results/graph_forms.md,
    interquartile 0.98-1.13, and 1.085x, 1.02-1.15, in a run of the two forms alone; ONNX Runtime
    fp32 unchanged within noise). Wider maps keep the subtraction: the C x C convolution's FLOPs
    grow with C, and centring every level measured no faster than centring up to 32 channels.
    """

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.channels = channels
        self.conv_statistics = False
        self.centre_by_conv = False

    def use_conv_statistics(self, enabled: bool) -> None:
        """The export form's statistics (``enabled``) or the official reductions: sets
        ``conv_statistics`` and, on maps of up to CENTRE_BY_CONV_MAX_CHANNELS, ``centre_by_conv``."""
        self.conv_statistics = enabled
        self.centre_by_conv = enabled and self.channels <= CENTRE_BY_CONV_MAX_CHANNELS

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        centred = self._centred(x)
        var = self._channel_mean(centred.pow(2))
        y = centred / torch.sqrt(var + self.eps)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def _centred(self, x: torch.Tensor) -> torch.Tensor:
        if not self.centre_by_conv:
            return x - self._channel_mean(x)
        c = self.channels
        centring = (torch.eye(c, dtype=x.dtype) - 1.0 / c).view(c, c, 1, 1)
        return F.conv2d(x, centring.to(x.device))

    def _channel_mean(self, x: torch.Tensor) -> torch.Tensor:
        if not self.conv_statistics:
            return x.mean(dim=1, keepdim=True)
        # A Python-int channel count: the traced graph gets a constant kernel (a shape read
        # from x would be dynamic, which torch.onnx cannot export as a Conv weight).
        average = torch.full((1, self.channels, 1, 1), 1.0 / self.channels, dtype=x.dtype)
        return F.conv2d(x, average.to(x.device))


def conv_halves(
    conv: nn.Conv2d, x: torch.Tensor | tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """``conv(x).chunk(2, dim=1)``, computed as two convolutions: one per half of the outputs.

    The gates of NAFNet (SimpleGate) and Restormer (GDFN) multiply the two channel halves of one
    convolution's output. Taken as a chunk of one 2C-channel map, the exported graph holds a
    channel Split that OpenVINO 2026.4 runs with its reference kernel (9% of the default model's
    OpenVINO bf16 time). Two convolutions over weight slices give each half its own map, with
    the same parameters (the state dict does not change) and the same arithmetic per output
    channel; the exporter folds the weight slices into constants. The export form of the
    networks uses it (RestorationNetwork.use_export_form); torch keeps the chunk, which is as
    fast there (benchmarks/results/graph_forms.md).

    A dense convolution (groups 1) reads the one input ``x`` for both halves. A grouped one
    (depthwise) reads the two halves of its input, as ``(first, second)``: its groups never cross
    the middle of the channels, so half i of the output depends on half i of the input only.
    """
    c = conv.out_channels // 2
    halves = (slice(0, c), slice(c, 2 * c))
    if conv.groups == 1:
        inputs = (x, x) if isinstance(x, torch.Tensor) else x
        groups = 1
    else:
        if isinstance(x, torch.Tensor) or conv.groups % 2:
            raise ValueError(
                f"a grouped convolution ({conv.groups} groups) is split over the two halves of "
                f"its input: pass (first, second), with an even number of groups"
            )
        inputs, groups = x, conv.groups // 2
    first, second = (
        F.conv2d(
            part,
            conv.weight[half],
            None if conv.bias is None else conv.bias[half],
            conv.stride,
            conv.padding,
            conv.dilation,
            groups,
        )
        for part, half in zip(inputs, halves, strict=True)
    )
    return first, second


def gate_halves(
    convs: Sequence[nn.Conv2d], x: torch.Tensor, *, split: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two channel halves of ``convs[-1](...convs[0](x))``, the inputs of a gate.

    ``split`` False: the official chunk of one map (training, torch); True: each half by its own
    convolutions through the chain (:func:`conv_halves`; the networks' export form).
    """
    if not split:
        for conv in convs:
            x = conv(x)
        first, second = x.chunk(2, dim=1)
        return first, second
    halves: torch.Tensor | tuple[torch.Tensor, torch.Tensor] = x
    for conv in convs:
        halves = conv_halves(conv, halves)
    assert isinstance(halves, tuple)  # conv_halves always returns the pair
    return halves
