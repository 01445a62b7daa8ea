"""Helpers shared by the Restormer and PromptIR tests (not collected: no test_ prefix)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

REFERENCE_DIR = Path(__file__).parents[1] / "data" / "reference_state_dicts"
Layout = list[tuple[str, tuple[int, ...]]]


def read_reference(name: str) -> tuple[int, Layout]:
    """(parameter count from the header, [(name, shape)] in state_dict order) of a layout file."""
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


def meta_state_dict(entries: Layout) -> dict[str, torch.Tensor]:
    return {key: torch.empty(shape, device="meta") for key, shape in entries}


def param_count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def randomised(net: nn.Module, seed: int = 0) -> nn.Module:
    """Perturb the norms and temperatures away from their 1/0 initial values, so every parameter
    matters to the output (the conv weights are random already)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in net.parameters():
            if param.ndim <= 1 or param.shape[1:] == (1, 1):
                param.add_(0.2 * torch.randn(param.shape, generator=generator))
    return net.eval()


def restore_padded(net: nn.Module, x: torch.Tensor, multiple: int) -> torch.Tensor:
    """What Restorer does: reflect-pad H and W to the multiple, run, crop back."""
    height, width = x.shape[-2:]
    padded = F.pad(x, (0, -width % multiple, 0, -height % multiple), mode="reflect")
    assert padded.shape[-2] % multiple == 0 and padded.shape[-1] % multiple == 0
    with torch.no_grad():
        return net(padded)[..., :height, :width]


def onnx_max_errors(
    net: nn.Module, path: Path, sizes: tuple[tuple[int, int], ...] = ((40, 56), (72, 24))
) -> list[float]:
    """Export at 32x48 with dynamic batch/H/W; max |onnxruntime - torch| at each other size."""
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
        output_names=["restored"],
        dynamic_axes={"image": dynamic, "restored": dynamic},
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    errors = []
    for height, width in sizes:
        x = torch.rand(1, 3, height, width)
        with torch.no_grad():
            expected = net(x).numpy()
        got = session.run(None, {"image": x.numpy()})[0]
        assert got.shape == expected.shape
        errors.append(float(abs(got - expected).max()))
    return errors
