"""Registry entries for Restormer: the official layout ("restormer") and DCPT's ("restormer-dcpt").

Both entries build the same topology; they differ in parameter names (``.body.`` level wrapping),
LayerNorm default and the attention-map activation, so a checkpoint fits exactly one of them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from dcpt_sdk.archs.base import Architecture
from dcpt_sdk.archs.restormer.detect import detect_dcpt_restormer, detect_restormer
from dcpt_sdk.archs.restormer.network import DcptRestormer, Restormer, RestormerOrigin

__all__ = ["ARCH", "DCPT_ARCH", "ORIGIN_ARCH", "Restormer", "DcptRestormer", "RestormerOrigin"]

# swz30/Restormer LICENSE.md (as reproduced in downstream notices; the stored copy of the repo
# lacks the file): "ACADEMIC PUBLIC LICENSE", non-commercial use only, modifications under the same
# licence. DCPT (MILab-PKU/dcpt) ships no licence file.
_LICENSE = "Academic Public License, non-commercial (official repo licence: swz30/Restormer)"
_REFERENCE = (
    "Zamir et al., Restormer, CVPR 2022, arXiv 2111.09881; "
    "github swz30/Restormer basicsr/models/archs/restormer_arch.py"
)

_PAPER: dict[str, Any] = {
    "inp_channels": 3,
    "out_channels": 3,
    "dim": 48,
    "num_blocks": [4, 6, 6, 8],
    "num_refinement_blocks": 4,
    "heads": [1, 2, 4, 8],
    "ffn_expansion_factor": 2.66,
    "bias": False,
}
_TINY: dict[str, Any] = {
    **_PAPER,
    "dim": 8,
    "num_blocks": [1, 1, 1, 1],
    "num_refinement_blocks": 1,
    "heads": [1, 1, 1, 1],
}


def _pad_multiple(hparams: Mapping[str, Any]) -> int:
    """Three 2x downsamplings: H and W must be multiples of 8 at any size."""
    return 8


ARCH = Architecture(
    name="restormer",
    kind="restorer",
    build=Restormer,
    defaults={**_PAPER, "layernorm_type": "WithBias"},
    tiny={**_TINY, "layernorm_type": "WithBias"},
    detect=detect_restormer,
    pad_multiple=_pad_multiple,
    license=_LICENSE,
    ambiguity=(
        "official-layout Restormer keys also fit DCPT's Restormer_origin (ReLU channel attention, "
        "LayerNorm eps 1e-6), which outputs differ by up to ~0.3; loaded as the official "
        "'restormer' (softmax, eps 1e-5). If the weights come from the DCPT transfer configs, "
        "load them with arch='restormer-origin' (dcpt-export/dcpt-restore: --arch restormer-origin)"
    ),
    reference=_REFERENCE,
    description="Restormer, official layout (26.1M parameters at the paper size)",
)

# Restormer_origin: the official entry's layout, defaults and key reader, another network.
ORIGIN_ARCH = dataclasses.replace(
    ARCH,
    name="restormer-origin",
    build=RestormerOrigin,
    detectable=False,  # the same keys as ARCH: read when named, never auto-detected
    ambiguity="",
    reference=_REFERENCE + "; DCPT's Restormer_origin: github MILab-PKU/dcpt restormer_arch.py",
    description=(
        "DCPT's Restormer_origin: official key layout, ReLU channel attention, LayerNorm eps 1e-6 "
        "(named explicitly: its keys equal the official Restormer's)"
    ),
)

DCPT_ARCH = Architecture(
    name="restormer-dcpt",
    kind="restorer",
    build=DcptRestormer,
    defaults={**_PAPER, "layernorm_type": "BiasFree"},
    tiny={**_TINY, "layernorm_type": "BiasFree"},
    detect=detect_dcpt_restormer,
    pad_multiple=_pad_multiple,
    license=_LICENSE,
    reference=_REFERENCE + "; DCPT variant: Hu et al., ICLR 2025, github MILab-PKU/dcpt",
    description=(
        "Restormer as trained by DCPT: '.body.' levels, bias-free LayerNorm, ReLU channel "
        "attention (26.1M parameters at the paper size)"
    ),
)
