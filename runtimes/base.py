"""The small protocol every backend implements (torch, onnxruntime, openvino, tensorrt).

Callers (``dcpt_sdk.Restorer``) hand a backend CPU float32 N x C x H x W tensors whose H and W are
multiples of the spec's pad multiple, and get CPU float32 tensors back. Padding, tiling and image
conversion stay in dcpt_sdk, so a new backend only implements ``_infer_impl`` (and, when it can
run the degradation classifier, ``_classify_impl``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

import torch

from dcpt_sdk.errors import BackendError, UnsupportedOptionError
from dcpt_sdk.formats import BackendName, Precision
from dcpt_sdk.spec import ModelSpec

__all__ = ["Runtime", "ArtifactRuntime", "ModelCall"]

# One loaded model file as a function: CPU float32 N x C x H x W in, a tensor out.
ModelCall = Callable[[torch.Tensor], torch.Tensor]


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
        backend can (torch), else the restorer and the classifier one after the other."""
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

    Each backend wraps its loaded file (session, compiled model, engine) as a ``ModelCall``; this
    class routes ``infer`` and ``classify_logits`` to them.
    """

    def __init__(
        self,
        spec: ModelSpec,
        device: str,
        precision: Precision,
        model: ModelCall,
        classifier: ModelCall | None,
    ) -> None:
        super().__init__(spec, device, precision)
        self._model: ModelCall | None = model
        self._classifier = classifier

    @property
    def has_classifier(self) -> bool:
        return self._classifier is not None

    def _infer_impl(self, batch: torch.Tensor) -> torch.Tensor:
        if self._model is None:
            raise BackendError(f"this {self.backend} model was closed; open a new Restorer")
        return self._model(batch)

    def _classify_impl(self, batch: torch.Tensor) -> torch.Tensor:
        if self._classifier is None:
            raise BackendError(f"this {self.backend} classifier was closed; open a new Restorer")
        return self._classifier(batch)

    def close(self) -> None:
        self._model = None
        self._classifier = None
