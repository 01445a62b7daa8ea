"""Restormer (Zamir et al., CVPR 2022, arXiv 2111.09881) and the variant DCPT trained.

Written from the paper and the public parameter layout of swz30/Restormer
(basicsr/models/archs/restormer_arch.py), so that official checkpoints load strictly; DCPT's two
variants (Hu et al., ICLR 2025) from github MILab-PKU/dcpt basicsr/archs/restormer_arch.py.

Two layouts share this code:

- ``Restormer``: the official layout (``encoder_level1.0.*``), WithBias LayerNorm by default and a
  softmax over the channel-attention map.
- ``DcptRestormer``: the layout of the DCPT reference checkpoints. Every level is wrapped in a
  ``.body`` (``encoder_level1.body.0.*``), LayerNorm is bias-free and the attention map goes
  through a ReLU instead of a softmax. Its weights do not load into the official layout, nor
  the reverse.

The building blocks (channel LayerNorm, MDTA attention, GDFN feed-forward, pixel-(un)shuffle
resamplers) live in blocks.py and are re-exported here; PromptIR is built from the same blocks.

Every reshape reads its sizes from the tensor (or uses -1), never from constants, so a traced ONNX
graph keeps H and W dynamic.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypedDict, Unpack

import torch
from torch import nn

from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.archs.restormer.blocks import (
    DCPT_EPS,
    LAYERNORM_TYPES,
    OFFICIAL_EPS,
    AttentionActivation,
    ChannelAttention,
    Downsample,
    GatedFeedForward,
    LayerNorm,
    LayerNormType,
    OverlapPatchEmbed,
    TransformerBlock,
    Upsample,
    WrappedLevel,
)
from dcpt_sdk.errors import UnsupportedOptionError

__all__ = [
    "LayerNormType",
    "AttentionActivation",
    "UNetHparams",
    "LayerNorm",
    "ChannelAttention",
    "GatedFeedForward",
    "TransformerBlock",
    "Downsample",
    "Upsample",
    "OverlapPatchEmbed",
    "TransformerUNet",
    "Restormer",
    "DcptRestormer",
    "RestormerOrigin",
]


def _check_hparams(
    inp_channels: int,
    out_channels: int,
    dim: int,
    num_blocks: Sequence[int],
    num_refinement_blocks: int,
    heads: Sequence[int],
    layernorm_type: str,
) -> None:
    """Reject hyper-parameters the network cannot be built or run with, with the fix."""
    if dim < 1 or num_refinement_blocks < 0:
        raise UnsupportedOptionError(
            f"dim={dim} must be positive and num_refinement_blocks={num_refinement_blocks} "
            "at least 0 (paper: dim 48, 4 refinement blocks)"
        )
    if len(num_blocks) != 4 or len(heads) != 4 or min(*num_blocks, *heads) < 1:
        raise UnsupportedOptionError(
            f"num_blocks={list(num_blocks)} and heads={list(heads)} must each list 4 positive "
            "integers (encoder levels 1-3 and the latent level), e.g. [4, 6, 6, 8] and [1, 2, 4, 8]"
        )
    if layernorm_type not in LAYERNORM_TYPES:
        raise UnsupportedOptionError(
            f"layernorm_type={layernorm_type!r}; valid: {', '.join(LAYERNORM_TYPES)}"
        )
    if inp_channels != out_channels:
        raise UnsupportedOptionError(
            f"inp_channels={inp_channels} and out_channels={out_channels} differ, but the output "
            "is a residual added to the input: use the same channel count for both"
        )


def _check_heads(width: int, heads: int, where: str) -> None:
    if width % heads:
        raise UnsupportedOptionError(
            f"{where} has {width} channels, not divisible by its {heads} attention heads: "
            "choose heads that divide the level's width"
        )


class UNetHparams(TypedDict, total=False):
    """The hyper-parameters Restormer and PromptIR share: TransformerUNet's keywords.

    The names are the reference constructors' (``LayerNorm_type`` spelled ``layernorm_type``); an
    argument left out takes the paper's value, see ``TransformerUNet``.
    """

    inp_channels: int
    out_channels: int
    dim: int
    num_blocks: Sequence[int]
    num_refinement_blocks: int
    heads: Sequence[int]
    ffn_expansion_factor: float
    bias: bool
    layernorm_type: LayerNormType


class TransformerUNet(RestorationNetwork):
    """What Restormer and PromptIR share: hyper-parameters, their checks, the block factory and
    the encoder. The defaults are the paper configuration.

    Level i (1-based) runs at 1/2^(i-1) resolution with ``dim * 2^(i-1)`` channels; the latent level
    runs at 1/8 with ``8 * dim``, hence the pad multiple of 8.
    """

    #: ``True`` stores levels as ``<level>.body.<i>`` (DCPT checkpoints).
    wrap_levels: ClassVar[bool] = False
    #: Normalisation of the channel-attention map.
    attention_activation: ClassVar[AttentionActivation] = "softmax"
    #: The epsilon every LayerNorm adds to the variance.
    layernorm_eps: ClassVar[float] = OFFICIAL_EPS
    pad_multiple: ClassVar[int] = 8
    patch_embed: OverlapPatchEmbed  # created by the subclass, first (see _add_encoder)

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        layernorm_type: LayerNormType = "WithBias",
    ) -> None:
        super().__init__()
        _check_hparams(
            inp_channels,
            out_channels,
            dim,
            num_blocks,
            num_refinement_blocks,
            heads,
            layernorm_type,
        )
        self.inp_channels = inp_channels
        self.out_channels = out_channels
        self.dim = dim
        self.num_blocks = tuple(num_blocks)
        self.heads = tuple(heads)
        self.ffn_expansion_factor = ffn_expansion_factor
        self.bias = bias
        self.layernorm_type: LayerNormType = layernorm_type
        self.num_refinement_blocks = num_refinement_blocks

    def _level(self, width: int, num_heads: int, count: int, where: str) -> nn.Module:
        """``count`` transformer blocks at ``width`` channels, wrapped per this layout."""
        blocks = [self._block(width, num_heads, where) for _ in range(count)]
        return WrappedLevel(blocks) if self.wrap_levels else nn.Sequential(*blocks)

    def _block(self, width: int, num_heads: int, where: str) -> TransformerBlock:
        _check_heads(width, num_heads, where)
        return TransformerBlock(
            width,
            num_heads,
            self.ffn_expansion_factor,
            self.bias,
            self.layernorm_type,
            self.attention_activation,
            self.layernorm_eps,
        )

    def _add_encoder(self) -> None:
        """Create the encoder levels (creation order = state-dict order of the reference files).

        ``patch_embed`` is created by the subclass first: PromptIR registers its prompts between it
        and the encoder.
        """
        dim, blocks, heads = self.dim, self.num_blocks, self.heads
        self.encoder_level1 = self._level(dim, heads[0], blocks[0], "encoder_level1")
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = self._level(dim * 2, heads[1], blocks[1], "encoder_level2")
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = self._level(dim * 4, heads[2], blocks[2], "encoder_level3")
        self.down3_4 = Downsample(dim * 4)
        self.latent = self._level(dim * 8, heads[3], blocks[3], "latent")

    def _encode(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(encoder level 1, 2, 3 outputs, latent), highest resolution first."""
        enc1 = self.encoder_level1(self.patch_embed(x))
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        return enc1, enc2, enc3, self.latent(self.down3_4(enc3))


class Restormer(TransformerUNet):
    """Restormer, official layout. Defaults are the paper configuration (26,126,644 parameters).

    Keyword arguments mirror the reference constructor (``UNetHparams``: ``LayerNorm_type`` is
    spelled ``layernorm_type``; the dual-pixel defocus option is not supported).

    ``forward(x)`` returns the restored image (network output + x). ``forward_features(x)`` returns
    the DCPT taps: the outputs of decoder_level1, decoder_level2, decoder_level3, highest resolution
    first, with ``2*dim, 2*dim, 4*dim`` channels (96, 96, 192 for dim 48) at 1, 1/2 and 1/4 of the
    input size. decoder_level1 is tapped before the refinement blocks, as the reference does.

    Example:
        >>> net = Restormer(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
        ...                 heads=[1, 1, 1, 1])
        >>> net(torch.rand(1, 3, 32, 32)).shape
        torch.Size([1, 3, 32, 32])
    """

    def __init__(self, **hparams: Unpack[UNetHparams]) -> None:
        super().__init__(**hparams)
        self.patch_embed = OverlapPatchEmbed(self.inp_channels, self.dim)
        self._add_encoder()
        self._add_decoder()

    def _add_decoder(self) -> None:
        dim, blocks, heads = self.dim, self.num_blocks, self.heads
        self.up4_3 = Upsample(dim * 8)
        self.reduce_chan_level3 = nn.Conv2d(dim * 8, dim * 4, kernel_size=1, bias=self.bias)
        self.decoder_level3 = self._level(dim * 4, heads[2], blocks[2], "decoder_level3")
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, kernel_size=1, bias=self.bias)
        self.decoder_level2 = self._level(dim * 2, heads[1], blocks[1], "decoder_level2")
        # Level 1 keeps the concatenated 2*dim channels (no 1x1 reduction), as in the reference.
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = self._level(dim * 2, heads[0], blocks[0], "decoder_level1")
        self.refinement = self._level(dim * 2, heads[0], self.num_refinement_blocks, "refinement")
        self.output = nn.Conv2d(
            dim * 2, self.out_channels, kernel_size=3, padding=1, bias=self.bias
        )

    @property
    def feature_channels(self) -> tuple[int, ...]:
        return (self.dim * 2, self.dim * 2, self.dim * 4)

    def _decode(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Decoder level 1, 2, 3 outputs (highest resolution first)."""
        enc1, enc2, enc3, latent = self._encode(x)
        dec3 = self.decoder_level3(
            self.reduce_chan_level3(torch.cat([self.up4_3(latent), enc3], 1))
        )
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(dec3), enc2], 1)))
        dec1 = self.decoder_level1(torch.cat([self.up2_1(dec2), enc1], 1))
        return [dec1, dec2, dec3]

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Decoder level 1, 2, 3 outputs, highest resolution first (see the class docstring)."""
        return self._decode(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restored image: the network predicts a residual added to ``x``."""
        return self.forward_with_features(x)[0]

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        taps = self._decode(x)
        return self.output(self.refinement(taps[0])) + x, taps


class DcptRestormer(Restormer):
    """Restormer as the DCPT reference checkpoints store it (26,111,668 parameters by default).

    Same topology as ``Restormer``; the differences are the ``.body`` level wrapping in parameter
    names, a ReLU instead of the softmax on the channel-attention map, LayerNorm epsilon 1e-6 and
    a bias-free LayerNorm by default.
    """

    wrap_levels: ClassVar[bool] = True
    attention_activation: ClassVar[AttentionActivation] = "relu"
    layernorm_eps: ClassVar[float] = DCPT_EPS

    def __init__(self, **hparams: Unpack[UNetHparams]) -> None:
        hparams.setdefault("layernorm_type", "BiasFree")  # the DCPT checkpoints' LayerNorm
        super().__init__(**hparams)


class RestormerOrigin(Restormer):
    """DCPT's ``Restormer_origin`` (used by the reference transfer configs).

    The official key layout and WithBias LayerNorm by default, but DCPT's ``Attention``: a ReLU on
    the channel-attention map (the softmax is commented out in the reference) and LayerNorm
    epsilon 1e-6. Its state dicts are indistinguishable from official Restormer ones, so it is
    never detected: name it (``load_model(path, arch="restormer-origin")``).
    """

    attention_activation: ClassVar[AttentionActivation] = "relu"
    layernorm_eps: ClassVar[float] = DCPT_EPS
