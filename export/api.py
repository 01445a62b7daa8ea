"""``export(model, format, precision, output_dir, **options)``: one verified artifact directory.

Steps: check every option against the formats table (before any work) -> build the model file(s)
in a temporary directory beside the target -> load them back through the runtime a user gets ->
measure parity with fp32 torch (export/verify.py) -> write dcpt.json (and the same facts into the
ONNX metadata) -> rename the directory into place. A failure at any step leaves no artifact.

The DCPT classifier, when the model carries one, is exported as a second model file that
runs the restorer's encoder/decoder ONCE and returns both the degradation logits and the restored
image (``_ClassifierGraph``, outputs "logits" first, then the restorer's "output"): the decoder
features the classifier reads are the ones the image is made from, so ``run_and_classify`` costs
one pass, the same as ``run``. The restorer file stays image -> image: restoration alone never
pays for the classifier head, and a file with one output is what every backend and a Triton model
handle the same way. The other split, a restorer file with extra feature outputs plus a head-only
file, would make every ``run`` copy the feature maps out and tie the two files together. Logits
come first so a plain client reading output 0 of the classifier file still gets the logits.
Int8 artifacts carry an fp32 classifier file (the logits of a quantized feature path drift more
than its restored image does); its image is fp32 too, so ``run_and_classify`` there takes the
image from the int8 restorer file and only the logits from this one (runtimes/base.py).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from dcpt_sdk._files import chmod_like_new
from dcpt_sdk._optional import require
from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.artifact import CARD_FILE, ArtifactInfo, is_artifact_dir, write_artifact_info
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.export import verify
from dcpt_sdk.export.builders import Builder, BuildOptions, Built, classifier_precision
from dcpt_sdk.export.contract import io_section, model_card
from dcpt_sdk.formats import Format, Precision, check_precision, export_formats, get_format, resolve
from dcpt_sdk.runtimes.base import ArtifactRuntime, Runtime
from dcpt_sdk.spec import ModelSpec, spec_of

__all__ = ["export", "require_exporter", "EXPORTABLE_FORMATS"]

# The built-in export targets (the table's formats with a builder); export() itself asks the
# table at call time.
EXPORTABLE_FORMATS = tuple(fmt.name for fmt in export_formats())
_INT8_ONLY = ("calib", "calib_count")


class _ClassifierGraph(nn.Module):
    """image -> (degradation logits, restored image) from one pass of the restorer (its decoder
    features feed the classifier head), in export.onnx.CLASSIFIER_OUTPUTS order."""

    def __init__(self, network: RestorationNetwork) -> None:
        super().__init__()
        self.network = network

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        restored, logits = self.network.restore_and_classify(x)
        return logits, restored


def _check_options(fmt: Format, precision: str, options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(fmt.export_options))
    if unknown:
        raise UnsupportedOptionError(
            f"{fmt.name} export does not accept option(s) {', '.join(unknown)}; "
            f"it accepts: {', '.join(fmt.export_options)}"
        )
    given = [name for name in _INT8_ONLY if name in options]
    if given and precision != "int8":
        raise UnsupportedOptionError(
            f"{', '.join(given)} only apply to precision='int8' (calibration); "
            f"got precision='{precision}'"
        )
    for flag in ("slim", "dynamo"):
        if flag in options and not isinstance(options[flag], bool):
            raise UnsupportedOptionError(f"{flag} must be True or False; got {options[flag]!r}")


def _resolve_model(model: nn.Module | str | os.PathLike[str], arch: str | None = None) -> nn.Module:
    """A torch network with a spec, a checkpoint path, a zoo name, or a preset (untrained).

    ``arch`` names the architecture of a checkpoint whose keys fit more than one (load_model)."""
    if isinstance(model, nn.Module):
        if not isinstance(getattr(model, "spec", None), ModelSpec):
            raise UnsupportedOptionError(
                "the torch module has no .spec (ModelSpec); build it with dcpt_sdk.create_model "
                "or load it with dcpt_sdk.load_model"
            )
        return model
    if not isinstance(model, str | os.PathLike):
        raise UnsupportedOptionError(
            f"model must be a torch module, a checkpoint path or a model name; "
            f"got {type(model).__name__}"
        )
    from dcpt_sdk import zoo
    from dcpt_sdk.checkpoint import CHECKPOINT_SUFFIXES, load_model

    path = Path(model)
    if path.is_file() or path.suffix.lower() in CHECKPOINT_SUFFIXES:
        return load_model(path, arch=arch)
    if arch is not None:
        raise UnsupportedOptionError(
            f"--arch/arch= applies to checkpoint files; '{model}' is not one"
        )
    if str(model) == "default" or str(model) in zoo.available_models():
        return load_model(zoo.model_path(str(model)))
    from dcpt_sdk.models import create_model

    network = create_model(str(model))
    warnings.warn(
        f"'{model}' is a preset: exporting UNTRAINED weights (pass a checkpoint to export "
        "trained ones)",
        UserWarning,
        stacklevel=3,
    )
    return network


def _has_classifier(network: nn.Module) -> bool:
    spec = spec_of(network)
    return getattr(network, "classifier", None) is not None and bool(spec.degradation_classes)


def check_target(target: Path) -> bool:
    """Refuse an output that is a file or a non-artifact folder; True when an existing artifact
    there will be replaced (callers say so)."""
    if target.exists() and not target.is_dir():
        raise UnsupportedOptionError(f"output '{target}' is a file; give a directory")
    if target.is_dir() and any(target.iterdir()) and not is_artifact_dir(target):
        raise UnsupportedOptionError(
            f"output '{target}' exists and is not an artifact directory; refusing to "
            "replace it (choose a new or empty directory)"
        )
    return is_artifact_dir(target)


def _readable_by_others(directory: Path) -> None:
    """Give the artifact the permissions the umask allows (mkdtemp makes 0700 folders and
    mkstemp 0600 files, which a server running as another user, e.g. Triton, cannot read)."""
    for path in [directory, *directory.rglob("*")]:
        chmod_like_new(path)


@contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A temp directory beside ``target``, renamed onto it on success, removed on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield staging
        _commit(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _commit(staging: Path, target: Path) -> None:
    """Move ``staging`` to ``target``; an existing artifact there is swapped out, then deleted."""
    if not target.exists():
        os.replace(staging, target)
        return
    backup = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except OSError:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _tool_versions(fmt: Format, precision: str) -> dict[str, str]:
    import importlib
    import importlib.metadata

    try:
        own = importlib.metadata.version("dcpt-sdk")
    except importlib.metadata.PackageNotFoundError:  # a source checkout on PYTHONPATH
        own = "source"
    versions = {"dcpt-sdk": own, "torch": torch.__version__}
    for name in _requirements(fmt, precision):
        versions[name] = str(getattr(importlib.import_module(name), "__version__", "unknown"))
    return versions


def _verify(
    info: ArtifactInfo, directory: Path, network: nn.Module, export_size: tuple[int, int]
) -> ArtifactInfo:
    """Run the artifact through its runtime; return info with parity, or raise."""
    from dcpt_sdk.runtimes import load_artifact

    spec = info.spec
    profile = info.shape_profile
    bounds = None
    if "min" in profile:  # a TensorRT profile bounds the sizes the engine accepts
        bounds = (tuple(profile["min"][2:]), tuple(profile["max"][2:]))
    inputs = verify.verification_inputs(spec, export_size, bounds)
    runtime = load_artifact(directory, info, get_format(info.format).verify_device)
    what = f"{info.format} {info.precision}"
    try:
        images = verify.reference_outputs(network, inputs)
        parity = verify.measure(runtime.infer, images, inputs, spec)
        verify.check(parity, verify.THRESHOLDS[info.precision], what)
        classifier_parity: dict[str, Any] = {}
        if info.classifier_file:
            # An artifact with a classifier file was exported from a RestorationNetwork.
            classify = cast(RestorationNetwork, network).classify_logits
            logits = verify.reference_outputs(classify, inputs)
            run = _classifier_outputs(runtime)
            classifier_parity = verify.measure_classifier(run, images, logits, inputs, spec)
            threshold = verify.CLASSIFIER_THRESHOLDS[info.precision]
            verify.check(classifier_parity, threshold, f"{what} classifier")
            # The file's restored image is held to the threshold of its own precision (fp32 in
            # int8 artifacts); the restorer's torch outputs are its references.
            own = verify.THRESHOLDS[info.classifier_precision or info.precision]
            verify.check(verify.image_figures(classifier_parity), own, f"{what} classifier image")
    finally:
        runtime.close()
    return dataclasses.replace(info, parity=parity, classifier_parity=classifier_parity)


def _classifier_outputs(
    runtime: Runtime,
) -> Callable[[torch.Tensor], tuple[torch.Tensor | None, torch.Tensor]]:
    """(image or None, logits) of one run of the artifact's classifier file; a runtime that is
    not an ArtifactRuntime (a format of one's own) gives its logits alone."""
    if isinstance(runtime, ArtifactRuntime):
        return runtime.classifier_outputs
    return lambda batch: (None, runtime.classify_logits(batch))


def _default_output_dir(spec: ModelSpec, fmt: Format, precision: str) -> Path:
    return Path(f"{spec.name or spec.arch}-{fmt.name}-{precision}")


def export(
    model: nn.Module | str | os.PathLike[str],
    format: str,
    precision: Precision | str = "fp32",
    output_dir: str | os.PathLike[str] | None = None,
    **options: Any,
) -> ArtifactInfo:
    """Export a restoration model to one verified artifact directory.

    Args:
        model: a dcpt network (with ``.spec``), a checkpoint path, a zoo name, or a preset name
            (untrained weights; a warning says so).
        format: "onnx", "openvino" or "tensorrt" (see dcpt_sdk.formats.FORMATS).
        precision: "fp32", "fp16", "bf16" or "int8", as the format allows.
        output_dir: the artifact directory to create (default "<name>-<format>-<precision>").
            An existing artifact there is replaced; any other non-empty directory is refused.
        **options: the format's export options (FORMATS[...].export_options):
            opset (17), slim (True), dynamo (False), export_size (64, the tracing size);
            calib (folder of images) and calib_count (16), int8 only;
            min_size / opt_size / max_size (64 / 512 / 1024) and workspace_gb (4), TensorRT.

    Returns:
        The ArtifactInfo written to dcpt.json, parity figures included.

    Raises:
        UnsupportedOptionError: unknown format/precision/option (the message lists valid ones).
        MissingDependencyError: the format's package (or, for TensorRT, a CUDA GPU) is missing.
        VerificationError: the exported model missed its precision's parity threshold.

    Example:
        >>> info = export("model.safetensors", "openvino", "int8", "out/openvino-int8")
        >>> info.parity
        {'37x53->40x56': {'psnr_db': 47.1, 'max_abs': 0.012}, ...}
    """
    fmt = get_format(format)  # unknown names get the table's error
    if fmt.builder is None:
        targets = ", ".join(f.name for f in export_formats())
        raise UnsupportedOptionError(
            f"'{format}' is not an export target; valid: {targets} "
            "(torch weights are saved with dcpt_sdk.save_model)"
        )
    checked = check_precision(fmt, precision)
    _check_options(fmt, checked, options)
    require_exporter(fmt, checked)
    network = copy.deepcopy(_resolve_model(model)).float().cpu().eval()
    if isinstance(network, RestorationNetwork):
        # Same function, the operators the runtimes run fastest.
        network.use_export_form(conv_statistics=checked in fmt.conv_statistics)
    spec = spec_of(network)
    build_options = BuildOptions.from_options(spec, fmt, options)
    target = Path(output_dir) if output_dir is not None else _default_output_dir(spec, fmt, checked)
    check_target(target)
    classifier = None
    if _has_classifier(network):  # only a RestorationNetwork carries a classifier
        classifier = _ClassifierGraph(cast(RestorationNetwork, network)).eval()
    with _staging(target) as staging:
        builder: Builder = resolve(fmt.builder)
        built = builder(network, classifier, staging, checked, build_options)
        info = _info(spec, fmt, checked, built)
        info = _verify(info, staging, network, build_options.export_size)
        built.finalize(staging, info.to_dict())
        write_artifact_info(staging, info)
        (staging / CARD_FILE).write_text(model_card(info.to_dict()), encoding="utf-8")
        _readable_by_others(staging)
    return info


def _requirements(fmt: Format, precision: str) -> tuple[str, ...]:
    return (*fmt.export_requires, *(fmt.int8_requires if precision == "int8" else ()))


def require_exporter(fmt: Format, precision: str) -> None:
    """Fail before any work when this machine lacks what exporting ``fmt`` needs: the table's
    ``export_check`` (one line naming everything missing, e.g. TensorRT's package and GPU),
    then each package of ``export_requires`` (+ ``int8_requires``).

    Raises:
        MissingDependencyError: naming the pip extra to install.
    """
    if fmt.export_check is not None:
        resolve(fmt.export_check)()
    for module in _requirements(fmt, precision):
        require(module, f"{fmt.name} {precision} export")


def _info(spec: ModelSpec, fmt: Format, precision: Precision, built: Built) -> ArtifactInfo:
    head_precision = classifier_precision(precision) if built.classifier_file else None
    return ArtifactInfo(
        spec=spec,
        format=fmt.name,
        precision=precision,
        model_file=fmt.model_file,
        classifier_file=built.classifier_file,
        classifier_precision=head_precision,
        opset=built.opset,
        shape_profile=built.shape_profile,
        runtime_hints=built.runtime_hints,
        tool_versions=_tool_versions(fmt, precision),
        io=io_section(
            spec, fmt, precision, built.classifier_file, head_precision, built.runtime_hints
        ),
    )
