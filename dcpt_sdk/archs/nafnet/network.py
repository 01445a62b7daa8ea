"""NAFNet (Chen et al., "Simple Baselines for Image Restoration", ECCV 2022), written for dcpt-sdk.

Parameter names and shapes follow the official layout (megvii-research/NAFNet) so official and DCPT
checkpoints load strictly; DCPT stores the decoder levels as ``decoder{i}.`` and the checkpoint
loader maps them to ``decoders.{i}.`` before they reach this module.

Two deliberate differences from the official code, neither of which touches the weights:

* ``forward`` neither pads nor crops: the caller (Restorer) pads to :attr:`NAFNet.pad_multiple`, so
  the exported graph is a plain convolutional network with dynamic height and width.
* The channel-attention pool is global by default and can be switched to the local ("TLC") pool
  with :meth:`NAFNet.set_local_pooling`, an explicit setting rather than state cached from the first
  input, so an exported graph behaves the same at every size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.archs.layers import LayerNorm2d, gate_halves
from dcpt_sdk.errors import UnsupportedOptionError

PAPER_ENC_BLK_NUMS: tuple[int, ...] = (1, 1, 1, 28)
PAPER_DEC_BLK_NUMS: tuple[int, ...] = (1, 1, 1, 1)

# TLC ("Revisiting Global Statistics Aggregation", Chu et al. 2022): the local window is 1.5x the
# training patch, measured at each level's resolution.
_TLC_WINDOW_RATIO = 1.5


def _box_mean(x: torch.Tensor, dim: int, window: int) -> torch.Tensor:
    """Mean over a sliding window along ``dim`` (stride 1, same length), TLC's edge rule.

    Each output position averages ``min(window, length)`` consecutive inputs; near the edges the
    window is shifted inside the map rather than shrunk (what TLC's replicate-padding of the
    valid windows amounts to), so a window longer than the map gives the plain mean. Built from a
    cumulative sum and index arithmetic on ``torch.arange(length)``, without Python branches on
    the size, so a traced graph stays correct at every height and width.
    """
    length = x.shape[dim]
    positions = torch.arange(length, device=x.device)
    n = positions.amax(dim=0, keepdim=True) + 1  # the length as a tensor, traced not frozen
    k = torch.clamp(n, max=window)
    start = torch.minimum(torch.clamp(positions - (k - 1) // 2, min=0), n - k)
    # Centring first keeps the prefix sums small, so their differences lose little precision.
    mean = x.mean(dim=dim, keepdim=True)
    prefix = (x - mean).cumsum(dim=dim)
    # A leading zero, so that window sums are differences of two prefix sums. (torch.cat rather
    # than F.pad: the legacy ONNX exporter turns this F.pad into a reversed Slice it cannot fold.)
    prefix = torch.cat([torch.zeros_like(prefix.narrow(dim, 0, 1)), prefix], dim=dim)
    window_sum = prefix.index_select(dim, start + k) - prefix.index_select(dim, start)
    return window_sum / k.to(x.dtype) + mean


class ChannelStatPool(nn.Module):
    """The pool of the simplified channel attention: global mean, or TLC's local mean.

    ``window`` None gives the global average (official NAFNet); (h, w) gives a stride-1 local
    average over an h x w window with the same output size as the input.
    """

    def __init__(self) -> None:
        super().__init__()
        self.window: tuple[int, int] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.window is None:
            return x.mean(dim=(2, 3), keepdim=True)
        return _box_mean(_box_mean(x, 2, self.window[0]), 3, self.window[1])

    def extra_repr(self) -> str:
        return "global" if self.window is None else f"local window={self.window}"


class NAFBlock(nn.Module):
    """One NAFNet block: LayerNorm -> 1x1 -> depthwise 3x3 -> SimpleGate -> channel attention
    -> 1x1, residual scaled by ``beta``; then LayerNorm -> 1x1 -> SimpleGate -> 1x1, residual
    scaled by ``gamma`` (official names; dropout is omitted as it is identity at rate 0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        c, c2 = channels, 2 * channels
        self.conv1 = nn.Conv2d(c, c2, 1)
        self.conv2 = nn.Conv2d(c2, c2, 3, padding=1, groups=c2)
        self.conv3 = nn.Conv2d(c, c, 1)
        self.sca = nn.Sequential(ChannelStatPool(), nn.Conv2d(c, c, 1))
        self.conv4 = nn.Conv2d(c, c2, 1)
        self.conv5 = nn.Conv2d(c, c, 1)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        # Zero scales make every block start as the identity, as in the official code.
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.export_form = False  # RestorationNetwork.use_export_form

    def set_pool_window(self, window: tuple[int, int] | None) -> None:
        """Global (None) or local (h, w) averaging in the channel attention."""
        pool = self.sca[0]
        if isinstance(pool, ChannelStatPool):
            pool.window = window

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        split = self.export_form
        x1, x2 = gate_halves((self.conv1, self.conv2), self.norm1(inp), split=split)
        x = x1 * x2  # SimpleGate
        x = self.conv3(x * self.sca(x))
        y = inp + x * self.beta
        x1, x2 = gate_halves((self.conv4,), self.norm2(y), split=split)
        x = self.conv5(x1 * x2)
        return y + x * self.gamma


def _blocks(channels: int, count: int) -> nn.Sequential:
    return nn.Sequential(*[NAFBlock(channels) for _ in range(count)])


def _nafblocks(level: nn.Module) -> list[NAFBlock]:
    """The blocks of one level, typed (a Sequential's children are plain Modules to mypy)."""
    return [block for block in level.children() if isinstance(block, NAFBlock)]


def _check_hparams(
    img_channel: int,
    width: int,
    middle_blk_num: int,
    enc_blk_nums: Sequence[int],
    dec_blk_nums: Sequence[int],
) -> None:
    """Reject hyper-parameters that would build a network without DCPT feature taps."""
    if img_channel < 1 or width < 1 or middle_blk_num < 0:
        raise UnsupportedOptionError(
            f"NAFNet needs img_channel >= 1, width >= 1 and middle_blk_num >= 0; got "
            f"img_channel={img_channel}, width={width}, middle_blk_num={middle_blk_num}"
        )
    if not enc_blk_nums or len(enc_blk_nums) != len(dec_blk_nums):
        raise UnsupportedOptionError(
            f"NAFNet needs as many decoder levels as encoder levels (at least one); got "
            f"enc_blk_nums={list(enc_blk_nums)}, dec_blk_nums={list(dec_blk_nums)}"
        )
    if min(enc_blk_nums) < 0 or min(dec_blk_nums) < 1:
        raise UnsupportedOptionError(
            f"NAFNet needs >= 0 blocks per encoder level and >= 1 per decoder level (each "
            f"decoder level is a feature tap); got enc_blk_nums={list(enc_blk_nums)}, "
            f"dec_blk_nums={list(dec_blk_nums)}"
        )


class NAFNet(RestorationNetwork):
    """NAFNet restorer with DCPT feature taps.

    Args:
        img_channel: image channels in and out (3 for RGB, 1 for gray).
        width: channels of the first level; each deeper level doubles them.
        middle_blk_num: blocks at the lowest resolution.
        enc_blk_nums: blocks per encoder level, highest resolution first.
        dec_blk_nums: blocks per decoder level, deepest (lowest resolution) first, as official.
        tlc_train_size: None (global pooling, official) or the training patch size for local
            ("TLC") pooling; see :meth:`set_local_pooling`. A constructor argument too, so that a
            ModelSpec's hyper-parameters can record the mode; detection never sets it (the
            weights are the same in both modes).

    Raises:
        UnsupportedOptionError: for hyper-parameters that build no valid network.

    ``forward(x)`` returns ``ending(decoder output) + x`` (the official global residual) for x of
    shape N x img_channel x H x W with H and W multiples of :attr:`pad_multiple`.

    Example:
        >>> net = NAFNet(width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
        >>> net(torch.zeros(1, 3, 16, 16)).shape
        torch.Size([1, 3, 16, 16])
    """

    def __init__(
        self,
        img_channel: int = 3,
        width: int = 16,
        middle_blk_num: int = 1,
        enc_blk_nums: Sequence[int] = PAPER_ENC_BLK_NUMS,
        dec_blk_nums: Sequence[int] = PAPER_DEC_BLK_NUMS,
        tlc_train_size: int | Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        _check_hparams(img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums)
        levels = len(enc_blk_nums)
        # Attribute order = state_dict order of the reference DCPT checkpoints.
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders = nn.ModuleList(
            [_blocks(width * 2**i, n) for i, n in enumerate(enc_blk_nums)]
        )
        deepest = width * 2**levels
        self.middle_blks = _blocks(deepest, middle_blk_num)
        self.ups = nn.ModuleList([Upsampler(deepest // 2**i) for i in range(levels)])
        self.downs = nn.ModuleList(
            [nn.Conv2d(width * 2**i, width * 2 ** (i + 1), 2, stride=2) for i in range(levels)]
        )
        self.decoders = nn.ModuleList(
            [_blocks(deepest // 2 ** (i + 1), n) for i, n in enumerate(dec_blk_nums)]
        )
        self._width = width
        self._levels = levels
        self._local_train_size: tuple[int, int] | None = None
        self.set_local_pooling(tlc_train_size)

    @property
    def pad_multiple(self) -> int:
        """H and W must be multiples of this: one factor 2 per encoder level."""
        return 2**self._levels

    @property
    def feature_channels(self) -> tuple[int, ...]:
        """Channels of the forward_features maps, highest resolution first (64..512 for w64)."""
        return tuple(self._width * 2**i for i in range(self._levels))

    @property
    def local_pooling(self) -> tuple[int, int] | None:
        """The training patch size TLC pooling is set for, or None for global pooling."""
        return self._local_train_size

    def set_local_pooling(self, train_size: int | Sequence[int] | None) -> None:
        """Switch the channel-attention pools between global (None) and local ("TLC") means.

        NAFNet's channel attention averages the whole feature map, so a network trained on
        patches sees different statistics on a full image or a tile. With ``train_size`` set to
        the training patch size (e.g. 256), every pool averages a stride-1 window of 1.5x that
        patch at its level's resolution (the window at level l is ``(train // 2**l) * int(1.5 *
        train) // train`` per side, TLC's rule), shifted inside the map near the edges; on maps
        no larger than the window this is exactly the global mean. Weights are the same in both
        modes; the output shape never changes.

        Raises:
            UnsupportedOptionError: if ``train_size`` is not None, a positive int or a pair of them.
        """
        size = _parse_train_size(train_size)
        self._local_train_size = size
        for scale, block in self._blocks_with_scale():
            block.set_pool_window(None if size is None else _tlc_window(size, scale))

    def _blocks_with_scale(self) -> Iterator[tuple[int, NAFBlock]]:
        """Every block with the downsampling factor of the level it runs at."""
        for level, encoder in enumerate(self.encoders):
            yield from ((2**level, block) for block in _nafblocks(encoder))
        yield from ((2**self._levels, block) for block in _nafblocks(self.middle_blks))
        for i, decoder in enumerate(self.decoders):
            yield from ((2 ** (self._levels - 1 - i), block) for block in _nafblocks(decoder))

    def _encode(self, inp: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Middle-block output and the encoder skips (highest resolution first)."""
        x = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        return self.middle_blks(x), skips

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        return self.forward_with_features(inp)[0]

    def forward_with_features(self, inp: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """(restored image, the DCPT taps of :meth:`forward_features`) from one pass."""
        taps = self.forward_features(inp)
        return self.ending(taps[0]) + inp, taps

    def forward_features(self, inp: torch.Tensor) -> list[torch.Tensor]:
        """The DCPT taps: the output of each whole decoder level.

        Returned highest resolution first: level i has ``width * 2**i`` channels at
        H / 2**i x W / 2**i (64, 128, 256, 512 channels for the paper's width 64). These are the
        maps the paper's runs feed the classifier: under DistributedDataParallel the reference
        hooks ``module.decoder{i}``, the level containers (with one block per level, as in the
        paper configs, that is also the first block's output). Only the part of the network the
        taps depend on is run (no ``ending``).
        """
        x, skips = self._encode(inp)
        taps = []
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            x = decoder(up(x) + skip)
            taps.append(x)
        return taps[::-1]


class Upsampler(nn.Sequential):
    """1x1 conv to twice the channels, then PixelShuffle(2): half the channels, twice the size.

    A Sequential, so the state dict keeps the official keys (``ups.{i}.0.weight``). With
    :attr:`export_form` set (RestorationNetwork.use_export_form) the same map is computed as
    ONE transposed convolution, kernel 2, stride 2, whose weights are the 1x1 weights
    rearranged: output channel c at sub-pixel (i, j) of PixelShuffle is 1x1 output channel
    4c + 2i + j. Exported, that is one ConvTranspose instead of a Conv plus a DepthToSpace over
    the full-size map (benchmarks/results/graph_forms.md).
    """

    def __init__(self, channels: int) -> None:
        super().__init__(nn.Conv2d(channels, channels * 2, 1, bias=False), nn.PixelShuffle(2))
        self.export_form = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.export_form:
            return super().forward(x)
        conv = self[0]
        assert isinstance(conv, nn.Conv2d)  # built so in __init__; narrows the type for mypy
        out_channels = conv.out_channels // 4
        weight = conv.weight[:, :, 0, 0].reshape(out_channels, 2, 2, conv.in_channels)
        return F.conv_transpose2d(x, weight.permute(3, 0, 1, 2), stride=2)


def _parse_train_size(train_size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if train_size is None:
        return None
    values: list[object] = []
    if isinstance(train_size, int):
        values = [train_size, train_size]
    elif isinstance(train_size, tuple | list):
        values = list(train_size)
    sides = [v for v in values if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    if len(values) != 2 or len(sides) != 2:
        raise UnsupportedOptionError(
            f"train_size (tlc_train_size) must be None (global pooling), a positive int or a "
            f"pair of positive ints (the training patch size, e.g. 256); got {train_size!r}"
        )
    return sides[0], sides[1]


def _tlc_window(train_size: tuple[int, int], scale: int) -> tuple[int, int]:
    """TLC's local window at a level downsampled by ``scale``, for a given training patch."""

    def side(train: int) -> int:
        return max(1, (train // scale) * int(train * _TLC_WINDOW_RATIO) // train)

    return side(train_size[0]), side(train_size[1])
