"""Each backend's own speed options on the built-in default model, side by side with the setting
the SDK uses today, in one run (Issue 10: "speed work, each change measured side by side").

    .venv/bin/pytest benchmarks/test_backend_options.py -m "slow or not slow"   # alone, quiet

Groups (median ms; each group's first row is the reference the others are compared with):
- torch, 512x512, batch 1: eager fp32 NCHW (the reference; the torch backend runs channels_last
  on the CPU since this benchmark found it 1.6x faster), channels_last, flush-denormal, bf16
  autocast (with and without channels_last), torch.compile (inductor) fp32.
- ONNX Runtime fp32, 512x512: ORT_ENABLE_ALL with ORT's default threads (baseline), EXTENDED,
  BASIC, one intra-op thread, the parallel executor.
- OpenVINO bf16 hint, 8 images of 512x512: LATENCY hint with one synchronous request per image
  (baseline: what run_batch does on CPU), THROUGHPUT hint with an AsyncInferQueue of the plugin's
  optimal number of requests.
Every row's output is checked against torch fp32 (PSNR) so a faster row that computes something
else shows. Results (DCPT_WRITE_RESULTS=1, `make bench`): benchmarks/results/backend_options.md/.json.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dcpt_sdk.export.inputs import sample_crops, to_batch
from dcpt_sdk.metrics import psnr
from dcpt_sdk.user_cache import cpu_name

WRITE_RESULTS = os.environ.get("DCPT_WRITE_RESULTS") == "1"
RESULTS = Path(__file__).parent / "results" / "backend_options.md"
SIDE = 512
BATCH = 8

Call = Callable[[np.ndarray], np.ndarray]  # N x 3 x H x W float32 -> same
_rows: dict[str, dict[str, dict[str, float]]] = {}


def _network() -> torch.nn.Module:
    from dcpt_sdk import zoo
    from dcpt_sdk.checkpoint import load_model

    return load_model(zoo.model_path("default")).eval()


def _inputs(count: int) -> np.ndarray:
    spec = _network().spec
    crops = sample_crops([(SIDE, SIDE)] * count, seed=5)
    return np.concatenate([to_batch(c, spec) for c in crops])


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    network = _network()
    with torch.inference_mode():
        return np.concatenate([network(torch.from_numpy(x[None])).numpy() for x in _inputs(BATCH)])


# --- torch ------------------------------------------------------------------------------------


def _torch_calls() -> dict[str, Call]:
    network = _network()

    def eager(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return network(torch.from_numpy(x)).numpy()

    last = _network().to(memory_format=torch.channels_last)

    def channels_last(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            t = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
            return last(t).contiguous().numpy()

    def flush_denormal(x: np.ndarray) -> np.ndarray:
        previous = torch.set_flush_denormal(True)
        try:
            return eager(x)
        finally:
            torch.set_flush_denormal(previous)

    def bf16(model: torch.nn.Module, layout: torch.memory_format) -> Call:
        def call(x: np.ndarray) -> np.ndarray:
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(torch.from_numpy(x).contiguous(memory_format=layout))
            return out.float().contiguous().numpy()

        return call

    compiled = torch.compile(_network())

    def inductor(x: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return compiled(torch.from_numpy(x)).numpy()

    return {
        "eager fp32 (baseline)": eager,
        "channels_last fp32": channels_last,
        "flush denormals fp32": flush_denormal,
        "bf16 autocast": bf16(network, torch.contiguous_format),
        "bf16 autocast + channels_last": bf16(last, torch.channels_last),
        "torch.compile fp32 (inductor)": inductor,
    }


# --- ONNX Runtime -----------------------------------------------------------------------------


def _ort_calls(model_file: Path) -> dict[str, Call]:
    ort = pytest.importorskip("onnxruntime")
    level = ort.GraphOptimizationLevel

    def session(**options: Any) -> Call:
        so = ort.SessionOptions()
        so.graph_optimization_level = options.pop("level", level.ORT_ENABLE_ALL)
        for key, value in options.items():
            setattr(so, key, value)
        sess = ort.InferenceSession(str(model_file), so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name
        return lambda x: sess.run(None, {name: x})[0]

    return {
        "ENABLE_ALL, default threads (baseline)": session(),
        "ENABLE_EXTENDED": session(level=level.ORT_ENABLE_EXTENDED),
        "ENABLE_BASIC": session(level=level.ORT_ENABLE_BASIC),
        "1 intra-op thread": session(intra_op_num_threads=1),
        "parallel executor": session(execution_mode=ort.ExecutionMode.ORT_PARALLEL),
    }


# --- OpenVINO ---------------------------------------------------------------------------------


def _ov_calls(model_file: Path, hint: str) -> dict[str, Call]:
    ov = pytest.importorskip("openvino")
    core = ov.Core()

    def static(mode: str, batch: int = 1) -> Any:
        model = core.read_model(str(model_file))
        model.reshape([batch, 3, SIDE, SIDE])
        return core.compile_model(
            model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": mode}
        )

    latency = static("LATENCY")
    request = latency.create_infer_request()

    def sequential(x: np.ndarray) -> np.ndarray:
        outs = []
        for image in x:
            request.infer({0: image[None]})
            outs.append(np.array(request.get_output_tensor(0).data, copy=True))
        return np.concatenate(outs)

    throughput = static("THROUGHPUT")
    queue = ov.AsyncInferQueue(
        throughput, throughput.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    )

    def asynchronous(x: np.ndarray) -> np.ndarray:
        outs: list[np.ndarray | None] = [None] * len(x)

        def done(req: Any, index: int) -> None:
            outs[index] = np.array(req.get_output_tensor(0).data, copy=True)

        queue.set_callback(done)
        for index, image in enumerate(x):
            queue.start_async({0: image[None]}, index)
        queue.wait_all()
        return np.concatenate([o for o in outs if o is not None])

    batched = static("THROUGHPUT", BATCH)
    batched_request = batched.create_infer_request()

    def one_call(x: np.ndarray) -> np.ndarray:
        batched_request.infer({0: x})
        return np.array(batched_request.get_output_tensor(0).data, copy=True)

    return {
        "LATENCY, one request per image (baseline)": sequential,
        "THROUGHPUT, AsyncInferQueue": asynchronous,
        f"THROUGHPUT, one batch-{BATCH} call": one_call,
    }


# --- the rows ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, Call]]]:
    from dcpt_sdk.export import export

    root = tmp_path_factory.mktemp("options")
    found: dict[str, dict[str, Call]] = {f"torch, {SIDE}x{SIDE}, batch 1": _torch_calls()}
    network = _network()
    try:
        info = export(network, "onnx", "fp32", root / "onnx")
        found[f"ONNX Runtime fp32, {SIDE}x{SIDE}, batch 1"] = _ort_calls(
            root / "onnx" / info.model_file
        )
    except pytest.skip.Exception:
        pass
    try:
        info = export(network, "openvino", "bf16", root / "openvino")
        hint = str(info.runtime_hints.get("INFERENCE_PRECISION_HINT", "bf16"))
        found[f"OpenVINO {hint} hint, {BATCH} images of {SIDE}x{SIDE}"] = _ov_calls(
            root / "openvino" / info.model_file, hint
        )
    except pytest.skip.Exception:
        pass
    yield found
    if _rows and WRITE_RESULTS:
        RESULTS.write_text(_table(), encoding="utf-8")
        RESULTS.with_suffix(".json").write_text(
            json.dumps(
                {"cpu": cpu_name(), "threads": torch.get_num_threads(), "rows": _rows}, indent=2
            )
            + "\n"
        )


CASES = (
    [
        ("torch", label)
        for label in (
            "eager fp32 (baseline)",
            "channels_last fp32",
            "flush denormals fp32",
            "bf16 autocast",
            "bf16 autocast + channels_last",
            "torch.compile fp32 (inductor)",
        )
    ]
    + [
        ("ONNX Runtime", label)
        for label in (
            "ENABLE_ALL, default threads (baseline)",
            "ENABLE_EXTENDED",
            "ENABLE_BASIC",
            "1 intra-op thread",
            "parallel executor",
        )
    ]
    + [
        ("OpenVINO", label)
        for label in (
            "LATENCY, one request per image (baseline)",
            "THROUGHPUT, AsyncInferQueue",
            f"THROUGHPUT, one batch-{BATCH} call",
        )
    ]
)


@pytest.mark.slow
@pytest.mark.parametrize(("family", "label"), CASES, ids=[f"{f}: {c}" for f, c in CASES])
def test_backend_option(
    benchmark: Any,
    groups: dict[str, dict[str, Call]],
    reference: np.ndarray,
    family: str,
    label: str,
) -> None:
    group = next((g for g in groups if g.startswith(family)), None)
    if group is None:
        pytest.skip(f"{family} is not installed")
    call = groups[group][label]
    batch = BATCH if family == "OpenVINO" else 1
    x = _inputs(batch)
    started = time.perf_counter()
    out = call(x)  # warm-up: compilation (torch.compile: seconds), first allocations
    first_ms = (time.perf_counter() - started) * 1000.0
    quality = psnr(np.clip(out, 0, 1), np.clip(reference[:batch], 0, 1))
    benchmark.group = group
    benchmark.pedantic(call, args=(x,), rounds=5, iterations=1, warmup_rounds=1)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _rows.setdefault(group, {})[label] = {
            "median_ms": stats.stats.median * 1000.0,
            "first_call_ms": first_ms,
            "psnr_db": quality,
        }


def _table() -> str:
    lines = [
        "# Backend options, side by side (built-in default model)",
        "",
        f"CPU: {cpu_name()}, torch threads {torch.get_num_threads()}. One quiet run of "
        '`pytest benchmarks/test_backend_options.py -m "slow or not slow"`; each group\'s first '
        "row is the reference (what the SDK did before this benchmark; the torch backend now "
        "runs channels_last on the CPU, ONNX Runtime and OpenVINO keep their first rows). "
        "PSNR against torch fp32 eager.",
        "",
    ]
    for group, rows in _rows.items():
        base = next(iter(rows.values()))["median_ms"]
        lines += [
            f"## {group}",
            "",
            "| option | median ms | vs baseline | first call ms | PSNR dB |",
            "|---|---|---|---|---|",
        ]
        for label, row in rows.items():
            lines.append(
                f"| {label} | {row['median_ms']:.1f} | {base / row['median_ms']:.2f}x | "
                f"{row['first_call_ms']:.0f} | {row['psnr_db']:.1f} |"
            )
        lines.append("")
    return "\n".join(lines)
