"""Inference speed of the built-in default model on every CPU backend x precision, side by side.

Torch with 2 threads slows ~10x when another process holds a core (deployment notes), so the
configurations are compared within one run, never across runs. Run alone:

    .venv/bin/pytest benchmarks/test_backend_speed.py              # 256x256
    .venv/bin/pytest benchmarks/test_backend_speed.py -m slow      # 512x512

and read benchmarks/results/backend_speed.md (median ms per call, batch 1, and the PSNR of each
backend's output against torch fp32 on the same natural input). The table is (re)written only when
DCPT_WRITE_RESULTS=1 (`make bench`), so a plain test run never rewrites tracked results.
DCPT_BENCH_MODEL picks another model (a zoo name, a checkpoint, or "nafnet-tiny").
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from dcpt_sdk.export.inputs import sample_crops, to_batch

MODEL = os.environ.get("DCPT_BENCH_MODEL", "default")
WRITE_RESULTS = os.environ.get("DCPT_WRITE_RESULTS") == "1"
RESULTS = Path(__file__).parent / "results" / "backend_speed.md"
# (label, format or None for torch, precision)
CONFIGS = [
    ("torch fp32", None, "fp32"),
    ("torch bf16 (autocast)", None, "bf16"),
    ("ONNX Runtime fp32", "onnx", "fp32"),
    ("ONNX Runtime int8 (QDQ)", "onnx", "int8"),
    ("OpenVINO fp32", "openvino", "fp32"),
    ("OpenVINO bf16 hint", "openvino", "bf16"),
    ("OpenVINO int8 (NNCF)", "openvino", "int8"),
    # The public call, image in -> image out, whatever "auto" picks (conversion, padding included).
    ('Restorer(backend="auto").run', "auto", "auto"),
]
SIZES = [256, pytest.param(512, marks=pytest.mark.slow)]

_medians: dict[tuple[str, int], float] = {}
_psnr: dict[tuple[str, int], float] = {}


def _network() -> torch.nn.Module:
    from dcpt_sdk import zoo
    from dcpt_sdk.checkpoint import load_model
    from dcpt_sdk.models import create_model

    if MODEL == "default" or MODEL in zoo.available_models():
        return load_model(zoo.model_path(MODEL)).eval()
    if Path(MODEL).is_file():
        return load_model(MODEL).eval()
    torch.manual_seed(0)
    network = create_model(MODEL)
    with torch.no_grad():  # upstream zero-inits these scales: every block would be the identity
        for key, param in network.named_parameters():
            if key.endswith(("beta", "gamma")):
                param.normal_(0.0, 0.5)
    return network.eval()


@pytest.fixture(scope="module")
def runners(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Callable]]:
    """label -> Runtime.infer for every configuration whose packages are installed."""
    from dcpt_sdk.export import export
    from dcpt_sdk.runtimes import load_artifact
    from dcpt_sdk.runtimes.torch_backend import TorchRuntime

    network = _network()
    root = tmp_path_factory.mktemp("speed")
    found: dict[str, Callable] = {}
    runtimes = []
    for label, fmt, precision in CONFIGS:
        if fmt == "auto":
            from dcpt_sdk.restorer import Restorer

            restorer = Restorer(network, backend="auto")
            found[label] = _image_call(restorer)
            runtimes.append(restorer)
            continue
        if fmt is None:
            runtime: Any = TorchRuntime(network, device="cpu", precision=precision)
        else:
            pytest.importorskip({"onnx": "onnxruntime", "openvino": "openvino"}[fmt])
            info = export(network, fmt, precision, root / f"{fmt}-{precision}")
            runtime = load_artifact(root / f"{fmt}-{precision}", info, "cpu")
        runtimes.append(runtime)
        found[label] = runtime.infer
    yield found
    for runtime in runtimes:
        runtime.close()
    if _medians and WRITE_RESULTS:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(_table(), encoding="utf-8")


def _image_call(restorer: Any) -> Callable[[torch.Tensor], torch.Tensor]:
    """Restorer.run on the batch as an image (float HWC in [0, 1]), output back as a batch."""

    def call(x: torch.Tensor) -> torch.Tensor:
        image = x[0].permute(1, 2, 0).numpy()
        return torch.from_numpy(restorer.run(image)).permute(2, 0, 1)[None]

    return call


def _input(size: int) -> torch.Tensor:
    spec = _network().spec
    return torch.from_numpy(to_batch(sample_crops([(size, size)], seed=3)[0], spec))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("label", [c[0] for c in CONFIGS])
def test_backend_speed(benchmark: Any, runners: dict, label: str, size: int) -> None:
    x = _input(size)
    run = runners[label]
    out = run(x)  # warm-up (compilation, first allocations) outside the timing
    reference = runners["torch fp32"](x)
    error = float(torch.mean((out.clamp(0, 1) - reference.clamp(0, 1)).double() ** 2))
    _psnr[(label, size)] = math.inf if error == 0 else 10 * math.log10(1.0 / error)
    benchmark.group = f"{MODEL} {size}x{size}, batch 1"
    benchmark.pedantic(run, args=(x,), rounds=5, iterations=1, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        _medians[(label, size)] = stats.stats.median * 1000.0


def _cpu() -> str:
    for line in (
        Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    ):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def _table() -> str:
    sizes = sorted({size for _, size in _medians})
    header = "| backend | " + " | ".join(f"{s}x{s} ms (PSNR vs torch fp32)" for s in sizes) + " |"
    lines = [
        f"# Backend speed: {_network().spec.name or MODEL}, batch 1, median of 5 calls",
        "",
        f"CPU: {_cpu()}, {torch.get_num_threads()} torch threads; torch {torch.__version__}. "
        "Written by benchmarks/test_backend_speed.py; compare rows of one run only.",
        "",
        header,
        "|---|" + "---|" * len(sizes),
    ]
    for label, _, _ in CONFIGS:
        cells = []
        for size in sizes:
            if (label, size) in _medians:
                psnr = _psnr[(label, size)]
                shown = "exact" if math.isinf(psnr) else f"{psnr:.1f} dB"
                cells.append(f"{_medians[(label, size)]:.1f} ({shown})")
            else:
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
