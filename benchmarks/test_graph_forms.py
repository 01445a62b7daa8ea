"""The NAFNet graph forms side by side: the official one, the conv-halves gates, the export form.

The built-in default model at 512x512, batch 1, three forms of the same function:

- official: SimpleGate as a chunk of one convolution's output, upsamplers as 1x1 conv +
  PixelShuffle (megvii-research/NAFNet's formulation), what training and the torch backend run;
- conv halves: each gate half by its own convolutions (archs/layers.conv_halves);
- conv halves + export form: also each upsampler as one ConvTranspose: the export form
  (RestorationNetwork.use_export_form), what every exported artifact holds;
- the export form + LayerNorm statistics by conv, mean subtracted: also each LayerNorm2d's two
  channel means as 1x1 convolutions with one output channel (layers.LayerNorm2d.conv_statistics),
  the mean map subtracted from the input;
- the export form + LayerNorm statistics by conv: the same, but the maps of up to 32 channels
  centred by one C x C convolution instead (LayerNorm2d.centre_by_conv), what export gives the
  targets in the formats table's conv_statistics (the last tables compare each step with the
  form before it, per round);

each on torch fp32 channels_last (2 threads), OpenVINO bf16 and fp32 (static shape, LATENCY hint)
and ONNX Runtime fp32 (2 threads). All twenty calls alternate, round after round (this VM's speed drifts between runs), and each form's
output is checked against the official one first. Run alone:

    DCPT_WRITE_RESULTS=1 .venv/bin/pytest benchmarks/test_graph_forms.py -m slow

DCPT_WRITE_RESULTS=1 writes benchmarks/results/graph_forms.{md,json}.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from dcpt_sdk.archs.layers import LayerNorm2d
from dcpt_sdk.archs.nafnet.network import NAFBlock
from dcpt_sdk.export.inputs import sample_crops, to_batch
from dcpt_sdk.formats import FORMATS
from dcpt_sdk.user_cache import cpu_name

WRITE_RESULTS = os.environ.get("DCPT_WRITE_RESULTS") == "1"
RESULTS = Path(__file__).parent / "results" / "graph_forms.md"
SIDE = 512
ROUNDS = 20
EXPORT_FORM = "conv halves + export form"
MEAN_SUBTRACTED = "export form + LayerNorm statistics by conv, mean subtracted"
CONV_STATISTICS = "export form + LayerNorm statistics by conv"
FORMS = ["official", "conv halves", EXPORT_FORM, MEAN_SUBTRACTED, CONV_STATISTICS]
# The per-round comparisons: (what changes, the form before, the form after).
STEPS = [
    ("LayerNorm statistics by conv vs by ReduceMean", EXPORT_FORM, MEAN_SUBTRACTED),
    ("centred by a C x C conv vs the mean subtracted (up to 32 channels)", MEAN_SUBTRACTED,
     CONV_STATISTICS),
    ("both steps together", EXPORT_FORM, CONV_STATISTICS),
]  # fmt: skip


def _forms() -> dict[str, nn.Module]:
    from dcpt_sdk import zoo
    from dcpt_sdk.checkpoint import load_model

    official = load_model(zoo.model_path("default")).eval()  # what training and torch run
    halves = copy.deepcopy(official)
    for module in halves.modules():
        if isinstance(module, NAFBlock):
            module.export_form = True  # the gates only, not the upsamplers
    exported = copy.deepcopy(official)
    exported.use_export_form()  # what every artifact holds
    by_conv = copy.deepcopy(official)
    by_conv.use_export_form(conv_statistics=True)  # the formats table's conv_statistics targets
    subtracted = copy.deepcopy(by_conv)
    for module in subtracted.modules():
        if isinstance(module, LayerNorm2d):
            module.centre_by_conv = False
    return {
        "official": official,
        "conv halves": halves,
        EXPORT_FORM: exported,
        MEAN_SUBTRACTED: subtracted,
        CONV_STATISTICS: by_conv,
    }


def _torch_call(module: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    def call() -> Any:
        with torch.no_grad():
            return module(x)

    return call


def _onnx_file(module: nn.Module, folder: Path, name: str) -> Path:
    """The form as the project's exporter writes it (export/onnx.py), without verification."""
    from dcpt_sdk.export import onnx as onnx_export

    path = folder / f"{name.replace(' ', '_').replace('+', 'and')}.onnx"
    onnx_export.torch_to_onnx(module, path, torch.rand(1, 3, 64, 64))
    return path


def _onnxruntime_call(path: Path) -> Callable[[np.ndarray], Any]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"input": x})[0]


def _openvino_call(path: Path, hint: str) -> Callable[[np.ndarray], Any]:
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    model.reshape([1, 3, SIDE, SIDE])
    compiled = core.compile_model(
        model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"}
    )
    request = compiled.create_infer_request()

    def call(x: np.ndarray) -> Any:
        request.infer({0: x})
        return request.get_output_tensor(0).data.copy()

    return call


@pytest.mark.slow
def test_graph_forms(benchmark: Any) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    torch.set_num_threads(2)
    forms = _forms()
    spec = forms["conv halves"].spec  # type: ignore[union-attr]
    x = torch.from_numpy(to_batch(sample_crops([(SIDE, SIDE)], seed=3)[0], spec))
    x_last = x.contiguous(memory_format=torch.channels_last)
    calls: dict[tuple[str, str], Callable[[], Any]] = {}
    with torch.no_grad():
        reference = forms["official"](x)
    with tempfile.TemporaryDirectory() as folder:
        for name, module in forms.items():
            with torch.no_grad():
                difference = float((module(x) - reference).abs().max())
            assert difference < 1e-4, f"{name} differs from the official form by {difference}"
            fast = copy.deepcopy(module).to(memory_format=torch.channels_last)
            calls[(name, "torch fp32 channels_last")] = _torch_call(fast, x_last)
            path = _onnx_file(module, Path(folder), name)
            for backend, infer in (
                ("OpenVINO bf16", _openvino_call(path, "bf16")),
                ("OpenVINO fp32", _openvino_call(path, "f32")),
                ("ONNX Runtime fp32", _onnxruntime_call(path)),
            ):
                calls[(name, backend)] = lambda f=infer: f(x.numpy())  # type: ignore[misc]
        for call in calls.values():  # warm-up
            call()
            call()
        times: dict[tuple[str, str], list[float]] = {key: [] for key in calls}

        def one_round() -> None:
            for key, call in calls.items():
                start = time.perf_counter()
                call()
                times[key].append((time.perf_counter() - start) * 1000.0)

        benchmark.group = f"NAFNet graph forms, {SIDE}x{SIDE}, one round = every form x backend"
        benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    if WRITE_RESULTS:
        _write(times)


def _write(times: dict[tuple[str, str], list[float]]) -> None:
    backends = sorted({backend for _, backend in times})
    medians = {f"{form} | {backend}": statistics.median(v) for (form, backend), v in times.items()}
    lines = [
        f"# NAFNet graph forms: the default model at {SIDE}x{SIDE}, batch 1",
        "",
        f"CPU: {cpu_name()}, 2 torch threads; torch {torch.__version__}. Written by "
        f"benchmarks/test_graph_forms.py: every form x backend alternating for {ROUNDS} rounds in "
        "one process; median ms per call (speed-up over the official form).",
        "",
        "| form | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for form in FORMS:
        cells = []
        for backend in backends:
            ms = statistics.median(times[(form, backend)])
            base = statistics.median(times[("official", backend)])
            cells.append(f"{ms:.1f} ({base / ms:.2f}x)")
        lines.append(f"| {form} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Each step against the form before it, per round (before ms / after ms): above 1 the step "
        "is faster. Export takes both for "
        + ", ".join(f"{f.name} {p}" for f in FORMATS for p in f.conv_statistics)
        + ".",
        "",
        "| step | " + " | ".join(backends) + " |",
        "|---|" + "---|" * len(backends),
    ]
    for label, before, after in STEPS:
        cells = []
        for backend in backends:
            pairs = zip(times[(before, backend)], times[(after, backend)], strict=True)
            ratios = [a / b for a, b in pairs]
            low, _, high = statistics.quantiles(ratios, n=4)
            cells.append(f"{statistics.median(ratios):.2f}x ({low:.2f}-{high:.2f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Cells: median ratio (interquartile range)."]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    RESULTS.with_suffix(".json").write_text(
        json.dumps({"cpu": cpu_name(), "rounds": ROUNDS, "median_ms": medians}, indent=2) + "\n"
    )
