"""Recognise Restormer-family state dicts and read their hyper-parameters from tensor shapes.

Three layouts share the Restormer block names, so each detector checks must-have AND must-not-have
keys:

- A Restormer state dict holds keys under KEY_ROOTS only; PromptIR's prompt and noise-level
  blocks (or any other architecture's keys) are outside them, so both Restormer detectors refuse
  it without knowing PromptIR's names.
- The DCPT Restormer stores levels as ``encoder_level1.body.0.*``; the official one as
  ``encoder_level1.0.*``. Each detector requires its own form and refuses the other.

The readers here are shared with the PromptIR detector.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from dcpt_sdk.archs._detect import count_indexed, has_all, has_any_prefix, only_keys_under
from dcpt_sdk.archs.base import CLASSIFIER_ROOT, StateDict

__all__ = [
    "KEY_ROOTS",
    "official_level",
    "dcpt_level",
    "recover_ffn_factor",
    "read_unet_hparams",
    "detect_restormer",
    "detect_dcpt_restormer",
]

LevelPrefix = Callable[[str], str]

#: The Restormer's top-level modules, in both layouts (Architecture.key_roots).
KEY_ROOTS: tuple[str, ...] = (
    "patch_embed",
    "encoder_level1",
    "down1_2",
    "encoder_level2",
    "down2_3",
    "encoder_level3",
    "down3_4",
    "latent",
    "up4_3",
    "reduce_chan_level3",
    "decoder_level3",
    "up3_2",
    "reduce_chan_level2",
    "decoder_level2",
    "up2_1",
    "decoder_level1",
    "refinement",
    "output",
    CLASSIFIER_ROOT,
)

# Encoder levels in hyper-parameter order (num_blocks / heads index 0..3).
_ENCODER_LEVELS = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")
_FFN_SUFFIX = "ffn.project_out.weight"
_MAX_DECIMALS = 6


def official_level(name: str) -> str:
    """Key prefix of a level's blocks in the official layout: ``encoder_level1.``."""
    return f"{name}."


def dcpt_level(name: str) -> str:
    """Key prefix of a level's blocks in the DCPT layout: ``encoder_level1.body.``."""
    return f"{name}.body."


def _reproduces(factor: float, pairs: Iterable[tuple[int, int]]) -> bool:
    return all(int(width * factor) == hidden for width, hidden in pairs)


def recover_ffn_factor(pairs: Iterable[tuple[int, int]]) -> float | None:
    """The simplest ffn_expansion_factor f with int(width * f) == hidden for every pair.

    The checkpoint stores only the truncated hidden widths, so several factors fit (2.66 and 2.665
    build the same shapes at dim 48); the one with the fewest decimals is returned, which gives back
    the usual round values (2.66, 2.0, 1.5). None when no factor fits every pair.
    """
    pairs = sorted(set(pairs))
    if not pairs:
        return None
    low = max(hidden / width for width, hidden in pairs)
    for decimals in range(_MAX_DECIMALS + 1):
        scale = 10**decimals
        # The smallest decimal >= low, and its neighbours: float rounding of low can land a hair
        # above or below the exact value.
        base = int(low * scale)
        for step in (base, base + 1, base + 2):
            factor = round(step / scale, decimals)
            if _reproduces(factor, pairs):
                return factor
    return low if _reproduces(low, pairs) else None


def _ffn_pairs(state_dict: StateDict) -> list[tuple[int, int]]:
    """(block width, hidden width) of every feed-forward: project_out maps hidden -> width."""
    return [
        (int(tensor.shape[0]), int(tensor.shape[1]))
        for key, tensor in state_dict.items()
        if key.endswith(_FFN_SUFFIX)
    ]


def _required_keys(level: LevelPrefix) -> tuple[str, ...]:
    keys = ["patch_embed.proj.weight", "output.weight"]
    for name in (*_ENCODER_LEVELS, "decoder_level3", "decoder_level2", "decoder_level1"):
        keys.append(f"{level(name)}0.attn.temperature")
    return tuple(keys)


def read_unet_hparams(state_dict: StateDict, level: LevelPrefix) -> dict[str, Any] | None:
    """Restormer-family hyper-parameters from shapes, or None when required keys are missing.

    ``level`` maps a level name to its block-key prefix (``official_level`` or ``dcpt_level``).
    """
    if not has_all(state_dict, *_required_keys(level)):
        return None
    embed = state_dict["patch_embed.proj.weight"]
    ffn_factor = recover_ffn_factor(_ffn_pairs(state_dict))
    if ffn_factor is None:
        return None
    norm_bias = f"{level('encoder_level1')}0.norm1.body.bias"
    return {
        "inp_channels": int(embed.shape[1]),
        "out_channels": int(state_dict["output.weight"].shape[0]),
        "dim": int(embed.shape[0]),
        "num_blocks": [count_indexed(state_dict, level(name)) for name in _ENCODER_LEVELS],
        "num_refinement_blocks": count_indexed(state_dict, level("refinement")),
        "heads": [
            int(state_dict[f"{level(name)}0.attn.temperature"].shape[0]) for name in _ENCODER_LEVELS
        ],
        "ffn_expansion_factor": ffn_factor,
        "bias": "output.bias" in state_dict,
        "layernorm_type": "WithBias" if norm_bias in state_dict else "BiasFree",
    }


def detect_restormer(state_dict: StateDict) -> dict[str, Any] | None:
    """Hyper-parameters of an official-layout Restormer, or None for any other state dict."""
    if not only_keys_under(state_dict, KEY_ROOTS) or has_any_prefix(
        state_dict, dcpt_level("encoder_level1")
    ):
        return None
    return read_unet_hparams(state_dict, official_level)


def detect_dcpt_restormer(state_dict: StateDict) -> dict[str, Any] | None:
    """Hyper-parameters of a DCPT-layout Restormer (``.body.`` levels), or None otherwise."""
    if not only_keys_under(state_dict, KEY_ROOTS) or has_any_prefix(
        state_dict, official_level("encoder_level1") + "0."
    ):
        return None
    return read_unet_hparams(state_dict, dcpt_level)
