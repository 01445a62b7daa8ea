"""PromptIR (Potlapalli et al., NeurIPS 2023, arXiv 2306.13090), with decoder prompts.

Written from the paper and the public parameter layout of va1shn9v/PromptIR (net/model.py,
``decoder=True``), so official and DCPT checkpoints load strictly. The encoder and all transformer
blocks are Restormer's (shared code); after the latent level and after decoder levels 3 and 2 a
prompt block mixes learned prompts by the feature's content, the prompt is concatenated to the
feature, refined by one transformer block ("noise_level") and projected back by a 1x1 conv
("reduce_noise_level").

The reference hard-codes the prompt-side channel sums for dim 48 (e.g. ``dim*4 + 512``). Here the
widths are derived from ``dim`` and ``prompt_dims``, which gives the reference's numbers at the
defaults and a buildable network at any other size (the reference only builds at dim 48). The
reference also creates ``chnl_reduce1..3`` and ``reduce_noise_channel_1..3`` convs that its forward
never uses; they are not created here (the loader drops them, see ``ignored_key_prefixes``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

import torch
import torch.nn.functional as F
from torch import nn

from dcpt_sdk.archs.restormer.network import (
    OverlapPatchEmbed,
    TransformerBlock,
    TransformerUNet,
    UNetHparams,
    Upsample,
)
from dcpt_sdk.errors import UnsupportedOptionError

__all__ = ["PromptGenBlock", "PromptIR"]


class PromptGenBlock(nn.Module):
    """Input-conditioned prompt: a softmax-weighted sum of ``prompt_len`` learned prompts.

    The weights come from a linear layer on the feature's global average; the mixed prompt
    (``prompt_dim`` x ``prompt_size`` x ``prompt_size``) is resized bilinearly to the feature's
    H x W (read from the tensor, so exported graphs keep H/W dynamic), then a 3x3 conv.
    """

    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, lin_dim: int) -> None:
        super().__init__()
        self.prompt_param = nn.Parameter(
            torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size)
        )
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, kernel_size=3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)  # N x prompt_len
        _, length, channels, size, _ = self.prompt_param.shape
        # One matmul instead of broadcasting N copies of the prompt bank.
        mixed = weights @ self.prompt_param.reshape(length, -1)
        prompt = mixed.reshape(-1, channels, size, size)
        prompt = F.interpolate(prompt, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv3x3(prompt)


def _check_prompt_hparams(
    prompt_dims: Sequence[int], prompt_sizes: Sequence[int], prompt_len: int
) -> None:
    if len(prompt_dims) != 3 or len(prompt_sizes) != 3 or min(*prompt_dims, *prompt_sizes) < 1:
        raise UnsupportedOptionError(
            f"prompt_dims={list(prompt_dims)} and prompt_sizes={list(prompt_sizes)} must each list "
            "3 positive integers (prompt1, prompt2, prompt3), e.g. [64, 128, 320] and [64, 32, 16]"
        )
    if prompt_len < 1:
        raise UnsupportedOptionError(f"prompt_len={prompt_len} must be a positive integer, e.g. 5")


class PromptIR(TransformerUNet):
    """PromptIR with decoder prompts. Defaults are the paper configuration (35,376,967 parameters).

    Keyword arguments mirror the reference constructor (Restormer's ``UNetHparams``, with
    ``LayerNorm_type`` spelled ``layernorm_type``; decoder prompts always on, since the reference
    network does not run without them), plus the prompt sizes the reference fixes for dim 48:
    ``prompt_dims`` / ``prompt_sizes`` of prompt1 (decoder level 2), prompt2 (decoder level 3),
    prompt3 (latent) and ``prompt_len`` prompts each.

    ``forward(x)`` returns the restored image (network output + x). ``forward_features(x)`` returns
    the DCPT taps: the outputs of reduce_noise_level1, 2, 3 (the 1x1 convs after each prompt block),
    highest resolution first, with ``2*dim, 4*dim, 4*dim`` channels (96, 192, 192 for dim 48) at
    1/2, 1/4 and 1/8 of the input size.

    Example:
        >>> net = PromptIR(dim=8, num_blocks=[1, 1, 1, 1], num_refinement_blocks=1,
        ...                heads=[1, 1, 1, 1], prompt_dims=[8, 16, 16], prompt_sizes=[16, 8, 4])
        >>> [f.shape[1] for f in net.forward_features(torch.rand(1, 3, 32, 32))]
        [16, 32, 32]
    """

    def __init__(
        self,
        *,
        prompt_dims: Sequence[int] = (64, 128, 320),
        prompt_sizes: Sequence[int] = (64, 32, 16),
        prompt_len: int = 5,
        **hparams: Unpack[UNetHparams],
    ) -> None:
        super().__init__(**hparams)
        _check_prompt_hparams(prompt_dims, prompt_sizes, prompt_len)
        self.prompt_dims = tuple(prompt_dims)
        self.prompt_sizes = tuple(prompt_sizes)
        self.prompt_len = prompt_len
        # Creation order = the reference's state-dict order (prompts right after the embedding).
        self.patch_embed = OverlapPatchEmbed(self.inp_channels, self.dim)
        self._add_prompts()
        self._add_encoder()
        self._add_decoder()

    def _add_prompts(self) -> None:
        # Each prompt's linear layer reads the feature it is added to: prompt1 decoder level 2
        # (2*dim channels), prompt2 decoder level 3 (4*dim), prompt3 the latent (8*dim).
        (d1, d2, d3), (s1, s2, s3), length = self.prompt_dims, self.prompt_sizes, self.prompt_len
        self.prompt1 = PromptGenBlock(d1, length, s1, self.dim * 2)
        self.prompt2 = PromptGenBlock(d2, length, s2, self.dim * 4)
        self.prompt3 = PromptGenBlock(d3, length, s3, self.dim * 8)

    def _noise_level(self, width: int, where: str) -> TransformerBlock:
        """The block refining [feature, prompt]; the reference gives it level 3's head count."""
        return self._block(width, self.heads[2], where)

    def _add_decoder(self) -> None:
        dim, blocks, heads, bias = self.dim, self.num_blocks, self.heads, self.bias
        p1, p2, p3 = self.prompt_dims
        self.up4_3 = Upsample(dim * 4)
        self.reduce_chan_level3 = nn.Conv2d(dim * 2 + dim * 4, dim * 4, kernel_size=1, bias=bias)
        self.noise_level3 = self._noise_level(dim * 8 + p3, "noise_level3")
        self.reduce_noise_level3 = nn.Conv2d(dim * 8 + p3, dim * 4, kernel_size=1, bias=bias)
        self.decoder_level3 = self._level(dim * 4, heads[2], blocks[2], "decoder_level3")
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, kernel_size=1, bias=bias)
        self.noise_level2 = self._noise_level(dim * 4 + p2, "noise_level2")
        self.reduce_noise_level2 = nn.Conv2d(dim * 4 + p2, dim * 4, kernel_size=1, bias=bias)
        self.decoder_level2 = self._level(dim * 2, heads[1], blocks[1], "decoder_level2")
        self.up2_1 = Upsample(dim * 2)
        self.noise_level1 = self._noise_level(dim * 2 + p1, "noise_level1")
        self.reduce_noise_level1 = nn.Conv2d(dim * 2 + p1, dim * 2, kernel_size=1, bias=bias)
        self.decoder_level1 = self._level(dim * 2, heads[0], blocks[0], "decoder_level1")
        self.refinement = self._level(dim * 2, heads[0], self.num_refinement_blocks, "refinement")
        self.output = nn.Conv2d(dim * 2, self.out_channels, kernel_size=3, padding=1, bias=bias)

    @property
    def feature_channels(self) -> tuple[int, ...]:
        return (self.dim * 2, self.dim * 4, self.dim * 4)

    def _decode_prompted(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(the three reduce_noise_level outputs, highest resolution first; encoder level 1)."""
        enc1, enc2, enc3, latent = self._encode(x)
        tap3 = self.reduce_noise_level3(
            self.noise_level3(torch.cat([latent, self.prompt3(latent)], 1))
        )
        dec3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(tap3), enc3], 1)))
        tap2 = self.reduce_noise_level2(self.noise_level2(torch.cat([dec3, self.prompt2(dec3)], 1)))
        dec2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(tap2), enc2], 1)))
        tap1 = self.reduce_noise_level1(self.noise_level1(torch.cat([dec2, self.prompt1(dec2)], 1)))
        return [tap1, tap2, tap3], enc1

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """reduce_noise_level1, 2, 3 outputs, highest resolution first (see the class docstring)."""
        return self._decode_prompted(x)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restored image: the network predicts a residual added to ``x``."""
        return self.forward_with_features(x)[0]

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        taps, enc1 = self._decode_prompted(x)
        dec1 = self.decoder_level1(torch.cat([self.up2_1(taps[0]), enc1], 1))
        return self.output(self.refinement(dec1)) + x, taps
