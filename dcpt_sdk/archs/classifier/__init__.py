"""Degradation-classifier glue: two registry entries and their detectors.

``ARCH`` ("dcpt-classifier") is the reference DCPT head, loadable from the reference checkpoints;
``LIGHT_ARCH`` ("dcpt-classifier-light") is our small head. Both take the restorer's
forward_features output and return logits; pad_multiple is 1 because they never see an image.
"""

from __future__ import annotations

from typing import Any

from dcpt_sdk.archs._detect import count_indexed, owns_keys
from dcpt_sdk.archs.base import Architecture, FixedMultiple, StateDict
from dcpt_sdk.archs.classifier.network import DegradationClassifier, LightDegradationClassifier

__all__ = [
    "ARCH",
    "LIGHT_ARCH",
    "DegradationClassifier",
    "LightDegradationClassifier",
    "detect",
    "detect_light",
]

# Each head's top-level modules: a state dict with any other key (a restorer's, the other
# head's, a restorer carrying its head under "classifier.") is not that head.
_KEY_ROOTS = ("mixing_weights", "bottleneck_layers", "downsample_layers", "last_stage", "fc")
_LIGHT_KEY_ROOTS = ("level_proj", "head_hidden", "head_norm", "head_out")
_REQUIRED = ("mixing_weights", "bottleneck_layers.0.0.conv1.weight", "fc.weight")
_LIGHT_REQUIRED = ("level_proj.0.weight", "head_hidden.weight", "head_out.weight")


def detect(state_dict: StateDict) -> dict[str, Any] | None:
    """Reference-head hyper-parameters from key indices and shapes, or None if not this head."""
    if not owns_keys(state_dict, _REQUIRED, _KEY_ROOTS):
        return None
    levels = count_indexed(state_dict, "bottleneck_layers.")
    if tuple(state_dict["mixing_weights"].shape) != (levels,):
        return None
    return {
        "feature_dims": [
            int(state_dict[f"bottleneck_layers.{i}.0.conv1.weight"].shape[1]) for i in range(levels)
        ],
        "num_classes": int(state_dict["fc.weight"].shape[0]),
        "num_res_blocks": count_indexed(state_dict, "bottleneck_layers.0."),
    }


def detect_light(state_dict: StateDict) -> dict[str, Any] | None:
    """Light-head hyper-parameters from key indices and shapes, or None if not this head."""
    if not owns_keys(state_dict, _LIGHT_REQUIRED, _LIGHT_KEY_ROOTS):
        return None
    levels = count_indexed(state_dict, "level_proj.")
    projections = [state_dict[f"level_proj.{i}.weight"] for i in range(levels)]
    return {
        "feature_dims": [int(w.shape[1]) for w in projections],
        "num_classes": int(state_dict["head_out.weight"].shape[0]),
        "proj_dim": int(projections[0].shape[0]),
        "hidden_dim": int(state_dict["head_hidden.weight"].shape[0]),
    }


ARCH = Architecture(
    name="dcpt-classifier",
    kind="classifier",
    build=DegradationClassifier,
    defaults={"feature_dims": [64, 128, 256, 512], "num_classes": 5, "num_res_blocks": 2},
    tiny={"feature_dims": [8, 16], "num_classes": 5, "num_res_blocks": 1},
    detect=detect,
    pad_multiple=FixedMultiple(1),
    key_roots=_KEY_ROOTS,
    # The reference repository (MILab-PKU/dcpt) ships no licence file.
    license="unknown",
)

LIGHT_ARCH = Architecture(
    name="dcpt-classifier-light",
    kind="classifier",
    build=LightDegradationClassifier,
    defaults={
        "feature_dims": [64, 128, 256, 512],
        "num_classes": 5,
        "proj_dim": 64,
        "hidden_dim": 256,
    },
    tiny={"feature_dims": [8, 16], "num_classes": 5, "proj_dim": 8, "hidden_dim": 16},
    detect=detect_light,
    pad_multiple=FixedMultiple(1),
    key_roots=_LIGHT_KEY_ROOTS,
    license="Apache-2.0",
)
