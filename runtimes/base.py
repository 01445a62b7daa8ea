"""The small protocol every backend implements (torch, onnxruntime, openvino, tensorrt).

Callers (``dcpt_sdk.Restorer``) hand a backend CPU float32 N x C x H x W tensors whose H and W are
multiples of the spec's pad multiple, and get CPU float32 tensors back. Padding, tiling and image
conversion stay in dcpt_sdk, so a new backend only implements ``_infer_impl`` (and, when it can
run the degradation classifier, ``_classify_impl``).

Artifact backends read every output of a file BY NAME (the names dcpt.json's ``io`` section
records), never by position: the classifier file of newer artifacts returns the logits and the
restored image from one pass, older ones the logits alone, and both must keep working.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import torch

from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.errors import BackendError, UnsupportedOptionError
from dcpt_sdk.formats import BackendName, Precision
from dcpt_sdk.spec import ModelSpec

__all__ = [
    "Runtime",
    "ArtifactRuntime",
    "ModelCall",
    "ModelFile",
    "FileOutput",
    "ClassifierFile",
    "restorer_output",
]

# One loaded model file as a function: CPU float32 N x C x H x W in, a tensor out.
ModelCall = Callable[[torch.Tensor], torch.Tensor]


class ModelFile(Protocol):
    """One loaded model file (ORT session, OpenVINO compiled model, TensorRT engine)."""

    file: str  # its file name, for messages
    output_names: tuple[str, ...]  # in the file's own order

    def __call__(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        """Every output of the file for a CPU float32 batch, by name."""
        ...


@dataclass(frozen=True)
class FileOutput:
    """One named output of a ModelFile, as a ModelCall."""

    model: ModelFile
    name: str

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch)[self.name]


def _io(info: ArtifactInfo, key: str) -> Any:
    """A value of dcpt.json's io section, or of its classifier part (None where absent: the
    artifacts written before the io section existed, or a malformed one)."""
    io: Any = info.io
    if key.startswith("classifier."):
        io, key = io.get("classifier"), key.removeprefix("classifier.")
    value = io.get(key) if isinstance(io, Mapping) else None
    return value if isinstance(value, str) else None


def _output_name(model: ModelFile, wanted: str | None, what: str) -> str:
    if wanted in model.output_names:
        return str(wanted)
    if wanted is None:
        # dcpt.json names no output (before its io section): the first one, which is the
        # restorer's only output and, by the contract, the classifier file's logits.
        return model.output_names[0]
    raise BackendError(
        f"'{model.file}' has outputs {list(model.output_names)} but {what} is "
        f"{wanted!r} in dcpt.json; re-export the artifact with dcpt-export"
    )


def restorer_output(model: ModelFile, info: ArtifactInfo) -> FileOutput:
    """The restorer file's image output (io ``output_name``) as a ModelCall.

    Raises:
        BackendError: the file has no output of that name.
    """
    return FileOutput(
        model, _output_name(model, _io(info, "output_name"), "the restored image's output")
    )


@dataclass(frozen=True)
class ClassifierFile:
    """An artifact's classifier file and which of its outputs is which.

    Attributes:
        model: the loaded file.
        logits: the name of its logits output (io ``classifier.output_name``).
        image: the name of its restored image (the restorer's ``output_name``), None in files
            that return the logits alone (artifacts exported before the one-pass file).
        precision: the precision it computes in (dcpt.json ``classifier_precision``).
    """

    model: ModelFile
    logits: str
    image: str | None
    precision: Precision | None

    @classmethod
    def of(cls, model: ModelFile, info: ArtifactInfo) -> ClassifierFile:
        """Read the output names from dcpt.json's ``io`` section.

        Raises:
            BackendError: the file has no logits output of the recorded name.
        """
        logits = _output_name(model, _io(info, "classifier.output_name"), "the logits output")
        image = _io(info, "output_name")
        has_image = image is not None and image != logits and image in model.output_names
        return cls(model, logits, image if has_image else None, info.classifier_precision)


class Runtime(ABC):
    """A loaded model on one backend and device.

    Attributes:
        backend: the backend name (class constant).
        spec: the model's ModelSpec.
        device: where it runs ("cpu", "cuda", "cuda:1", "GPU" for OpenVINO, ...).
        precision: the precision it computes in.
        thread_safe: True when concurrent ``infer`` calls on one instance are safe; the Restorer
            serialises calls otherwise.
        batch_gain: True when running several tiles in one call is faster than one by one.
        activation_memory: this backend's peak activation memory relative to torch eager's (the
            Restorer's tiling memory model is measured on torch); below 1 where a backend reuses
            buffers, so large images are not tiled needlessly.
    """

    backend: ClassVar[BackendName]
    thread_safe: ClassVar[bool] = True
    activation_memory: ClassVar[float] = 1.0
    batch_gain: bool = False

    def __init__(self, spec: ModelSpec, device: str, precision: Precision) -> None:
        self.spec = spec
        self.device = device
        self.precision = precision

    @property
    def has_classifier(self) -> bool:
        return False

    def infer(self, batch: torch.Tensor) -> torch.Tensor:
        """Restore a CPU float32 batch (N x C x H x W, H and W multiples of spec.pad_multiple)."""
        self._check_input(batch)
        out = self._infer_impl(batch)
        return out.to(device="cpu", dtype=torch.float32)

    def classify_logits(self, batch: torch.Tensor) -> torch.Tensor:
        """Degradation logits (N x len(spec.degradation_classes)) for a CPU float32 batch."""
        if not self.has_classifier:
            raise UnsupportedOptionError(
                f"this {self.backend} model has no degradation classifier; use a DCPT model that "
                "carries one (e.g. a fine-tuned checkpoint from train/finetune.py)"
            )
        self._check_input(batch)
        return self._classify_impl(batch).to(device="cpu", dtype=torch.float32)

    def infer_and_classify(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(restored batch, logits) of one batch; one pass through the shared layers where the
        backend can (torch; artifacts whose classifier file returns the image at the restorer's
        precision: ``ArtifactRuntime.one_pass``), else the restorer and the classifier one
        after the other."""
        if not self.has_classifier:
            self.classify_logits(batch)  # raises the no-classifier error
        self._check_input(batch)
        restored, logits = self._infer_and_classify_impl(batch)
        return (
            restored.to(device="cpu", dtype=torch.float32),
            logits.to(device="cpu", dtype=torch.float32),
        )

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release backend resources (sessions, engines, GPU memory)."""

    def _check_input(self, batch: torch.Tensor) -> None:
        multiple = self.spec.pad_multiple
        if batch.ndim != 4 or batch.shape[1] != self.spec.in_channels:
            raise BackendError(
                f"{self.backend} expects N x {self.spec.in_channels} x H x W, got {tuple(batch.shape)}"
            )
        if batch.shape[2] % multiple or batch.shape[3] % multiple:
            raise BackendError(
                f"{self.backend} input {batch.shape[2]}x{batch.shape[3]} is not a multiple of "
                f"{multiple}; pad it first (Restorer does)"
            )

    @abstractmethod
    def _infer_impl(self, batch: torch.Tensor) -> torch.Tensor: ...

    def _classify_impl(self, batch: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _infer_and_classify_impl(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._infer_impl(batch), self._classify_impl(batch)


class ArtifactRuntime(Runtime):
    """A backend running an artifact's model file and, when exported, its classifier file.

    Each backend wraps its loaded restorer file as a ``ModelCall`` (``restorer_output``) and its
    classifier file as a ``ClassifierFile``; this class routes ``infer``, ``classify_logits``
    and ``infer_and_classify`` to them.
    """

    def __init__(
        self,
        spec: ModelSpec,
        device: str,
        precision: Precision,
        model: ModelCall,
        classifier: ClassifierFile | None,
    ) -> None:
        super().__init__(spec, device, precision)
        self._model: ModelCall | None = model
        self._classifier = classifier

    @property
    def has_classifier(self) -> bool:
        return self._classifier is not None

    @property
    def one_pass(self) -> bool:
        """True when ``infer_and_classify`` runs the classifier file alone: it returns the
        restored image too and computes at the restorer file's precision, so its image is the
        one ``infer`` gives (to float rounding)."""
        head = self._classifier
        return head is not None and head.image is not None and head.precision == self.precision

    def classifier_outputs(self, batch: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(restored image or None, logits) of ONE run of the classifier file, whatever its
        precision; the image is None for files that return the logits alone. The export's
        verification compares both with torch."""
        if not self.has_classifier:
            self.classify_logits(batch)  # raises the no-classifier error
        self._check_input(batch)
        outputs = self._run_classifier(batch)
        head = self._head()
        image = outputs[head.image] if head.image is not None else None
        return (
            None if image is None else image.to(device="cpu", dtype=torch.float32),
            outputs[head.logits].to(device="cpu", dtype=torch.float32),
        )

    def _head(self) -> ClassifierFile:
        if self._classifier is None:
            raise BackendError(f"this {self.backend} classifier was closed; open a new Restorer")
        return self._classifier

    def _run_classifier(self, batch: torch.Tensor) -> Mapping[str, torch.Tensor]:
        return self._head().model(batch)

    def _infer_impl(self, batch: torch.Tensor) -> torch.Tensor:
        if self._model is None:
            raise BackendError(f"this {self.backend} model was closed; open a new Restorer")
        return self._model(batch)

    def _classify_impl(self, batch: torch.Tensor) -> torch.Tensor:
        return self._run_classifier(batch)[self._head().logits]

    def _infer_and_classify_impl(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.one_pass:
            # Two runs: an int8 artifact's classifier file is fp32 (export.builders.
            # classifier_precision), so its image is not the int8 restorer's and run() and
            # run_and_classify() would give different images; the image comes from the restorer
            # file and only the logits from the classifier file. Files that return the logits
            # alone (older artifacts) take this path too.
            return super()._infer_and_classify_impl(batch)
        head = self._head()
        outputs = self._run_classifier(batch)
        return outputs[str(head.image)], outputs[head.logits]

    def close(self) -> None:
        self._model = None
        self._classifier = None
