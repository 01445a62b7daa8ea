"""Registry entry for PromptIR ("promptir"), with its state-dict detector.

PromptIR contains every Restormer key, so its detector requires the prompt blocks, and the
registry tries it before the Restormer entries.
"""

from __future__ import annotations

from typing import Any

from dcpt_sdk.archs._detect import has_any_prefix, owns_keys
from dcpt_sdk.archs.base import Architecture, StateDict
from dcpt_sdk.archs.promptir.network import PromptIR
from dcpt_sdk.archs.restormer import ARCH as RESTORMER
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
# The Restormer's modules plus the prompt banks and the noise-level blocks that read them.
_KEY_ROOTS = (
    *RESTORMER.key_roots,
    *_PROMPTS,
    *(f"{block}{i}" for block in ("noise_level", "reduce_noise_level") for i in (1, 2, 3)),
)

# PromptIR is the official-layout Restormer with prompts: its sizes plus the prompt banks'.
_PAPER: dict[str, Any] = {
    **RESTORMER.defaults,
    "prompt_dims": [64, 128, 320],
    "prompt_sizes": [64, 32, 16],
    "prompt_len": 5,
}
_TINY: dict[str, Any] = {
    **RESTORMER.tiny,
    "prompt_dims": [8, 16, 16],
    "prompt_sizes": [16, 8, 4],
    "prompt_len": 3,
}


def detect_promptir(state_dict: StateDict) -> dict[str, Any] | None:
    """Hyper-parameters of a PromptIR (decoder prompts) state dict, or None for any other.

    Extra ``chnl_reduce*`` / ``reduce_noise_channel_*`` keys of official checkpoints are allowed.
    """
    if not owns_keys(state_dict, _REQUIRED, _KEY_ROOTS, _UNUSED_OFFICIAL):
        return None
    if has_any_prefix(state_dict, dcpt_level("encoder_level1")):
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


ARCH = Architecture(
    name="promptir",
    kind="restorer",
    build=PromptIR,
    defaults=_PAPER,
    tiny=_TINY,
    detect=detect_promptir,
    pad_multiple=RESTORMER.pad_multiple,  # the same encoder: multiples of 8
    ignored_key_prefixes=_UNUSED_OFFICIAL,
    # va1shn9v/PromptIR LICENSE.md: "ACADEMIC PUBLIC LICENSE", non-commercial use only,
    # modifications under the same licence.
    license="Academic Public License, non-commercial (official repo licence: va1shn9v/PromptIR)",
    key_roots=_KEY_ROOTS,
    channels_param=RESTORMER.channels_param,
    width_param=RESTORMER.width_param,
    memory_factor=200.0,  # measured 189 (benchmarks/results/activation_memory.md)
)
