"""Helpers every architecture test shares (not collected: no test_ prefix).

The tests' weights come from tests/_models.py's ``randomised``, the one model-randomising helper
of the suite; hyper-parameters from the registry's presets (``ARCH.defaults``, ``ARCH.tiny``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from dcpt_sdk.archs.base import StateDict
from dcpt_sdk.archs.restormer import ARCH as RESTORMER

REFERENCE_DIR = Path(__file__).parents[1] / "data" / "reference_state_dicts"
Layout = list[tuple[str, tuple[int, ...]]]


def read_reference(name: str) -> tuple[int, Layout]:
    """(parameter count from the header, [(name, shape)] in state_dict order) of a layout file
    in tests/data/reference_state_dicts (the reference checkpoints' parameter names and shapes)."""
    lines = (REFERENCE_DIR / name).read_text().splitlines()
    match = re.search(r"params=(\d+)", lines[0])
    assert match is not None, f"{name}: no parameter count in the header"
    entries = []
    for line in lines[1:]:
        key, shape = line.split("\t")
        entries.append((key, tuple(int(v) for v in re.findall(r"\d+", shape))))
    return int(match.group(1)), entries


def layout(net: nn.Module) -> Layout:
    return [(key, tuple(t.shape)) for key, t in net.state_dict().items()]


def param_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def _same(key: str) -> str:
    return key


def reference_state_dict(name: str, rename: Callable[[str], str] = _same) -> StateDict:
    """A reference layout file as a state dict of meta tensors (keys through ``rename``)."""
    return {
        rename(key): torch.empty(shape, device="meta") for key, shape in read_reference(name)[1]
    }


def assert_reference_layout(
    net: nn.Module, name: str, count: int, rename: Callable[[str], str] = _same
) -> None:
    """``net`` holds the reference file's parameter names (through ``rename``), shapes and order,
    and ``count`` parameters, the count the file's header states."""
    reference_count, entries = read_reference(name)
    assert layout(net) == [(rename(key), shape) for key, shape in entries]
    assert param_count(net) == reference_count == count


def taps_and_restored(net: nn.Module, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """(forward_features(x), forward(x)) without gradients, after checking that the one-pass
    forward_with_features(x), which restore_and_classify uses, gives exactly both."""
    with torch.no_grad():
        taps, restored = net.forward_features(x), net(x)
        one_pass, one_pass_taps = net.forward_with_features(x)
    assert torch.equal(one_pass, restored)
    assert all(torch.equal(a, b) for a, b in zip(one_pass_taps, taps, strict=True))
    return taps, restored


def hparams_row(preset: Mapping[str, Any], *values: Any) -> dict[str, Any]:
    """A variant written as one row in the preset's own key order: ``hparams_row(ARCH.defaults,
    3, 3, 16, ...)``; the keys are the preset's, never retyped."""
    return dict(zip(preset, values, strict=True))


# Restormer-family sizes beside the presets, for the detection tests of Restormer and PromptIR
# (which adds its prompts): a wider one with biases and the bias-free LayerNorm, and a gray one
# without refinement blocks. Rows in the preset's key order: channels in/out, dim, num_blocks,
# num_refinement_blocks, heads, ffn_expansion_factor, bias, layernorm_type.
UNET_VARIANTS: dict[str, dict[str, Any]] = {
    "dim16": hparams_row(
        RESTORMER.defaults, 3, 3, 16, [1, 2, 2, 1], 2, [1, 2, 2, 4], 2.0, True, "BiasFree"
    ),
    "gray-dim24": hparams_row(
        RESTORMER.defaults, 1, 1, 24, [2, 1, 3, 2], 0, [2, 2, 4, 8], 1.5, False, "WithBias"
    ),
}


def onnx_max_errors(
    net: nn.Module,
    path: Path,
    *,
    batch: int = 1,
    image_output: bool = True,
    sizes: tuple[tuple[int, int], ...] = ((40, 56), (72, 24)),
) -> list[float]:
    """Export at 32x48 with a dynamic batch, H and W (the output's too when it is an image, not
    logits); max |onnxruntime - torch| at each of the other sizes."""
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    dynamic = {0: "batch", 2: "height", 3: "width"}
    torch.onnx.export(
        net,
        (torch.rand(1, 3, 32, 48),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["image"],
        output_names=["output"],
        dynamic_axes={"image": dynamic, "output": dynamic if image_output else {0: "batch"}},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    errors = []
    for height, width in sizes:
        x = torch.rand(batch, 3, height, width)
        with torch.no_grad():
            expected = net(x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        assert got.shape == expected.shape
        errors.append(float(abs(got - expected).max()))
    return errors
