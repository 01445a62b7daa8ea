"""ModelSpec: the facts about a set of weights, stored next to them so nothing is ever guessed.

A ModelSpec travels in the metadata of every .safetensors file that dcpt-sdk writes and inside every
exported artifact (``dcpt.json``). It is plain data: JSON round-trips it exactly.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dcpt_sdk.errors import ModelLoadError, UnsupportedOptionError

SPEC_VERSION = 1


def _freeze(value: Any) -> Any:
    """Lists -> tuples, recursively, so specs compare equal after a JSON round trip."""
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, Mapping):
        return {str(k): _freeze(v) for k, v in value.items()}
    return value


def _thaw(value: Any) -> Any:
    """Tuples -> lists, recursively, for JSON and for architecture constructors."""
    if isinstance(value, tuple | list):
        return [_thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _thaw(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ClassifierSpec:
    """The DCPT degradation classifier carried beside a restorer."""

    arch: str
    hparams: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "hparams", _freeze(self.hparams))

    def constructor_kwargs(self) -> dict[str, Any]:
        """Hyper-parameters as the classifier's constructor takes them (lists, not tuples)."""
        return _thaw(self.hparams)


@dataclass(frozen=True)
class ModelSpec:
    """Architecture, hyper-parameters and I/O conventions of a restoration model.

    Attributes:
        arch: registered architecture name ("nafnet", "restormer", "restormer-dcpt", "promptir").
        hparams: the architecture's constructor keywords.
        in_channels / out_channels: image channels the network takes and gives (3 for RGB).
        scale: output size / input size (1 for restoration).
        pad_multiple: H and W are reflect-padded to a multiple of this before the forward pass.
        value_range: the float range the network reads and writes.
        degradation_classes: the classifier's class names, in logit order ("" tuple when none).
        classifier: the classifier's arch and hyper-parameters, when the weights carry one.
        name: a preset or zoo name, informative only.
        verified_precisions: precisions whose parity with fp32 torch was measured for these weights.
        license: licence of the weights.
        provenance: where the weights came from (checkpoint sha256, training config, source file).
    """

    arch: str
    hparams: Mapping[str, Any] = field(default_factory=dict)
    in_channels: int = 3
    out_channels: int = 3
    scale: int = 1
    pad_multiple: int = 8
    value_range: tuple[float, float] = (0.0, 1.0)
    degradation_classes: tuple[str, ...] = ()
    classifier: ClassifierSpec | None = None
    name: str = ""
    verified_precisions: tuple[str, ...] = ()
    license: str = "unknown"
    provenance: Mapping[str, Any] = field(default_factory=dict)
    spec_version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "hparams", _freeze(self.hparams))
        object.__setattr__(self, "provenance", _freeze(self.provenance))
        object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))
        object.__setattr__(self, "degradation_classes", tuple(self.degradation_classes))
        object.__setattr__(self, "verified_precisions", tuple(self.verified_precisions))
        if isinstance(self.classifier, Mapping):
            object.__setattr__(self, "classifier", ClassifierSpec(**self.classifier))

    def replace(self, **changes: Any) -> ModelSpec:
        """A copy with some fields changed (specs are immutable)."""
        return dataclasses.replace(self, **changes)

    def constructor_kwargs(self) -> dict[str, Any]:
        """Hyper-parameters as the architecture's constructor takes them (lists, not tuples)."""
        return _thaw(self.hparams)

    def to_dict(self) -> dict[str, Any]:
        return _thaw(dataclasses.asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelSpec:
        version = int(data.get("spec_version", SPEC_VERSION))
        if version > SPEC_VERSION:
            raise ModelLoadError(
                f"this model spec has version {version}, newer than this dcpt-sdk understands "
                f"({SPEC_VERSION}): upgrade dcpt-sdk (pip install -U dcpt-sdk)"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelLoadError(f"model spec has unknown fields {unknown}; valid: {sorted(known)}")
        if "arch" not in data:
            raise ModelLoadError("model spec has no 'arch' field")
        return cls(**dict(data))

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelLoadError(f"model spec is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ModelLoadError("model spec JSON must be an object")
        return cls.from_dict(data)


def spec_of(module: object) -> ModelSpec:
    """The ModelSpec a dcpt network carries as ``.spec`` (create_model and load_model set it)."""
    spec = getattr(module, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise UnsupportedOptionError(
            f"the {type(module).__name__} has no .spec (ModelSpec); build it with "
            "dcpt_sdk.create_model or load it with dcpt_sdk.load_model"
        )
    return spec
