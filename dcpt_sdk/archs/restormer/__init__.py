"""Registry entries for Restormer: the official layout ("restormer") and DCPT's ("restormer-dcpt").

Both entries build the same topology; they differ in parameter names (``.body.`` level wrapping),
LayerNorm default and the attention-map activation, so a checkpoint fits exactly one of them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dcpt_sdk.archs.base import Architecture, FixedMultiple
from dcpt_sdk.archs.restormer.detect import KEY_ROOTS, detect_dcpt_restormer, detect_restormer
from dcpt_sdk.archs.restormer.network import DcptRestormer, Restormer, RestormerOrigin

__all__ = ["ARCH", "DCPT_ARCH", "ORIGIN_ARCH", "Restormer", "DcptRestormer", "RestormerOrigin"]

# swz30/Restormer LICENSE.md (as reproduced in downstream notices; the stored copy of the repo
# lacks the file): "ACADEMIC PUBLIC LICENSE", non-commercial use only, modifications under the same
# licence. DCPT (MILab-PKU/dcpt) ships no licence file.
_LICENSE = "Academic Public License, non-commercial (official repo licence: swz30/Restormer)"

# Every hyper-parameter named (detection returns all of them; the paper size is the default).
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
}
_TINY: dict[str, Any] = {
    **_PAPER,
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "heads": [1, 1, 1, 1],
}


ARCH = Architecture(
    name="restormer",
    kind="restorer",
    build=Restormer,
    defaults=_PAPER,
    tiny=_TINY,
    detect=detect_restormer,
    pad_multiple=FixedMultiple(Restormer.pad_multiple),  # three 2x downsamplings: 8
    license=_LICENSE,
    key_roots=KEY_ROOTS,
    channels_param="inp_channels",
    width_param="dim",
    memory_factor=200.0,  # measured 187-192 (benchmarks/results/activation_memory.md)
    ambiguity=(
        "official-layout Restormer keys also fit DCPT's Restormer_origin (ReLU channel attention, "
        "LayerNorm eps 1e-6), which outputs differ by up to ~0.3; loaded as the official "
        "'restormer' (softmax, eps 1e-5). If the weights come from the DCPT transfer configs, "
        "load them with arch='restormer-origin' (dcpt-export/dcpt-restore: --arch restormer-origin)"
    ),
)

# The two DCPT variants: the official entry's sizes and licence, another network each.
# Restormer_origin keeps the official layout, defaults and key reader.
ORIGIN_ARCH = dataclasses.replace(
    ARCH,
    name="restormer-origin",
    build=RestormerOrigin,
    detectable=False,  # the same keys as ARCH: read when named, never auto-detected
    ambiguity="",
    memory_factor=256.0,  # not measured: the conservative default
)
# DCPT's Restormer: '.body.' levels (its own key reader) and a bias-free LayerNorm.
DCPT_ARCH = dataclasses.replace(
    ARCH,
    name="restormer-dcpt",
    build=DcptRestormer,
    defaults={**_PAPER, "layernorm_type": "BiasFree"},
    tiny={**_TINY, "layernorm_type": "BiasFree"},
    detect=detect_dcpt_restormer,
    ambiguity="",
    memory_factor=208.0,  # measured 188-203
)
