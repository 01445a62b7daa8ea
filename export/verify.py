"""Parity of an exported model with fp32 torch, measured after every export.

The exported model runs through the same runtime a user gets (runtimes.load_artifact) on natural
inputs at two sizes that differ from the tracing size: an odd one (37 x 53 content, reflect-padded
to the pad multiple as the Restorer pads) and a larger, non-square one. Figures land in dcpt.json;
an export outside its precision's threshold raises VerificationError and leaves no artifact.

Thresholds (against the fp32 torch output; PSNR peak = the width of the spec's value range):
    fp32       max-abs <= 1e-4
    fp16/bf16  PSNR >= 45 dB
    int8       PSNR >= 38 dB
The classifier file returns the logits and the restored image from one pass: its logits are
compared by max-abs relative to the largest reference logit (1e-4 for fp32, 2e-2 for
fp16/bf16), its image like the restorer file's, with the threshold of the classifier file's
precision (int8 artifacts carry an fp32 classifier file, so fp32 for both there).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from dcpt_sdk.errors import VerificationError
from dcpt_sdk.export.inputs import round_up, sample_crops, to_batch
from dcpt_sdk.metrics import psnr
from dcpt_sdk.spec import ModelSpec

__all__ = [
    "Threshold",
    "THRESHOLDS",
    "CLASSIFIER_THRESHOLDS",
    "verification_sizes",
    "verification_inputs",
    "measure",
    "measure_logits",
    "measure_classifier",
    "image_figures",
    "check",
]

ODD_SIZE = (37, 53)
BatchFn = Callable[[torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Threshold:
    """An export passes when every measured size meets each bound that is set."""

    max_abs: float | None = None
    min_psnr_db: float | None = None

    def describe(self) -> str:
        parts = []
        if self.max_abs is not None:
            parts.append(f"max-abs <= {self.max_abs:g}")
        if self.min_psnr_db is not None:
            parts.append(f"PSNR >= {self.min_psnr_db:g} dB")
        return " and ".join(parts)

    def passes(self, figures: Mapping[str, float]) -> bool:
        if self.max_abs is not None and not figures["max_abs"] <= self.max_abs:
            return False
        return self.min_psnr_db is None or figures["psnr_db"] >= self.min_psnr_db


THRESHOLDS: Mapping[str, Threshold] = {
    "fp32": Threshold(max_abs=1e-4),
    "fp16": Threshold(min_psnr_db=45.0),
    "bf16": Threshold(min_psnr_db=45.0),
    "int8": Threshold(min_psnr_db=38.0),
}
# Relative max-abs of the logits (max |a - b| / max(1, max |b|)).
CLASSIFIER_THRESHOLDS: Mapping[str, Threshold] = {
    "fp32": Threshold(max_abs=1e-4),
    "fp16": Threshold(max_abs=2e-2),
    "bf16": Threshold(max_abs=2e-2),
    "int8": Threshold(max_abs=1e-4),
}


def verification_sizes(
    spec: ModelSpec,
    export_size: tuple[int, int],
    bounds: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> list[tuple[int, int]]:
    """Content sizes to verify at: an odd one (37 x 53) and one ~1.5-2x the export size.

    Both are padded to the pad multiple before running; neither equals the export size. With
    ``bounds`` ((min_h, min_w), (max_h, max_w), a TensorRT profile), sizes are moved inside it:
    the odd one to one pixel less than the minimum side (still odd, padded up to the minimum).
    """
    height, width = export_size
    odd = ODD_SIZE
    larger = (height + height // 2 + 5, 2 * width + 3)
    padded = [tuple(round_up(v, spec.pad_multiple) for v in size) for size in (odd, larger)]
    if tuple(export_size) in padded:  # a user-chosen export size equal to a check size
        larger = (larger[0] + 2 * spec.pad_multiple, larger[1] + spec.pad_multiple)
    if bounds is not None:
        (min_h, min_w), (max_h, max_w) = bounds
        odd = (max(odd[0], min_h - 1), max(odd[1], min_w - 1))
        larger = (min(max(larger[0], min_h + 1), max_h), min(max(larger[1], min_w + 3), max_w))
    return [odd, larger]


def verification_inputs(
    spec: ModelSpec,
    export_size: tuple[int, int],
    bounds: tuple[tuple[int, int], tuple[int, int]] | None = None,
    seed: int = 0,
) -> dict[str, torch.Tensor]:
    """Degraded sample-photo crops per verification size, padded: {"37x53->40x56": 1xCxHxW}."""
    sizes = verification_sizes(spec, export_size, bounds)
    inputs = {}
    for (height, width), crop in zip(sizes, sample_crops(sizes, seed=seed), strict=True):
        batch = torch.from_numpy(to_batch(crop, spec))
        inputs[f"{height}x{width}->{batch.shape[2]}x{batch.shape[3]}"] = batch
    return inputs


def reference_outputs(fn: BatchFn, inputs: Mapping[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """fp32 torch outputs of ``fn`` (a module or bound method) for each input."""
    with torch.inference_mode():
        return {key: fn(batch).float().numpy() for key, batch in inputs.items()}


def measure(
    run: BatchFn,
    references: Mapping[str, np.ndarray],
    inputs: Mapping[str, torch.Tensor],
    spec: ModelSpec,
) -> dict[str, dict[str, float]]:
    """PSNR (dB) and max-abs error of ``run`` against the references, per input size."""
    return {
        key: _image_figures(run(batch).numpy(), references[key], spec)
        for key, batch in inputs.items()
    }


def _image_figures(output: np.ndarray, reference: np.ndarray, spec: ModelSpec) -> dict[str, float]:
    peak = spec.value_range[1] - spec.value_range[0]
    error = output.astype(np.float64) - reference
    if not np.all(np.isfinite(error)):
        return {"psnr_db": -math.inf, "max_abs": math.inf}
    return {
        # raw outputs (no clip): parity is about the network, not a saved image
        "psnr_db": round(psnr(output, reference, peak=peak, clip=False), 2),
        "max_abs": float(f"{float(np.abs(error).max()):.3g}"),
    }


def _logit_figures(logits: np.ndarray, reference: np.ndarray) -> dict[str, Any]:
    scale = max(1.0, float(np.abs(reference).max()))
    error = (
        float(np.abs(logits - reference).max()) / scale if np.all(np.isfinite(logits)) else math.inf
    )
    return {
        "max_abs": float(f"{error:.3g}"),
        "top1_agrees": bool((logits.argmax(axis=1) == reference.argmax(axis=1)).all()),
    }


def measure_logits(
    run: BatchFn, references: Mapping[str, np.ndarray], inputs: Mapping[str, torch.Tensor]
) -> dict[str, dict[str, Any]]:
    """Relative max-abs error of logits and whether the top class agrees, per input size."""
    return {
        key: _logit_figures(run(batch).numpy(), references[key]) for key, batch in inputs.items()
    }


def measure_classifier(
    run: Callable[[torch.Tensor], tuple[torch.Tensor | None, torch.Tensor]],
    images: Mapping[str, np.ndarray],
    logits: Mapping[str, np.ndarray],
    inputs: Mapping[str, torch.Tensor],
    spec: ModelSpec,
) -> dict[str, dict[str, Any]]:
    """The classifier file's figures per input size, from one run of it each: the logits' as
    :func:`measure_logits`, plus ``image_psnr_db`` / ``image_max_abs`` of its restored image
    (as :func:`measure`) when it returns one (``run`` gives (image or None, logits))."""
    figures = {}
    for key, batch in inputs.items():
        image, head = run(batch)
        figures[key] = _logit_figures(head.numpy(), logits[key])
        if image is not None:
            restored = _image_figures(image.numpy(), images[key], spec)
            figures[key] |= {f"image_{name}": value for name, value in restored.items()}
    return figures


def image_figures(figures: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The restored-image part of :func:`measure_classifier`'s figures, under :func:`measure`'s
    names (so :func:`check` applies an image threshold to it); sizes without one are left out."""
    return {
        key: {"psnr_db": value["image_psnr_db"], "max_abs": value["image_max_abs"]}
        for key, value in figures.items()
        if "image_psnr_db" in value
    }


def check(figures: Mapping[str, Mapping[str, Any]], threshold: Threshold, what: str) -> None:
    """Raise VerificationError naming every size that misses ``threshold``."""
    failed = {key: dict(value) for key, value in figures.items() if not threshold.passes(value)}
    if failed:
        measured = "; ".join(
            f"{key}: " + ", ".join(f"{name}={value}" for name, value in value.items())
            for key, value in failed.items()
        )
        raise VerificationError(
            f"{what} failed verification against fp32 torch: {measured} "
            f"(required: {threshold.describe()}); no artifact was written"
        )
