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

SPEC_VERSION = 2
# Version 1 had one ``license`` field (the architecture code's licence, mislabelled as the
# weights'); version 2 separates ``code_license`` from ``weights_license``. Both are read.
# Fields that earlier files carry and that said nothing true or used: read and dropped, so those
# files (and exported artifacts' dcpt.json) still load. ``scale`` was always 1 (every network
# restores at its input size, and nothing would honour another value, so a file claiming one is
# still refused); ``verified_precisions`` repeated the artifact's own precision, which dcpt.json
# states beside the parity figures that verified it, and nothing read it.
_RETIRED_FIELDS = ("scale", "verified_precisions")
_MAX_DEPTH = 8  # hyper-parameters and provenance are shallow; deeper JSON is refused
_MAX_CHANNELS = 64
_MAX_PAD_MULTIPLE = 1024


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
        pad_multiple: H and W are reflect-padded to a multiple of this before the forward pass.
        value_range: the float range the network reads and writes.
        degradation_classes: the classifier's class names, in logit order ("" tuple when none).
        classifier: the classifier's arch and hyper-parameters, when the weights carry one.
        name: a preset or zoo name, informative only.
        code_license: licence of the architecture's reference code.
        weights_license: licence of these weights: "unspecified" unless whoever made them said
            (training writes what its config states; the built-in model states its own).
        provenance: where the weights came from (checkpoint sha256, training config, source file).
    """

    arch: str
    hparams: Mapping[str, Any] = field(default_factory=dict)
    in_channels: int = 3
    out_channels: int = 3
    pad_multiple: int = 8
    value_range: tuple[float, float] = (0.0, 1.0)
    degradation_classes: tuple[str, ...] = ()
    classifier: ClassifierSpec | None = None
    name: str = ""
    code_license: str = "unknown"
    weights_license: str = "unspecified"
    provenance: Mapping[str, Any] = field(default_factory=dict)
    spec_version: int = SPEC_VERSION

    def __post_init__(self) -> None:
        object.__setattr__(self, "hparams", _freeze(self.hparams))
        object.__setattr__(self, "provenance", _freeze(self.provenance))
        object.__setattr__(self, "value_range", tuple(float(v) for v in self.value_range))
        object.__setattr__(self, "degradation_classes", tuple(self.degradation_classes))
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
        """A spec from untrusted data (a file's metadata): every field's type and range checked.

        Raises:
            ModelLoadError: naming the first field that is missing, unknown, of the wrong type or
                out of range.
        """
        if not isinstance(data, Mapping):
            raise ModelLoadError(f"model spec must be a JSON object, got {type(data).__name__}")
        values = dict(data)
        version = declared_version("model spec", values, "spec_version", SPEC_VERSION)
        if version == 1 and "license" in values:
            values["code_license"] = values.pop("license")
        values["spec_version"] = SPEC_VERSION
        _drop_retired(values)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ModelLoadError(f"model spec has unknown fields {unknown}; valid: {sorted(known)}")
        if "arch" not in values:
            raise ModelLoadError("model spec has no 'arch' field")
        _check_fields(values)
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> ModelSpec:
        try:
            data = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ModelLoadError(f"model spec is not valid JSON: {str(exc)[:200]}") from None
        if not isinstance(data, dict):
            raise ModelLoadError("model spec JSON must be an object")
        return cls.from_dict(data)


def is_int(value: object) -> bool:
    """An int that is not a bool (JSON true/false must not pass as 1/0)."""
    return isinstance(value, int) and not isinstance(value, bool)


def invalid_field(document: str, name: str, expected: str, value: object) -> ModelLoadError:
    """The one error for a malformed field of a file's metadata (spec or dcpt.json)."""
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ModelLoadError(f"{document} field '{name}' must be {expected}, got {shown}")


def declared_version(document: str, values: Mapping[str, Any], name: str, current: int) -> int:
    """The format version a file's metadata declares in field ``name`` (absent: ``current``).

    One check for the model spec and dcpt.json, so both refuse a file from a newer dcpt-sdk
    with the same upgrade hint rather than misreading fields they do not know.

    Raises:
        ModelLoadError: the version is not an int >= 1, or is newer than ``current``.
    """
    version = values.get(name, current)
    if not is_int(version) or version < 1:
        raise invalid_field(document, name, "an int >= 1", version)
    if version > current:
        raise ModelLoadError(
            f"{document} version {version} is newer than this dcpt-sdk reads ({current}): "
            "upgrade dcpt-sdk (pip install -U dcpt-sdk)"
        )
    return int(version)


def _depth(value: Any, level: int = 0) -> int:
    if level > _MAX_DEPTH:
        return level
    if isinstance(value, Mapping):
        return max([_depth(v, level + 1) for v in value.values()], default=level + 1)
    if isinstance(value, list | tuple):
        return max([_depth(v, level + 1) for v in value], default=level + 1)
    return level


def _fail(name: str, expected: str, value: object) -> ModelLoadError:
    return invalid_field("model spec", name, expected, value)


def _check_mapping(name: str, value: object) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(name, "an object with string keys", value)
    if _depth(value) > _MAX_DEPTH:
        raise _fail(name, f"nested at most {_MAX_DEPTH} levels deep", "<deeply nested>")


def _drop_retired(values: dict[str, Any]) -> None:
    """Remove the retired fields of older files (see _RETIRED_FIELDS), refusing a scale != 1."""
    scale = values.get("scale", 1)
    if scale != 1 or isinstance(scale, bool):
        raise _fail("scale", "1 (dcpt-sdk restores at the input size)", scale)
    for name in _RETIRED_FIELDS:
        values.pop(name, None)


def _check_fields(values: Mapping[str, Any]) -> None:
    """Types and ranges of a spec read from a file (the arch's own checks come at build time)."""
    for name in ("arch", "name", "code_license", "weights_license"):
        if name in values and not isinstance(values[name], str):
            raise _fail(name, "a string", values[name])
    for name in ("hparams", "provenance"):
        if name in values:
            _check_mapping(name, values[name])
    for name in ("in_channels", "out_channels"):
        if name in values:
            value = values[name]
            if not is_int(value) or not 1 <= value <= _MAX_CHANNELS:
                raise _fail(name, f"an int in 1..{_MAX_CHANNELS}", value)
    if "pad_multiple" in values:
        value = values["pad_multiple"]
        if not is_int(value) or not 1 <= value <= _MAX_PAD_MULTIPLE:
            raise _fail("pad_multiple", f"an int in 1..{_MAX_PAD_MULTIPLE}", value)
    if "value_range" in values:
        value = values["value_range"]
        if (
            not isinstance(value, list | tuple)
            or len(value) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            or not value[0] < value[1]
        ):
            raise _fail("value_range", "[low, high] numbers with low < high", value)
    if "degradation_classes" in values:
        value = values["degradation_classes"]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise _fail("degradation_classes", "a list of strings", value)
    classifier = values.get("classifier")
    if classifier is not None:
        if not isinstance(classifier, Mapping) or set(classifier) != {"arch", "hparams"}:
            raise _fail("classifier", 'null or {"arch": ..., "hparams": {...}}', classifier)
        if not isinstance(classifier["arch"], str):
            raise _fail("classifier.arch", "a string", classifier["arch"])
        _check_mapping("classifier.hparams", classifier["hparams"])


def spec_of(module: object) -> ModelSpec:
    """The ModelSpec a dcpt network carries as ``.spec`` (create_model and load_model set it)."""
    spec = getattr(module, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise UnsupportedOptionError(
            f"the {type(module).__name__} has no .spec (ModelSpec); build it with "
            "dcpt_sdk.create_model or load it with dcpt_sdk.load_model"
        )
    return spec
