"""Reading and writing weights: .safetensors and .pth/.pt, with architecture detection.

Reading never unpickles arbitrary objects (``torch.load(weights_only=True)``). Wrapped BasicSR-style
files ({"params_ema": ..., "params": ...}), "module."/"net." prefixes and the reference DCPT NAFNet's
"decoder{i}." keys are normalised before the architecture is detected from keys and shapes.
"""

from __future__ import annotations

import os
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcpt_sdk import archs
from dcpt_sdk._files import write_bytes_atomic
from dcpt_sdk.archs import (
    Architecture,
    closest_architecture,
    detect_architecture,
    detect_own_keys,
    get_architecture,
)
from dcpt_sdk.errors import AmbiguousArchitectureWarning, ModelLoadError, UnsupportedOptionError
from dcpt_sdk.spec import ClassifierSpec, ModelSpec
from dcpt_sdk.user_cache import file_digest

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "load_model",
    "save_model",
    "read_state_dict",
    "normalize_state_dict",
    "describe_mismatch",
]

CHECKPOINT_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt")
SPEC_METADATA_KEY = "dcpt_spec"
CLASSIFIER_PREFIX = "classifier."
# Wrapper keys in order of preference: EMA weights are what BasicSR evaluates with.
_WRAPPER_KEYS = ("params_ema", "params", "state_dict", "model", "net")
_STRIPPED_PREFIXES = ("module.", "net.")
_REFERENCE_NAFNET_DECODER = re.compile(r"^decoder(\d+)\.")
_MAX_KEYS_LISTED = 8


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelLoadError(f"'{path}' is not a readable .safetensors file: {exc}") from exc
    return tensors, metadata


def _read_pickle(path: Path) -> Any:
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"'{path}' holds Python objects besides tensors, and dcpt-sdk never unpickles "
            f"arbitrary code (torch.load weights_only=True refused it: {str(exc).splitlines()[0]}). "
            "Re-save only the state dict: torch.save(model.state_dict(), 'weights.pth')"
        ) from exc
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise ModelLoadError(
            f"'{path}' is not a readable PyTorch checkpoint ({type(exc).__name__}: {exc})"
        ) from exc


def _unwrap(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """Descend through BasicSR/Lightning-style wrappers to the flat name -> tensor mapping."""
    for _ in range(4):  # wrappers nest at most a few levels deep
        if (
            isinstance(obj, Mapping)
            and obj
            and all(isinstance(v, torch.Tensor) for v in obj.values())
        ):
            return {str(k): v for k, v in obj.items()}
        if not isinstance(obj, Mapping):
            break
        inner = next((obj[key] for key in _WRAPPER_KEYS if key in obj), None)
        if inner is None:
            break
        obj = inner
    raise ModelLoadError(
        f"'{path}' holds no state dict: expected a mapping of parameter names to tensors, "
        f"optionally wrapped in one of {list(_WRAPPER_KEYS)}"
    )


def normalize_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Strip shared wrapper prefixes and map reference DCPT key names onto ours."""
    result = dict(state_dict)
    stripped = True
    while stripped:
        stripped = False
        for prefix in _STRIPPED_PREFIXES:
            if result and all(key.startswith(prefix) for key in result):
                result = {key[len(prefix) :]: value for key, value in result.items()}
                stripped = True
    # The reference DCPT NAFNet names decoder levels "decoder{i}." where NAFNet says "decoders.{i}.".
    return {_REFERENCE_NAFNET_DECODER.sub(r"decoders.\1.", key): v for key, v in result.items()}


def read_state_dict(
    path: str | os.PathLike[str],
) -> tuple[dict[str, torch.Tensor], ModelSpec | None]:
    """The normalised state dict of a checkpoint file, and its ModelSpec when the file carries one."""
    file = Path(path)
    if not file.is_file():
        raise ModelLoadError(f"checkpoint '{file}' does not exist or is not a file")
    suffix = file.suffix.lower()
    if suffix not in CHECKPOINT_SUFFIXES:
        raise ModelLoadError(
            f"'{file}' has suffix '{suffix}'; checkpoints must be one of {list(CHECKPOINT_SUFFIXES)}"
        )
    spec = None
    if suffix == ".safetensors":
        tensors, metadata = _read_safetensors(file)
        if SPEC_METADATA_KEY in metadata:
            spec = ModelSpec.from_json(metadata[SPEC_METADATA_KEY])
    else:
        tensors = _unwrap(_read_pickle(file), file)
    return normalize_state_dict(tensors), spec


def _split_classifier(state_dict: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    restorer = {k: v for k, v in state_dict.items() if not k.startswith(CLASSIFIER_PREFIX)}
    classifier = {
        k[len(CLASSIFIER_PREFIX) :]: v
        for k, v in state_dict.items()
        if k.startswith(CLASSIFIER_PREFIX)
    }
    return restorer, classifier


def _drop_ignored(
    arch: Architecture, state_dict: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    prefixes = tuple(arch.ignored_key_prefixes)
    if not prefixes:
        return state_dict
    return {k: v for k, v in state_dict.items() if not k.startswith(prefixes)}


def describe_mismatch(
    own: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]
) -> str | None:
    """Why ``given`` cannot load strictly into a module whose state dict is ``own`` (None: it can).

    Names the missing, unexpected and mis-shaped keys (the first few of each).
    """
    missing = sorted(set(own) - set(given))
    unexpected = sorted(set(given) - set(own))
    mis_shaped = sorted(
        f"{k} {tuple(given[k].shape)} != {tuple(own[k].shape)}"
        for k in set(own) & set(given)
        if own[k].shape != given[k].shape
    )
    problems = []
    for label, keys in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrong shape", mis_shaped),
    ):
        if keys:
            shown = ", ".join(keys[:_MAX_KEYS_LISTED])
            more = (
                f" (+{len(keys) - _MAX_KEYS_LISTED} more)" if len(keys) > _MAX_KEYS_LISTED else ""
            )
            problems.append(f"{label} keys: {shown}{more}")
    return "; ".join(problems) if problems else None


def _build_loaded(
    arch: Architecture, kwargs: dict[str, Any], state_dict: Mapping[str, torch.Tensor], what: str
) -> nn.Module:
    """``arch`` built from (possibly hostile) hyper-parameters and loaded strictly with the weights.

    The network is first built on the meta device (no memory), so hyper-parameters that do not
    construct, or that describe other shapes than the file's tensors (a 1 MB file whose spec says
    width 512 would otherwise allocate gigabytes), fail before anything is allocated; a misfit
    names the missing, unexpected and mis-shaped keys.
    """
    try:
        with torch.device("meta"):
            skeleton = arch.build(**kwargs)
    except Exception as exc:  # the constructor's own check, or a TypeError/ValueError on odd values
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise ModelLoadError(
            f"{what}: the hyper-parameters {kwargs} do not build a {arch.name}: {detail}"
        ) from None
    problem = describe_mismatch(skeleton.state_dict(), state_dict)
    if problem:
        raise ModelLoadError(f"the weights do not fit {what}: {problem}")
    model = arch.build(**kwargs)
    model.load_state_dict(state_dict, strict=True)
    return model


def _check_weight_dtypes(state_dict: Mapping[str, torch.Tensor], path: Path) -> None:
    """Restoration weights are floating point; bool or integer tensors are a damaged file."""
    bad = [f"{k} ({v.dtype})" for k, v in state_dict.items() if not v.is_floating_point()]
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise ModelLoadError(
            f"'{path}' holds non-floating-point weights ({shown}); a restorer's weights are "
            "float16/bfloat16/float32/float64"
        )


def _check_spec_fits_arch(spec: ModelSpec, arch: Architecture, path: Path) -> None:
    if arch.kind != "restorer":
        return  # a standalone classifier file: no image padding to check
    try:
        expected = arch.pad_multiple(spec.hparams)
    except Exception:  # hostile hparams; the meta build reports them properly
        return
    if spec.pad_multiple != expected:
        raise ModelLoadError(
            f"'{path}': its spec says pad_multiple {spec.pad_multiple}, but a {spec.arch} with "
            f"these hyper-parameters needs {expected}; the file's metadata is damaged"
        )


def _named_arch(
    state_dict: dict[str, torch.Tensor], path: Path, name: str
) -> tuple[Architecture, dict]:
    """The caller's architecture, its hyper-parameters read from the keys (no detection order)."""
    arch = get_architecture(name)
    if arch.kind != "restorer":
        raise ModelLoadError(f"arch={name!r} is a {arch.kind}, not a restorer")
    hparams = arch.detect(state_dict)
    if hparams is None:  # its keys plus others: the strict load names those
        hparams = detect_own_keys(arch, state_dict)
    if hparams is None:
        sample = ", ".join(sorted(state_dict)[:5])
        raise ModelLoadError(
            f"'{path}' does not hold a {name} state dict (keys start: {sample}); leave arch unset "
            f"to detect the architecture"
        )
    return arch, hparams


def _detect(state_dict: dict[str, torch.Tensor], path: Path) -> tuple[Architecture, dict]:
    found = detect_architecture(state_dict)
    if found is None:
        # One architecture's keys plus others (stray, or another architecture's): build it, and
        # the strict load names every key that does not fit.
        closest = closest_architecture(state_dict)
        if closest is not None:
            return closest
        sample = ", ".join(sorted(state_dict)[:5])
        supported = ", ".join(a.name for a in archs.ARCHITECTURES if a.detectable)
        raise ModelLoadError(
            f"'{path}' matches no known architecture (keys start: {sample}); supported: {supported}"
        )
    if found[0].ambiguity:
        warnings.warn(
            f"'{path.name}': {found[0].ambiguity}", AmbiguousArchitectureWarning, stacklevel=3
        )
    return found


def _build_classifier(
    state_dict: dict[str, torch.Tensor], spec: ClassifierSpec | None, path: Path
) -> tuple[nn.Module, ClassifierSpec]:
    if spec is None:
        arch, hparams = _detect(state_dict, path)
        if arch.kind != "classifier":
            raise ModelLoadError(
                f"'{path}': the 'classifier.' keys are a {arch.name}, not a classifier"
            )
        spec = ClassifierSpec(arch.name, hparams)
    try:
        arch = get_architecture(spec.arch)
    except UnsupportedOptionError as exc:
        raise ModelLoadError(f"'{path}': its classifier spec names {exc}") from None
    if arch.kind != "classifier":
        raise ModelLoadError(f"'{path}': its classifier spec names {spec.arch!r}, a {arch.kind}")
    what = f"the {spec.arch} classifier of '{path}'"
    classifier = _build_loaded(arch, spec.constructor_kwargs(), state_dict, what)
    return classifier, spec


def _check_pairing(model: nn.Module, classifier: ClassifierSpec, path: Path) -> None:
    """The classifier must read exactly the feature maps this restorer produces."""
    expected = tuple(getattr(model, "feature_channels", ()))
    dims = tuple(classifier.hparams.get("feature_dims", ()))
    if dims != expected:
        raise ModelLoadError(
            f"'{path}': the classifier reads features of {list(dims)} channels but the "
            f"restorer produces {list(expected)}"
        )


def load_model(
    path: str | os.PathLike[str],
    *,
    arch: str | None = None,
    device: str | torch.device = "cpu",
) -> nn.Module:
    """Load a checkpoint as a network in eval mode carrying its ``.spec`` (a ModelSpec).

    The architecture and its hyper-parameters come from the file's embedded spec when it has one
    (files written by save_model), else they are detected from the parameter names and shapes.
    A DCPT classifier stored under "classifier." keys is attached as ``model.classifier``.

    Args:
        path: a .safetensors or .pth checkpoint.
        arch: the restorer architecture, for a file without an embedded spec whose keys fit more
            than one (an official-layout Restormer may be DCPT's ``"restormer-origin"``). Left
            None, the architecture is detected, with a warning where the keys are ambiguous.
        device: where the network goes.

    Raises:
        ModelLoadError: the file is missing, not a checkpoint, fits no architecture (or not
            ``arch``), or its keys or shapes do not fit (the message names the keys).

    Example:
        >>> net = load_model("dcpt_nafnet_5d.pth")
        >>> net.spec.arch
        'nafnet'
    """
    file = Path(path)
    state_dict, spec = read_state_dict(file)
    _check_weight_dtypes(state_dict, file)
    restorer_sd, classifier_sd = _split_classifier(state_dict)
    if spec is None:
        if arch is None:
            found, hparams = _detect(restorer_sd, file)
        else:
            found, hparams = _named_arch(restorer_sd, file, arch)
        from dcpt_sdk.models import spec_for  # models imports archs only; no cycle at call time

        spec = spec_for(found, hparams)
    else:
        if arch is not None and arch != spec.arch:
            raise ModelLoadError(
                f"'{file}' was saved as a {spec.arch} (its embedded ModelSpec says so), not "
                f"{arch!r}; drop arch= to load it as what it is"
            )
        try:
            found = get_architecture(spec.arch)
        except UnsupportedOptionError as exc:
            raise ModelLoadError(f"'{file}': its spec names {exc}") from None
        _check_spec_fits_arch(spec, found, file)
    restorer_sd = _drop_ignored(found, restorer_sd)
    what = f"the {spec.arch} {dict(spec.hparams)} of '{file.name}'"
    model = _build_loaded(found, spec.constructor_kwargs(), restorer_sd, what)
    if classifier_sd:
        classifier, classifier_spec = _build_classifier(classifier_sd, spec.classifier, file)
        _check_pairing(model, classifier_spec, file)
        getattr(model, "attach_classifier")(classifier)  # noqa: B009 - RestorationNetwork API
        spec = spec.replace(classifier=classifier_spec)
    provenance = dict(spec.provenance)
    provenance.setdefault("checkpoint_sha256", file_digest(file))
    provenance.setdefault("source_file", file.name)
    setattr(model, "spec", spec.replace(provenance=provenance))  # noqa: B010
    return model.to(device).eval()


def save_model(
    model: nn.Module, path: str | os.PathLike[str], spec: ModelSpec | None = None
) -> Path:
    """Write the network's weights (and its classifier's, if attached) to .safetensors.

    The ModelSpec (``spec`` or ``model.spec``) goes into the file's metadata, so load_model needs
    no guessing. The file is written to a temporary name and renamed: never half-written.
    """
    file = Path(path)
    if file.suffix.lower() != ".safetensors":
        raise ModelLoadError(f"save_model writes .safetensors files; got '{file.name}'")
    spec = spec if spec is not None else getattr(model, "spec", None)
    if not isinstance(spec, ModelSpec):
        raise ModelLoadError("save_model needs a ModelSpec: pass spec=... or set model.spec")
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {SPEC_METADATA_KEY: spec.to_json(), "format": "pt"}
    write_bytes_atomic(file, save(tensors, metadata=metadata))
    return file
