"""Factory and named presets: ``create_model(name, **overrides)`` and ``list_models()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from dcpt_sdk import archs
from dcpt_sdk.archs import ARCHITECTURES, Architecture, get_architecture
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.spec import ModelSpec

__all__ = ["Preset", "PRESETS", "create_model", "list_models", "spec_for"]


@dataclass(frozen=True)
class Preset:
    """A named architecture configuration (the paper's, or a tiny one for tests)."""

    name: str
    arch: str
    hparams: Mapping[str, Any]
    description: str


def _paper(name: str, arch: str, description: str) -> Preset:
    return Preset(name, arch, dict(get_architecture(arch).defaults), description)


def _tiny(arch: str) -> Preset:
    entry = get_architecture(arch)
    return Preset(f"{arch}-tiny", arch, dict(entry.tiny), f"tiny {arch} for tests and CPU demos")


PRESETS: tuple[Preset, ...] = (
    Preset(
        "nafnet-w64-paper",
        "nafnet",
        {
            "img_channel": 3,
            "width": 64,
            "enc_blk_nums": [1, 1, 1, 28],
            "middle_blk_num": 1,
            "dec_blk_nums": [1, 1, 1, 1],
        },
        "NAFNet width 64 as in the DCPT paper (67.9M parameters)",
    ),
    _paper("restormer-paper", "restormer", "official Restormer default size (26.1M parameters)"),
    _paper("restormer-dcpt-paper", "restormer-dcpt", "DCPT's Restormer variant (26.1M parameters)"),
    _paper("promptir-paper", "promptir", "PromptIR with decoder prompts (35.4M parameters)"),
    *(_tiny(arch.name) for arch in ARCHITECTURES),
)


def list_models() -> list[str]:
    """Names of the built-in presets (architecture names are accepted by create_model too)."""
    return [preset.name for preset in PRESETS]


def _resolve(name: str) -> tuple[Architecture, dict[str, Any], str]:
    for preset in PRESETS:
        if preset.name == name:
            return get_architecture(preset.arch), dict(preset.hparams), preset.name
    for arch in archs.ARCHITECTURES:  # read now: an entry registered later counts
        if arch.name == name:
            return arch, dict(arch.defaults), ""
    valid = ", ".join([*list_models(), *(a.name for a in archs.ARCHITECTURES)])
    raise UnsupportedOptionError(
        f"unknown model '{name}'; valid presets and architectures: {valid}"
    )


def spec_for(arch: Architecture, hparams: Mapping[str, Any], name: str = "") -> ModelSpec:
    """The ModelSpec of an architecture built with these hyper-parameters (untrained weights)."""
    channels = int(hparams.get(arch.channels_param, 3))
    out_channels = int(hparams.get("out_channels", channels))
    return ModelSpec(
        arch=arch.name,
        hparams=dict(hparams),
        in_channels=channels,
        out_channels=out_channels,
        pad_multiple=arch.pad_multiple(hparams),
        name=name,
        code_license=arch.license,
    )


def create_model(name: str, **overrides: Any) -> nn.Module:
    """Build an untrained network from a preset or an architecture name.

    Args:
        name: a preset from list_models() (e.g. "nafnet-w64-paper", "nafnet-tiny") or an
            architecture name ("nafnet", "restormer", "restormer-dcpt", "promptir",
            "dcpt-classifier", "dcpt-classifier-light"), which starts from its defaults.
        **overrides: hyper-parameters to change, e.g. ``width=32``.

    Returns:
        The network in eval mode, with its ModelSpec as ``.spec``.

    Raises:
        UnsupportedOptionError: unknown name or hyper-parameter.

    Example:
        >>> net = create_model("nafnet", width=16, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    """
    arch, hparams, preset_name = _resolve(name)
    unknown = sorted(set(overrides) - set(arch.defaults))
    if unknown:
        raise UnsupportedOptionError(
            f"'{arch.name}' has no hyper-parameter {unknown}; valid: {sorted(arch.defaults)}"
        )
    hparams.update(overrides)
    model = arch.build(**hparams)
    # nn.Module attributes are typed Tensor | Module; the spec is plain data, set as such.
    setattr(model, "spec", spec_for(arch, hparams, preset_name if not overrides else ""))  # noqa: B010
    return model.eval()
