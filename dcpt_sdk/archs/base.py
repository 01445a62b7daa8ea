"""What every architecture provides: the network base class and the registry entry."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from dcpt_sdk.archs.layers import LayerNorm2d

StateDict = Mapping[str, torch.Tensor]
ArchKind = Literal["restorer", "classifier"]
# RestorationNetwork.classifier: a restorer's state dict carries its DCPT head under this root, so
# it is one of every restorer's key_roots.
CLASSIFIER_ROOT = "classifier"


class RestorationNetwork(nn.Module):
    """Base class of the restorers (NAFNet, Restormer, PromptIR).

    Subclasses implement ``forward(x) -> restored image`` and ``forward_features(x) -> list[Tensor]``:
    the decoder feature maps the DCPT classifier reads, highest resolution first. Inputs are
    N x C x H x W with H and W multiples of the architecture's pad multiple (Restorer pads).

    A trained DCPT model carries its degradation classifier as the ``classifier`` submodule, so one
    state dict (keys "classifier.*") holds both; it is None for a plain restorer.
    """

    classifier: nn.Module | None

    def __init__(self) -> None:
        super().__init__()
        self.classifier = None

    @property
    def feature_channels(self) -> tuple[int, ...]:
        """Channel count of each forward_features map, highest resolution first."""
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def forward_with_features(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``(forward(x), forward_features(x))`` from ONE pass through the shared layers.

        Restoring and classifying the same image then costs one network pass plus the small
        classifier head. Subclasses override this; the fallback runs both.
        """
        return self(x), self.forward_features(x)

    def restore_and_classify(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(restored image, degradation logits) from one pass (needs an attached classifier)."""
        if self.classifier is None:
            raise RuntimeError("this network carries no degradation classifier")
        restored, features = self.forward_with_features(x)
        return restored, self.classifier(features)

    def attach_classifier(self, classifier: nn.Module | None) -> None:
        """Carry (or drop, with None) a DCPT degradation classifier in this module."""
        self.classifier = classifier

    def classify_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Degradation logits (N x classes) of the attached classifier on this network's features."""
        if self.classifier is None:
            raise RuntimeError("this network carries no degradation classifier")
        return self.classifier(self.forward_features(x))

    def use_export_form(self, *, conv_statistics: bool = False) -> None:
        """Switch to the form of the graph that exports run fastest: the same function (same
        weights, same state dict, same outputs up to float rounding), other operators.

        Every submodule with an ``export_form`` attribute (False by default) gets it set: NAFNet's
        and Restormer's gates then compute each channel half with its own convolutions
        (layers.conv_halves) and NAFNet's upsamplers become one transposed convolution.
        ``conv_statistics`` also has every LayerNorm2d take its channel statistics as 1x1
        convolutions, the maps of up to 32 channels centred by one C x C convolution
        (LayerNorm2d.use_conv_statistics; faster on some runtimes and precisions only, so
        export() decides it per target). export() calls it on its own copy of the network; training and the torch
        backend keep the official form (benchmarks/results/graph_forms.md: the export form is
        1.3-1.5x faster on OpenVINO bf16 and 1.1-1.3x on ONNX Runtime, and no faster on torch)."""
        for module in self.modules():
            if isinstance(getattr(module, "export_form", None), bool):
                setattr(module, "export_form", True)  # noqa: B010 (nn.Module's typed setattr)
            if isinstance(module, LayerNorm2d):
                module.use_conv_statistics(conv_statistics)


@dataclass(frozen=True)
class FixedMultiple:
    """``Architecture.pad_multiple`` of a network whose multiple does not depend on its
    hyper-parameters (a class, not a closure, so registry entries stay picklable)."""

    multiple: int

    def __call__(self, hparams: Mapping[str, Any]) -> int:
        return self.multiple


@dataclass(frozen=True)
class Architecture:
    """A registry entry: how to build and recognise one architecture.

    The paper, the reference code and the parameter counts are in the network module's
    docstrings, where a reader of the code finds them.

    Attributes:
        name: registered name, used in ModelSpec.arch and create_model().
        kind: "restorer" or "classifier".
        build: constructor taking the hyper-parameters as keywords.
        defaults: hyper-parameters of the official/paper configuration.
        tiny: hyper-parameters of a tiny variant for fast tests.
        detect: reads hyper-parameters from a (normalised) state dict, or returns None when the
            keys do not belong to this architecture. Must check must-have keys, and refuse any
            key outside ``key_roots`` (archs._detect.owns_keys does both).
        pad_multiple: H and W must be multiples of this (depends on the hyper-parameters;
            ``FixedMultiple(n)`` where it does not).
        ignored_key_prefixes: checkpoint keys accepted and dropped on load (official weights
            that the forward pass never uses, e.g. PromptIR's "chnl_reduce").
        license: licence of the architecture's reference code.
        detectable: False for a variant whose state dicts cannot be told apart from another
            architecture's; detection skips it and the caller names it (``arch=...``), while
            ``detect`` still reads its hyper-parameters.
        ambiguity: said (as a warning) whenever a state dict is detected as this architecture
            because another one shares its keys; empty when detection is unambiguous.
        key_roots: the first component of each of the network's state-dict keys ("intro" of
            "intro.weight"). The detector refuses a state dict with any other (besides
            ``ignored_key_prefixes``), so no entry lists another architecture's keys.
        channels_param: the hyper-parameter holding the image channel count (ModelSpec).
        width_param: the hyper-parameter holding the base feature width (the memory model).
        memory_factor: peak activation bytes of one float32 forward pass per input pixel and per
            base channel (``width_param``), measured by benchmarks/activation_memory.py and
            rounded up; the Restorer tiles by it. The default is above every measured one.
    """

    name: str
    kind: ArchKind
    build: Callable[..., nn.Module]
    defaults: Mapping[str, Any]
    tiny: Mapping[str, Any]
    detect: Callable[[StateDict], dict[str, Any] | None]
    pad_multiple: Callable[[Mapping[str, Any]], int]
    ignored_key_prefixes: tuple[str, ...] = ()
    license: str = "unknown"
    detectable: bool = True
    ambiguity: str = ""
    key_roots: tuple[str, ...] = ()
    channels_param: str = "img_channel"
    width_param: str = "width"
    memory_factor: float = 256.0

    def activation_bytes_per_pixel(self, hparams: Mapping[str, Any]) -> float:
        """Peak activation memory of one float32 forward pass per input pixel."""
        width = hparams.get(self.width_param, self.defaults.get(self.width_param, 1))
        return float(width) * self.memory_factor
