"""Registry entry for PromptIR ("promptir"), with its state-dict detector.

PromptIR contains every Restormer key, so its detector requires the prompt blocks, and the
registry tries it before the Restormer entries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dcpt_sdk.archs._detect import has_all, has_any_prefix
from dcpt_sdk.archs.base import Architecture, StateDict
from dcpt_sdk.archs.promptir.network import PromptIR
from dcpt_sdk.archs.restormer.detect import dcpt_level, official_level, read_unet_hparams

__all__ = ["ARCH", "PromptIR", "detect_promptir"]

_PROMPTS = ("prompt1", "prompt2", "prompt3")
_REQUIRED = (
    *(f"{name}.prompt_param" for name in _PROMPTS),
    *(f"noise_level{i}.attn.temperature" for i in (1, 2, 3)),
    "reduce_noise_level1.weight",
)

# Convs the official PromptIR creates but its forward never uses: accepted and dropped on load.
_UNUSED_OFFICIAL = ("chnl_reduce", "reduce_noise_channel_")

_PAPER: dict[str, Any] = {
    "inp_channels": 3,
    "out_channels": 3,
    "dim": 48,
    "num_blocks": [4, 6, 6, 8],
    "num_refinement_blocks": 4,
    "heads": [1, 2, 4, 8],
    "ffn_expansion_factor": 2.66,
    "bias": False,
    "layernorm_type": "WithBias",
    "prompt_dims": [64, 128, 320],
    "prompt_sizes": [64, 32, 16],
    "prompt_len": 5,
}
_TINY: dict[str, Any] = {
    **_PAPER,
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "heads": [1, 1, 1, 1],
    "prompt_dims": [8, 16, 16],
    "prompt_sizes": [16, 8, 4],
    "prompt_len": 3,
}


def detect_promptir(state_dict: StateDict) -> dict[str, Any] | None:
    """Hyper-parameters of a PromptIR (decoder prompts) state dict, or None for any other.

    Extra ``chnl_reduce*`` / ``reduce_noise_channel_*`` keys of official checkpoints are allowed.
    """
    if not has_all(state_dict, *_REQUIRED) or has_any_prefix(
        state_dict, dcpt_level("encoder_level1")
    ):
        return None
    hparams = read_unet_hparams(state_dict, official_level)
    if hparams is None:
        return None
    # prompt_param: 1 x prompt_len x prompt_dim x prompt_size x prompt_size
    banks = [state_dict[f"{name}.prompt_param"].shape for name in _PROMPTS]
    hparams["prompt_dims"] = [int(shape[2]) for shape in banks]
    hparams["prompt_sizes"] = [int(shape[3]) for shape in banks]
    hparams["prompt_len"] = int(banks[0][1])
    return hparams


def _pad_multiple(hparams: Mapping[str, Any]) -> int:
    """Three 2x downsamplings: H and W must be multiples of 8 at any size."""
    return 8


ARCH = Architecture(
    name="promptir",
    kind="restorer",
    build=PromptIR,
    defaults=_PAPER,
    tiny=_TINY,
    detect=detect_promptir,
    pad_multiple=_pad_multiple,
    ignored_key_prefixes=_UNUSED_OFFICIAL,
    # va1shn9v/PromptIR LICENSE.md: "ACADEMIC PUBLIC LICENSE", non-commercial use only,
    # modifications under the same licence.
    license="Academic Public License, non-commercial (official repo licence: va1shn9v/PromptIR)",
    reference=(
        "Potlapalli et al., PromptIR, NeurIPS 2023, arXiv 2306.13090; "
        "github va1shn9v/PromptIR net/model.py (decoder=True)"
    ),
    description="PromptIR with decoder prompts (35.4M parameters at the paper size)",
)
