"""Architecture registry: one entry per network, tried in a declared detection order.

Each entry (archs.base.Architecture) carries every fact about its architecture: constructor,
presets, pad multiple, detector and own key roots, channel/width hyper-parameter names, memory
factor. Adding an architecture is its folder plus one line in ARCHITECTURES; callers read the
tuple at call time. Order matters: PromptIR holds every Restormer key, so it is tried before both
Restormers, and the DCPT Restormer variant (".body." levels) before the official layout.
"""

from __future__ import annotations

from typing import Any

from dcpt_sdk.archs.base import Architecture, RestorationNetwork, StateDict
from dcpt_sdk.archs.classifier import ARCH as _CLASSIFIER
from dcpt_sdk.archs.classifier import LIGHT_ARCH as _LIGHT_CLASSIFIER
from dcpt_sdk.archs.nafnet import ARCH as _NAFNET
from dcpt_sdk.archs.promptir import ARCH as _PROMPTIR
from dcpt_sdk.archs.restormer import ARCH as _RESTORMER
from dcpt_sdk.archs.restormer import DCPT_ARCH as _RESTORMER_DCPT
from dcpt_sdk.archs.restormer import ORIGIN_ARCH as _RESTORMER_ORIGIN
from dcpt_sdk.errors import UnsupportedOptionError

__all__ = [
    "ARCHITECTURES",
    "Architecture",
    "RestorationNetwork",
    "StateDict",
    "get_architecture",
    "detect_architecture",
    "closest_architecture",
    "detect_own_keys",
]

# Detection order (see module docstring).
ARCHITECTURES: tuple[Architecture, ...] = (
    _PROMPTIR,
    _RESTORMER_DCPT,
    _RESTORMER,
    _RESTORMER_ORIGIN,  # not detectable: same keys as _RESTORMER; named by the caller
    _NAFNET,
    _CLASSIFIER,
    _LIGHT_CLASSIFIER,
)


def get_architecture(name: str) -> Architecture:
    for arch in ARCHITECTURES:
        if arch.name == name:
            return arch
    valid = ", ".join(a.name for a in ARCHITECTURES)
    raise UnsupportedOptionError(f"unknown architecture '{name}'; valid: {valid}")


def detect_own_keys(arch: Architecture, state_dict: StateDict) -> dict[str, Any] | None:
    """``arch``'s hyper-parameters read from the keys under its own key_roots alone, the others
    set aside: where the whole state dict was refused, a strict load of it as ``arch`` then names
    each key that does not fit instead of a bare "no architecture matches"."""
    own = set(arch.key_roots)
    kept = {
        key: value
        for key, value in state_dict.items()
        if key.split(".", 1)[0] in own or key.startswith(arch.ignored_key_prefixes)
    }
    return arch.detect(kept) if kept else None


def closest_architecture(state_dict: StateDict) -> tuple[Architecture, dict[str, Any]] | None:
    """For a state dict no detector accepts: the first detectable architecture whose own keys
    in it make one of its state dicts (the rest being stray keys or another architecture's)."""
    for arch in ARCHITECTURES:
        if not arch.detectable:
            continue
        hparams = detect_own_keys(arch, state_dict)
        if hparams is not None:
            return arch, hparams
    return None


def detect_architecture(state_dict: StateDict) -> tuple[Architecture, dict] | None:
    """The first detectable architecture (in detection order) whose detector accepts these keys."""
    for arch in ARCHITECTURES:
        if not arch.detectable:
            continue
        hparams = arch.detect(state_dict)
        if hparams is not None:
            return arch, hparams
    return None
