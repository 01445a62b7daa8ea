"""NAFNet glue: registry entry, hyper-parameter detection from a state dict, presets.

Detection expects a normalised state dict: wrappers ("params_ema", "module.") removed and DCPT's
``decoder{i}.`` keys already mapped to ``decoders.{i}.`` by the checkpoint loader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dcpt_sdk.archs._detect import count_indexed, owns_keys
from dcpt_sdk.archs.base import CLASSIFIER_ROOT, Architecture, StateDict
from dcpt_sdk.archs.nafnet.network import PAPER_DEC_BLK_NUMS, PAPER_ENC_BLK_NUMS, NAFNet

__all__ = ["ARCH", "NAFNet", "detect"]

_REQUIRED = ("intro.weight", "ending.weight", "downs.0.weight", "ups.0.0.weight")
# NAFNet's top-level modules: a state dict with any other key is not a NAFNet.
_KEY_ROOTS = (
    "intro",
    "ending",
    "encoders",
    "middle_blks",
    "decoders",
    "ups",
    "downs",
    CLASSIFIER_ROOT,
)
_BLOCK_PREFIXES = ("encoders.", "middle_blks.", "decoders.")


def _has_nafblock(state_dict: StateDict) -> bool:
    """At least one block carries NAFNet's channel attention (``*.sca.1.weight``)."""
    return any(k.startswith(_BLOCK_PREFIXES) and k.endswith(".sca.1.weight") for k in state_dict)


def detect(state_dict: StateDict) -> dict[str, Any] | None:
    """NAFNet hyper-parameters read from key indices and tensor shapes, or None if not NAFNet."""
    if not owns_keys(state_dict, _REQUIRED, _KEY_ROOTS):
        return None
    if not _has_nafblock(state_dict):
        return None
    intro = state_dict["intro.weight"]
    width, img_channel = int(intro.shape[0]), int(intro.shape[1])
    levels = count_indexed(state_dict, "downs.")
    if count_indexed(state_dict, "ups.") != levels:
        return None
    dec_blk_nums = [count_indexed(state_dict, f"decoders.{i}.") for i in range(levels)]
    if min(dec_blk_nums) < 1:
        return None
    return {
        "img_channel": img_channel,
        "width": width,
        "middle_blk_num": count_indexed(state_dict, "middle_blks."),
        "enc_blk_nums": [count_indexed(state_dict, f"encoders.{i}.") for i in range(levels)],
        "dec_blk_nums": dec_blk_nums,
    }


def _pad_multiple(hparams: Mapping[str, Any]) -> int:
    return 2 ** len(hparams.get("enc_blk_nums", PAPER_ENC_BLK_NUMS))


ARCH = Architecture(
    name="nafnet",
    kind="restorer",
    build=NAFNet,
    defaults={
        "img_channel": 3,
        "width": 64,
        "middle_blk_num": 1,
        "enc_blk_nums": list(PAPER_ENC_BLK_NUMS),
        "dec_blk_nums": list(PAPER_DEC_BLK_NUMS),
    },
    tiny={
        "img_channel": 3,
        "width": 8,
        "middle_blk_num": 1,
        "enc_blk_nums": [1, 1],
        "dec_blk_nums": [1, 1],
    },
    detect=detect,
    pad_multiple=_pad_multiple,
    license="MIT",
    key_roots=_KEY_ROOTS,
    channels_param="img_channel",
    width_param="width",
    memory_factor=72.0,  # measured 51-69 (benchmarks/results/activation_memory.md)
)
