"""The synthetic degradation engine: named degradations, their mixes, and DCPT task presets.

Shared by training (clean photos -> degraded inputs and class labels), evaluation and demos::

    from dcpt_sdk import degradations

    degradations.available()                      # ('noise', 'jpeg', 'rain', ...)
    lq = degradations.degrade_array(clean, "rain", rng)          # float32 HxWx3 in [0, 1]
    preset = degradations.get_preset("5d")       # classes in the reference label order
    lq = preset.degradations[preset.label("dehaze")](clean, rng)

``degrade`` does the same on any image type (uint8/uint16 arrays, gray, RGBA, PIL, paths).
"""

from __future__ import annotations

from dcpt_sdk.degradations.api import degrade
from dcpt_sdk.degradations.params import Param
from dcpt_sdk.degradations.presets import TaskPreset, get_preset, list_presets
from dcpt_sdk.degradations.registry import (
    MIX_ORDER,
    Degradation,
    available,
    degrade_array,
    get,
    mix,
)

__all__ = [
    "MIX_ORDER",
    "Degradation",
    "Param",
    "TaskPreset",
    "available",
    "degrade",
    "degrade_array",
    "get",
    "get_preset",
    "list_presets",
    "mix",
]
