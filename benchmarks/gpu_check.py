"""GPU check for a lent machine: torch CUDA fp32/fp16/bf16 parity and speed, then TensorRT and
ONNX Runtime CUDA where those libraries exist (each skipped with its reason where not).

Self-contained: runs from a source checkout with PYTHONPATH set to the repository (no pip install;
benchmarks/gpu_check.sh does that). Needs torch with CUDA; onnx/onnxruntime/tensorrt optional.

    PYTHONPATH=. python benchmarks/gpu_check.py [--preset nafnet-w32] [--sizes 512 1024]
    PYTHONPATH=. python benchmarks/gpu_check.py --dry-run      # CPU, tiny, checks the script

Prints a markdown table and writes it to $OUT/gpu_check.md (or benchmarks/results/gpu_check.md).
Parity is measured against the fp32 eager output on a degraded natural photo (PSNR over [0, 1],
max-abs); fp16/bf16 run under autocast, which keeps reductions, norms and softmax in fp32.
"""

from __future__ import annotations

import argparse
import copy
import functools
import math
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]

PRESETS = {
    # NAFNet-width32 of the NAFNet paper's GoPro model; width 64 is the DCPT paper's.
    "nafnet-w32": {"width": 32, "enc_blk_nums": [1, 1, 1, 28], "dec_blk_nums": [1, 1, 1, 1]},
    "nafnet-w64": {"width": 64, "enc_blk_nums": [1, 1, 1, 28], "dec_blk_nums": [1, 1, 1, 1]},
    "nafnet-tiny": {},
}
Row = dict[str, Any]


def build_network(preset: str) -> torch.nn.Module:
    from dcpt_sdk.models import create_model

    torch.manual_seed(0)
    name = "nafnet-tiny" if preset == "nafnet-tiny" else "nafnet"
    network = create_model(name, **PRESETS[preset])
    with torch.no_grad():  # upstream zero-inits the block scales: blocks would be the identity
        for key, param in network.named_parameters():
            if key.endswith(("beta", "gamma")):
                param.normal_(0.0, 0.3)
    return network.eval()


def natural_input(size: int, multiple: int) -> torch.Tensor:
    from dcpt_sdk.zoo.samples import sample_images

    photo = sample_images()[0].astype(np.float32) / 255.0
    reps = (math.ceil(size / photo.shape[0]), math.ceil(size / photo.shape[1]), 1)
    tiled = np.tile(photo, reps)[:size, :size]
    rng = np.random.default_rng(0)
    noisy = np.clip(tiled + rng.normal(0, 15 / 255, tiled.shape), 0, 1).astype(np.float32)
    size -= size % multiple
    return torch.from_numpy(noisy[:size, :size].transpose(2, 0, 1).copy())[None]


def time_ms(fn: Callable[[], Any], device: torch.device, repeats: int) -> float:
    """Median wall time of fn() in ms, synchronised (CUDA events on GPU)."""
    for _ in range(2):
        fn()
    samples = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            samples.append(start.elapsed_time(end))
        else:
            begin = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - begin) * 1000)
    return statistics.median(samples)


def parity(out: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """(PSNR dB of the raw output, max-abs error) against the fp32 reference."""
    from dcpt_sdk.metrics import psnr

    got, want = out.float().cpu().numpy(), reference.float().cpu().numpy()
    error = got.astype(np.float64) - want
    if not np.isfinite(error).all():
        return -math.inf, math.inf
    return psnr(got, want, clip=False), float(np.abs(error).max())


def _autocast(device: torch.device, dtype: torch.dtype | None) -> Any:
    if dtype is None:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)


def torch_variants(network: torch.nn.Module, device: torch.device, dry: bool) -> dict[str, Any]:
    """label -> (module, input memory format, autocast dtype, cuda graph?)."""
    dtypes = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}
    if dry:
        dtypes.pop("fp16")  # fp16 autocast on CPU is slow and not what this script checks
    variants: dict[str, Any] = {}
    channels_last = copy.deepcopy(network).to(memory_format=torch.channels_last)
    for precision, dtype in dtypes.items():
        variants[f"torch {precision} eager"] = (network, torch.contiguous_format, dtype, False)
        variants[f"torch {precision} channels_last"] = (
            channels_last,
            torch.channels_last,
            dtype,
            False,
        )
        if device.type == "cuda":
            variants[f"torch {precision} channels_last + CUDA graph"] = (
                channels_last,
                torch.channels_last,
                dtype,
                True,
            )
    if not dry:
        compiled = torch.compile(channels_last)
        variants["torch fp16 channels_last + torch.compile"] = (
            compiled,
            torch.channels_last,
            torch.float16,
            False,
        )
    return variants


def _runner(module: Any, x: torch.Tensor, dtype: Any, graph: bool, device: torch.device) -> Any:
    def forward() -> torch.Tensor:
        with torch.inference_mode(), _autocast(device, dtype):
            return module(x)

    if not graph:
        return forward
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):  # warm-up on a side stream, as CUDA graph capture requires
            forward()
    torch.cuda.current_stream().wait_stream(stream)
    cuda_graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(cuda_graph):
        static_out = forward()

    def replay() -> torch.Tensor:
        cuda_graph.replay()
        return static_out

    return replay


def torch_rows(
    network: torch.nn.Module, sizes: list[int], device: torch.device, args: Any
) -> list[Row]:
    network = network.to(device)
    rows: list[Row] = []
    for size in sizes:
        x = natural_input(size, network.spec.pad_multiple).to(device)
        with torch.inference_mode():
            reference = network(x).float().cpu()
        for label, (module, layout, dtype, graph) in torch_variants(
            network, device, args.dry_run
        ).items():
            row: Row = {"path": label, "size": size}
            try:
                xin = x.contiguous(memory_format=layout)
                run = _runner(module, xin, dtype, graph, device)
                row["psnr"], row["max_abs"] = parity(run(), reference)
                row["ms"] = time_ms(run, device, args.repeats)
            except Exception as exc:  # report and go on: one failing path must not hide the rest
                row["note"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            rows.append(row)
            if device.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def _skip_rows(label: str, sizes: list[int], reason: str) -> list[Row]:
    return [{"path": label, "size": size, "note": f"skipped: {reason}"} for size in sizes]


def _artifact_rows(
    network: torch.nn.Module,
    runtime: Any,
    sizes: list[int],
    repeats: int,
    path: str,
    note: str,
    *,
    engine_only: bool,
) -> list[Row]:
    """An exported artifact's rows, one per size: parity of ``runtime.infer`` against the fp32
    eager network, and its median time; closes the runtime.

    engine_only: time the engine on a CUDA tensor (TensorRT's own speed, no host copies) rather
    than ``runtime.infer`` from host memory.
    """
    rows: list[Row] = []
    try:
        for size in sizes:
            x = natural_input(size, network.spec.pad_multiple)
            with torch.inference_mode():
                reference = network.cpu()(x)
            psnr, max_abs = parity(runtime.infer(x), reference)
            if engine_only:
                engine = functools.partial(runtime._model, x.cuda())
                ms = time_ms(engine, torch.device("cuda"), repeats)
            else:
                ms = time_ms(functools.partial(runtime.infer, x), torch.device("cpu"), repeats)
            rows.append(
                {
                    "path": path,
                    "size": size,
                    "psnr": psnr,
                    "max_abs": max_abs,
                    "ms": ms,
                    "note": note,
                }
            )
    finally:
        runtime.close()
    return rows


def tensorrt_rows(
    network: torch.nn.Module, sizes: list[int], args: Any, workdir: Path
) -> list[Row]:
    from dcpt_sdk.export.tensorrt import missing_requirements

    missing = missing_requirements()
    if missing:
        return _skip_rows("TensorRT fp16/int8", sizes, f"missing {missing}")
    from dcpt_sdk.export import export
    from dcpt_sdk.runtimes import load_artifact

    rows: list[Row] = []
    top = max(sizes)
    for precision in ("fp16", "int8"):
        target = workdir / f"tensorrt-{precision}"
        started = time.perf_counter()
        info = export(
            network.cpu(), "tensorrt", precision, target, opt_size=min(sizes), max_size=top
        )
        build_s = time.perf_counter() - started
        runtime = load_artifact(target, info, "cuda")
        label, note = f"TensorRT {precision} (strongly typed)", f"export+verify {build_s:.0f} s"
        rows += _artifact_rows(network, runtime, sizes, args.repeats, label, note, engine_only=True)
    return rows


def ort_cuda_rows(
    network: torch.nn.Module, sizes: list[int], args: Any, workdir: Path
) -> list[Row]:
    try:
        import onnxruntime
    except ImportError:
        return _skip_rows("ONNX Runtime CUDA", sizes, "onnxruntime is not installed")
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return _skip_rows("ONNX Runtime CUDA", sizes, "CPU-only onnxruntime (no onnxruntime-gpu)")
    from dcpt_sdk.export import export
    from dcpt_sdk.runtimes import load_artifact

    rows: list[Row] = []
    for precision in ("fp32", "fp16"):
        target = workdir / f"onnx-{precision}"
        info = export(network.cpu(), "onnx", precision, target)
        runtime = load_artifact(target, info, "cuda")
        label, note = f"ONNX Runtime CUDA {precision}", "includes host<->device copies"
        rows += _artifact_rows(
            network, runtime, sizes, args.repeats, label, note, engine_only=False
        )
    return rows


def table(rows: list[Row], header: str) -> str:
    lines = [
        header,
        "",
        "| path | size | ms (median) | PSNR vs fp32 eager | max-abs | note |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        ms = f"{row['ms']:.2f}" if "ms" in row else "-"
        psnr = row.get("psnr")
        shown = (
            "-"
            if psnr is None
            else ("exact" if math.isinf(psnr) and psnr > 0 else f"{psnr:.1f} dB")
        )
        max_abs = f"{row['max_abs']:.2e}" if "max_abs" in row else "-"
        lines.append(
            f"| {row['path']} | {row['size']} | {ms} | {shown} | {max_abs} | {row.get('note', '')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), default="nafnet-w32")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument(
        "--dry-run", action="store_true", help="CPU, nafnet-tiny, 64 px: checks the script"
    )
    args = parser.parse_args(argv)
    if args.dry_run:
        args.preset, args.sizes, args.repeats = "nafnet-tiny", [64], 2
        device = torch.device("cpu")
    elif not torch.cuda.is_available():
        print(
            f"error: torch {torch.__version__} sees no CUDA GPU (use --dry-run to check the script)",
            file=sys.stderr,
        )
        return 1
    else:
        device = torch.device("cuda")
        torch.backends.cudnn.benchmark = True
    network = build_network(args.preset)
    gpu = torch.cuda.get_device_name() if device.type == "cuda" else "CPU (dry run)"
    header = (
        f"# GPU check: {args.preset} ({sum(p.numel() for p in network.parameters()) / 1e6:.1f}M "
        f"params), batch 1, on {gpu}; torch {torch.__version__}"
    )
    rows = torch_rows(network, args.sizes, device, args)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / "dcpt-gpu-check"
    for extra in (tensorrt_rows, ort_cuda_rows):
        try:
            rows += extra(network, args.sizes, args, workdir)
        except Exception:  # the torch rows above still get printed
            traceback.print_exc()
            rows += _skip_rows(extra.__name__, args.sizes, "failed (traceback above)")
    text = table(rows, header)
    print(text)
    if not args.dry_run:
        out_dir = (
            Path(os.environ["OUT"]) if os.environ.get("OUT") else ROOT / "benchmarks" / "results"
        )
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "gpu_check.md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
