"""Where the time goes, per operation, in OpenVINO for the built-in default model at 512x512.

Compiles the model as the runtime does for a repeated shape (static 1x3x512x512, the artifact's
precision hint) with PERF_COUNT on, runs it a few times and sums each node's real time three
ways: by operation type, by the kernel OpenVINO chose (exec_type, e.g. jit_avx512_bf16 /
ref_any), and by the resolution of the node's output (the network's levels: 512 is the
full-resolution level, 32 the middle blocks, 1 the channel attention's pooled vectors). Per level
it also counts the convolutions' FLOPs from their weight shapes and gives their GFLOP/s against
this machine's peak, a 2048x2048 torch matmul (fp32 for fp32, bf16 otherwise, as in
backend_speed) timed in the same run
(benchmarks/machine_peak.py): the table that says which levels run near the peak and which do
not, and which of their ops do no counted arithmetic at all (LayerNorm statistics, gates,
reorders).

    .venv/bin/python benchmarks/profile_openvino.py [--precision bf16] [--write]

``--write`` stores the tables as benchmarks/results/profile_openvino.md. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import machine_peak
import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "profile_openvino.md"


@dataclass(frozen=True)
class NodeShape:
    """What the runtime model says of one node's ports (empty lists where it says nothing)."""

    out: list[int]  # the output's shape
    weights: list[int]  # the second input's: a convolution's weights
    first: list[int]  # the first input's

    @property
    def side(self) -> int:
        """The output's width: the network level the node belongs to (0: not an N x C x H x W map)."""
        return self.out[-1] if len(self.out) == 4 else 0

    def category(self, node_type: str) -> str:
        """The row of the level table: dense convolutions apart from the one-output-channel ones
        (the LayerNorm statistics, many reads for almost no arithmetic)."""
        if node_type == "Convolution" and self.weights[:1] == [1]:
            return "statistics conv"
        return _CATEGORIES.get(node_type, node_type)

    def flops(self, node_type: str) -> float:
        """Multiply-adds x 2 of a (group/transposed) convolution, 0 for any other op."""
        if not self.side or not self.weights:
            return 0.0
        size = float(np.prod(self.weights))  # one multiply-add per weight and pixel
        # Weights [O, I, kh, kw] (dense) or [G, O/G, I/G, kh, kw] (grouped): per output pixel.
        if node_type in ("Convolution", "GroupConvolution"):
            return 2.0 * size * self.out[2] * self.out[3]
        if node_type == "ConvolutionBackpropData" and len(self.first) == 4:  # [I, O, kh, kw]
            return 2.0 * size * self.first[2] * self.first[3]  # per input pixel
        return 0.0


_NO_SHAPE = NodeShape([], [], [])
_CATEGORIES = {
    "Convolution": "dense conv",
    "GroupConvolution": "depthwise conv",
    "ConvolutionBackpropData": "transposed conv",
    "Subgraph": "fused elementwise",
}
# The level table's columns, each with its ms and, where it counts FLOPs, its GFLOP/s.
_COLUMNS = ("dense conv", "depthwise conv", "transposed conv", "statistics conv")


def _shape(port: Any) -> list[int]:
    shape = port.get_partial_shape()
    return [int(d) for d in shape.to_shape()] if shape.is_static else []


def _node_shape(op: Any) -> NodeShape:
    """The port shapes of one node of the compiled (runtime) model."""
    try:
        return NodeShape(
            out=_shape(op.output(0)),
            weights=_shape(op.input(1)) if op.get_input_size() > 1 else [],
            first=_shape(op.input(0)) if op.get_input_size() > 0 else [],
        )
    except RuntimeError:  # a node without ports: nothing to report
        return _NO_SHAPE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()

    import openvino as ov

    from dcpt_sdk import zoo
    from dcpt_sdk.checkpoint import load_model
    from dcpt_sdk.export import export
    from dcpt_sdk.spec import spec_of
    from dcpt_sdk.train.ship import flops_at
    from dcpt_sdk.user_cache import cpu_name

    torch.set_num_threads(2)
    network = load_model(zoo.model_path(args.model) if args.model == "default" else args.model)
    with tempfile.TemporaryDirectory() as folder:
        info = export(network, "openvino", args.precision, Path(folder) / "a")
        core = ov.Core()
        model = core.read_model(str(Path(folder) / "a" / info.model_file))
        model.reshape([1, 3, args.size, args.size])
        hint = str(info.runtime_hints.get("INFERENCE_PRECISION_HINT", "f32"))
        compiled = core.compile_model(
            model, "CPU", {"INFERENCE_PRECISION_HINT": hint, "PERF_COUNT": True}
        )
        shapes = {
            op.get_friendly_name(): _node_shape(op)
            for op in compiled.get_runtime_model().get_ordered_ops()
        }
        request = compiled.create_infer_request()
        x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
        request.infer({0: x})  # warm-up
        # The peak a precision is compared with, as in backend_speed: bf16 for bf16 and int8.
        peak_precision = "fp32" if args.precision == "fp32" else "bf16"
        peak_before = machine_peak.best_gflop_per_s(peak_precision)
        by_type: collections.Counter[str] = collections.Counter()
        by_kernel: collections.Counter[str] = collections.Counter()
        by_level: collections.Counter[tuple[int, str]] = collections.Counter()
        flops_by_level: dict[tuple[int, str], float] = collections.defaultdict(float)
        for node in request.profiling_info:  # of the warm-up: each node once
            shape = shapes.get(node.node_name, _NO_SHAPE)
            key = (shape.side, shape.category(node.node_type))
            flops_by_level[key] += shape.flops(node.node_type)
        total_ms = 0.0
        for _ in range(args.runs):
            request.infer({0: x})
            total_ms += request.latency
            for node in request.profiling_info:
                ms = node.real_time.total_seconds() * 1000
                by_type[node.node_type] += ms
                by_kernel[f"{node.node_type} / {node.exec_type}"] += ms
                shape = shapes.get(node.node_name, _NO_SHAPE)
                by_level[(shape.side, shape.category(node.node_type))] += ms
        peak = max(peak_before, machine_peak.best_gflop_per_s(peak_precision))
    text = _report(
        args, spec_of(network).name or args.model, cpu_name(), ov.__version__, total_ms / args.runs,
        {k: v / args.runs for k, v in by_type.items()},
        {k: v / args.runs for k, v in by_kernel.items()},
        {k: v / args.runs for k, v in by_level.items()},
        flops_by_level, peak, peak_precision, flops_at(network, args.size),
    )  # fmt: skip
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
    return 0


def _report(
    args: argparse.Namespace,
    model_name: str,
    cpu: str,
    ov_version: str,
    latency_ms: float,
    by_type: dict[str, float],
    by_kernel: dict[str, float],
    by_level: dict[tuple[int, str], float],
    flops_by_level: dict[tuple[int, str], float],
    peak: float,
    peak_precision: str,
    model_flops: float,
) -> str:
    summed = sum(by_type.values())
    total_flops = sum(flops_by_level.values())
    lines = [
        f"# OpenVINO per-op profile: {model_name}, {args.precision}, "
        f"{args.size}x{args.size}, static shape",
        "",
        f"CPU: {cpu}; OpenVINO {ov_version}; mean of {args.runs} runs; request latency "
        f"{latency_ms:.1f} ms, nodes' summed real time {summed:.1f} ms. The model's FLOPs "
        f"(torch.utils.flop_counter) {model_flops / 1e9:.1f} GFLOP, the exported graph's "
        f"convolutions' {total_flops / 1e9:.1f} (the export form adds the LayerNorm statistics "
        f"convolutions); {peak_precision} peak in this run {peak:.0f} GFLOP/s (2048x2048 torch "
        f"matmul): 40% of it is {model_flops / (0.4 * peak * 1e6):.0f} ms per image, "
        f"{model_flops / (latency_ms * 1e6) / peak:.0%} is this run's latency.",
        "Command: `.venv/bin/python benchmarks/profile_openvino.py "
        f"--precision {args.precision} --write`",
        "",
        "## By level (the resolution of each node's output)",
        "",
        "ms per run, and for convolutions their GFLOP/s and its share of the peak. Statistics "
        "convs: the LayerNorm ones with one output channel; fused elementwise: OpenVINO's "
        "Subgraphs (LayerNorm normalisation, gates, residual scaling).",
        "",
        "| level | ms | share of time | conv GFLOP | share of FLOPs | "
        + " | ".join(_COLUMNS)
        + " | other ops |",
        "|---|---|---|---|---|" + "---|" * len(_COLUMNS) + "---|",
    ]
    for side in sorted({side for side, _ in by_level}, reverse=True):
        row = {kind: ms for (s, kind), ms in by_level.items() if s == side}
        ms = sum(row.values())
        if ms < 0.005:
            continue
        flops = {kind: f for (s, kind), f in flops_by_level.items() if s == side}
        cells = []
        for column in _COLUMNS:
            column_ms, column_flops = row.get(column, 0.0), flops.get(column, 0.0)
            rate = column_flops / column_ms / 1e6 if column_ms else 0.0
            cells.append(
                "-"
                if column_ms < 0.005
                else f"{column_ms:.1f}"
                + (f" ({rate:.0f} GFLOP/s, {rate / peak:.0%})" if rate >= 1 else "")
            )
        others = ", ".join(
            f"{k} {v:.1f}"
            for k, v in sorted(row.items(), key=lambda kv: -kv[1])
            if k not in _COLUMNS and v >= 0.05
        )
        label = f"{side}x{side}" if side else "other"
        level_flops = sum(flops.values())
        lines.append(
            f"| {label} | {ms:.1f} | {ms / summed:.0%} | {level_flops / 1e9:.2f} | "
            f"{level_flops / total_flops:.0%} | " + " | ".join(cells) + f" | {others or '-'} |"
        )
    lines += ["", "## By op type", "", "| op type | ms per run | share |", "|---|---|---|"]
    for name, ms in sorted(by_type.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"| {name} | {ms:.2f} | {ms / summed:.0%} |")
    lines += ["", "| op type / kernel | ms per run |", "|---|---|"]
    for name, ms in sorted(by_kernel.items(), key=lambda kv: -kv[1])[:12]:
        lines.append(f"| {name} | {ms:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
