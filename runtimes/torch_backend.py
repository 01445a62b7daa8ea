"""The torch backend: eager PyTorch on CPU or CUDA, in fp32, fp16 (CUDA) or bf16.

Reduced precisions run under ``torch.autocast`` with fp32 weights: autocast keeps reductions,
``pow``, normalisations and softmax in fp32, which is what keeps NAFNet's LayerNorm and
Restormer's normalised attention from overflowing in fp16.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.formats import Precision
from dcpt_sdk.runtimes.base import Runtime
from dcpt_sdk.spec import spec_of

_AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when torch sees a GPU, else "cpu"; other names are checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnsupportedOptionError(
            f"device '{device}' was asked for but torch sees no CUDA GPU "
            f"(torch {torch.__version__}); use device='cpu' or install a CUDA build of torch"
        )
    if device != "cpu" and not device.startswith("cuda"):
        raise UnsupportedOptionError(f"unknown torch device '{device}'; valid: auto, cpu, cuda[:N]")
    return device


class TorchRuntime(Runtime):
    """Runs a dcpt network (a RestorationNetwork with .spec) in eager PyTorch."""

    backend = "torch"
    thread_safe = True  # inference_mode forward passes share no mutable state

    def __init__(
        self, model: nn.Module, device: str = "auto", precision: Precision = "fp32"
    ) -> None:
        spec = spec_of(model)
        device = resolve_device(device)
        if precision not in ("fp32", "fp16", "bf16"):
            raise UnsupportedOptionError(
                f"the torch backend runs fp32, fp16 or bf16, not '{precision}'; "
                "for int8 export to OpenVINO or ONNX (dcpt-export --precision int8)"
            )
        if precision == "fp16" and device == "cpu":
            raise UnsupportedOptionError(
                "fp16 on the CPU is emulated and slow in torch; use precision='bf16' (fast on "
                "CPUs with AMX/AVX-512-BF16) or 'fp32'"
            )
        super().__init__(spec, device, precision)
        # channels_last on the CPU: oneDNN's convolutions run NHWC without reordering every
        # layer; on the default model at 512x512 (2-core AMD EPYC, one quiet run of
        # benchmarks/test_backend_options.py) fp32 went 183 -> 113 ms and bf16 autocast
        # 174 -> 105 ms, outputs within 1e-7 of the NCHW ones. Like .to(device), in place.
        self.memory_format = torch.channels_last if device == "cpu" else torch.contiguous_format
        self.model = _with_memory_format(model.to(device), self.memory_format).eval()
        self.batch_gain = device != "cpu"

    @property
    def has_classifier(self) -> bool:
        return getattr(self.model, "classifier", None) is not None and bool(
            self.spec.degradation_classes
        )

    def _run(self, fn, batch: torch.Tensor) -> torch.Tensor:  # type: ignore[no-untyped-def]
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        x = batch.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        with torch.inference_mode():
            if self.precision == "fp32":
                return fn(x).float().contiguous()
            with torch.autocast(device_type, dtype=_AUTOCAST_DTYPES[self.precision]):
                return fn(x).float().contiguous()

    def _infer_impl(self, batch: torch.Tensor) -> torch.Tensor:
        return self._run(self.model, batch)

    def _classify_impl(self, batch: torch.Tensor) -> torch.Tensor:
        return self._run(self.model.classify_logits, batch)

    def _infer_and_classify_impl(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        device_type = "cuda" if self.device.startswith("cuda") else "cpu"
        x = batch.to(self.device, non_blocking=True).contiguous(memory_format=self.memory_format)
        # Only reached when has_classifier holds, i.e. the model is a RestorationNetwork.
        network = cast(RestorationNetwork, self.model)
        with torch.inference_mode():
            if self.precision == "fp32":
                restored, logits = network.restore_and_classify(x)
            else:
                with torch.autocast(device_type, dtype=_AUTOCAST_DTYPES[self.precision]):
                    restored, logits = network.restore_and_classify(x)
        return restored.float().contiguous(), logits.float()

    def close(self) -> None:
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()


def is_available() -> bool:
    return True


def _with_memory_format(model: nn.Module, memory_format: torch.memory_format) -> nn.Module:
    """``model`` with its 4-D weights in ``memory_format``, in place. Module.to(memory_format=)
    refuses any module holding a 5-D tensor (PromptIR's prompt bank), so only 4-D ones move."""
    if memory_format == torch.contiguous_format:
        return model
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dim() == 4:
            tensor.data = tensor.data.contiguous(memory_format=memory_format)
    return model
