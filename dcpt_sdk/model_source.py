"""Turn what the caller gave as ``model`` into a running backend (a runtimes.base.Runtime).

``model`` may be a torch network with a spec, a checkpoint file, an artifact directory from
dcpt-export (or a folder of several, one per format/precision), or a built-in zoo name.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

from torch import nn

from dcpt_sdk import zoo
from dcpt_sdk.artifact import ARTIFACT_FILE, ArtifactInfo, is_artifact_dir, read_artifact
from dcpt_sdk.autoexport import cached_exports, cpu_has_native_bf16
from dcpt_sdk.autotune import (
    DEFAULT_MIN_PSNR_DB,
    AutoChoice,
    Candidate,
    choose,
    no_candidate_error,
)
from dcpt_sdk.checkpoint import CHECKPOINT_SUFFIXES, load_model
from dcpt_sdk.errors import MissingDependencyError, ModelLoadError, UnsupportedOptionError
from dcpt_sdk.formats import Precision, format_of_backend, get_format
from dcpt_sdk.runtimes import available_backends, load_artifact
from dcpt_sdk.runtimes.base import Runtime
from dcpt_sdk.runtimes.torch_backend import TorchRuntime, resolve_device
from dcpt_sdk.spec import spec_of
from dcpt_sdk.user_cache import digest, file_digest

__all__ = ["open_runtime"]


def _check_backend_name(backend: str) -> None:
    if backend != "auto":
        format_of_backend(backend)  # raises with the valid names


def open_runtime(
    model: str | os.PathLike[str] | nn.Module,
    *,
    backend: str = "auto",
    device: str = "auto",
    precision: Precision | None = None,
    min_psnr_db: float = DEFAULT_MIN_PSNR_DB,
) -> tuple[Runtime, AutoChoice | None]:
    """Open ``model`` on ``backend`` (see Restorer for the accepted values); with a choice to
    make (several artifacts, or "auto" on a checkpoint) also returns what dcpt_sdk.autotune
    measured to make it."""
    _check_backend_name(backend)
    if isinstance(model, nn.Module):
        # A network in memory runs as given: the caller holds it for torch (training,
        # notebooks); "auto" measures among files, whose bytes can key a cache.
        return _torch_runtime(model, backend, device, precision), None
    if not isinstance(model, str | os.PathLike):
        raise ModelLoadError(
            f"model must be a name, a path or a torch module, got {type(model).__name__}"
        )
    path = Path(model)
    if path.is_dir():
        return _open_directory(path, backend, device, precision, min_psnr_db)
    built_in = False
    if not (path.is_file() or path.suffix.lower() in CHECKPOINT_SUFFIXES):
        if os.sep in str(model) or (os.altsep and os.altsep in str(model)):
            raise ModelLoadError(f"'{model}' does not exist (no such file or artifact directory)")
        path, built_in = zoo.model_path(str(model)), True
    network = load_model(path)
    if backend != "auto" or precision is not None:
        return _torch_runtime(network, backend, device, precision), None
    return _auto_checkpoint(network, path, device, min_psnr_db, export=built_in)


def _auto_checkpoint(
    network: nn.Module, path: Path, device: str, min_psnr_db: float, *, export: bool
) -> tuple[Runtime, AutoChoice]:
    """backend="auto" for a checkpoint: torch in each precision this device computes natively,
    plus (built-in models, CPU) the artifacts exported once into the user cache."""
    resolved = resolve_device(device)
    weights = file_digest(path)
    # Reduced precisions where the hardware computes them natively (elsewhere they are slower).
    reduced: tuple[Precision, ...] = ()
    if resolved.startswith("cuda"):
        reduced = ("fp16", "bf16")
    elif cpu_has_native_bf16():
        reduced = ("bf16",)
    candidates = [
        Candidate(
            "torch",
            p,
            "checkpoint",
            weights,
            math.inf if p == "fp32" else None,
            functools.partial(TorchRuntime, network, device=resolved, precision=p),
        )
        for p in ("fp32", *reduced)
    ]
    if export and resolved == "cpu":
        for directory, info in cached_exports(network, weights):
            candidates.append(_artifact_candidate(directory, info, resolved))
    return choose(candidates, resolved, spec_of(network).pad_multiple, min_psnr_db=min_psnr_db)


def _artifact_candidate(directory: Path, info: ArtifactInfo, device: str) -> Candidate:
    files = [info.model_file, *([info.classifier_file] if info.classifier_file else [])]
    identity = digest(
        [file_digest(directory / ARTIFACT_FILE), *(file_digest(directory / f) for f in files)]
    )
    return Candidate(
        get_format(info.format).backend,
        info.precision,
        str(directory),
        identity,
        verified_psnr_db(info),
        functools.partial(load_artifact, directory, info, device),
    )


def verified_psnr_db(info: ArtifactInfo) -> float:
    """The worst PSNR against torch fp32 that dcpt-export measured for this artifact (dB)."""
    values = [float(v["psnr_db"]) for v in info.parity.values() if "psnr_db" in v]
    return min(values) if values else 0.0


def _torch_runtime(
    module: nn.Module, backend: str, device: str, precision: Precision | None
) -> Runtime:
    if backend not in ("auto", "torch"):
        raise UnsupportedOptionError(
            f"a checkpoint runs on the torch backend; for '{backend}' export it first: "
            f"dcpt-export MODEL {format_of_backend(backend).flags[-1]} -o DIR, then Restorer(DIR)"
        )
    return TorchRuntime(module, device=device, precision=precision or "fp32")


def _artifact_dirs(path: Path) -> list[Path]:
    if is_artifact_dir(path):
        return [path]
    found = sorted(child for child in path.iterdir() if child.is_dir() and is_artifact_dir(child))
    if not found:
        raise ModelLoadError(
            f"'{path}' is neither an exported artifact (no dcpt.json) nor a folder of them; "
            "export one with: dcpt-export MODEL --onnx -o DIR"
        )
    return found


def _open_directory(
    path: Path, backend: str, device: str, precision: Precision | None, min_psnr_db: float
) -> tuple[Runtime, AutoChoice | None]:
    candidates = [(d, read_artifact(d)) for d in _artifact_dirs(path)]
    usable = [
        (d, info)
        for d, info in candidates
        if (backend == "auto" or get_format(info.format).backend == backend)
        and (precision is None or info.precision == precision)
    ]
    if not usable:
        raise no_candidate_error(
            f"no exported artifact matches backend={backend!r} precision={precision!r}",
            (f"{info.format}/{info.precision}" for _, info in candidates),
        )
    if len(usable) == 1:
        # load_artifact names the missing package if it cannot run here
        return load_artifact(usable[0][0], usable[0][1], device), None
    present = set(available_backends())
    runnable = [(d, info) for d, info in usable if get_format(info.format).backend in present]
    if not runnable:
        missing = sorted({get_format(info.format).pip_extra for _, info in usable})
        raise MissingDependencyError(
            "none of the exported artifacts can run on this machine: pip install "
            + " or ".join(f"'dcpt-sdk[{extra}]'" for extra in missing)
        )
    pad_multiple = runnable[0][1].spec.pad_multiple
    choices = [_artifact_candidate(d, info, device) for d, info in runnable]
    return choose(choices, device, pad_multiple, min_psnr_db=min_psnr_db)
