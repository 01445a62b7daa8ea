"""``dcpt-export``: export a model to one verified artifact directory per format x precision.

    dcpt-export MODEL --onnx --openvino --trt --precision fp16 int8 [--calib DIR] -o OUTDIR

writes OUTDIR/onnx-fp16, OUTDIR/onnx-int8, OUTDIR/openvino-fp16, ... With --triton, OUTDIR is a
Triton model repository instead: OUTDIR/<name>-onnx-fp16/config.pbtxt + 1/model.onnx, ... (each
artifact verified in a temporary folder first; export/triton.py). Format flags, precisions and
the options each format accepts come from dcpt_sdk.formats.FORMATS. Every combination and option
is checked before the first export starts; a DcptError prints one "error: ..." line, exit 1.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dcpt_sdk.cli.common import run_command
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.formats import PRECISIONS, Format, check_precision, export_formats

__all__ = ["main", "build_parser"]

# CLI flag (dest) -> export option name; the formats table says which format takes which.
_OPTION_FLAGS: dict[str, tuple[str, dict[str, Any]]] = {
    "opset": ("--opset", {"type": int, "help": "ONNX opset (>= 17; default 17)"}),
    "slim": (
        "--no-slim",
        {"action": "store_false", "default": None, "help": "skip ONNX graph slimming"},
    ),
    "dynamo": (
        "--dynamo",
        {"action": "store_true", "default": None, "help": "torch.export-based ONNX exporter"},
    ),
    "export_size": ("--export-size", {"help": "tracing size, N or HxW (default 64)"}),
    "calib": ("--calib", {"type": Path, "help": "folder of calibration images (int8)"}),
    "calib_count": ("--calib-count", {"type": int, "help": "calibration crops (int8; default 16)"}),
    "min_size": ("--min-size", {"help": "TensorRT profile minimum, N or HxW (default 64)"}),
    "opt_size": ("--opt-size", {"help": "TensorRT profile optimum, N or HxW (default 512)"}),
    "max_size": ("--max-size", {"help": "TensorRT profile maximum, N or HxW (default 1024)"}),
    "workspace_gb": ("--workspace-gb", {"type": float, "help": "TensorRT builder workspace GiB"}),
}


def build_parser() -> argparse.ArgumentParser:
    """The dcpt-export argument parser (flags derived from the formats table)."""
    parser = argparse.ArgumentParser(
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        prog="dcpt-export",
        description="Export a dcpt model to ONNX / OpenVINO / TensorRT, verified against torch.",
    )
    parser.add_argument("model", help="checkpoint (.safetensors/.pth), zoo name or preset name")
    parser.add_argument(
        "--arch",
        help="the restorer architecture of a checkpoint without an embedded spec whose keys fit "
        "more than one (e.g. restormer-origin: DCPT's Restormer_origin has the official "
        "Restormer's keys); default: detected",
    )
    formats = parser.add_argument_group("formats (one artifact per format x precision)")
    for fmt in export_formats():
        formats.add_argument(
            *fmt.flags,
            dest=f"format_{fmt.name}",
            action="store_true",
            help=f"export {fmt.model_file} (precisions: {', '.join(fmt.precisions)}"
            f"{'; needs an NVIDIA GPU' if fmt.needs_gpu else ''})",
        )
    parser.add_argument(
        "--precision", nargs="+", choices=PRECISIONS, default=["fp32"], help="default: fp32"
    )
    parser.add_argument("-o", "--output", type=Path, required=True, help="output folder")
    parser.add_argument(
        "--triton",
        action="store_true",
        help="-o is a Triton model repository: write OUTDIR/<name>-<format>-<precision>/"
        "config.pbtxt + 1/<model file> (+ a <...>-classifier model) instead of artifacts",
    )
    parser.add_argument(
        "--triton-name", metavar="BASE", help="Triton model name stem (default: the model's name)"
    )
    options = parser.add_argument_group("format options (each goes to the formats that take it)")
    for dest, (flag, kwargs) in _OPTION_FLAGS.items():
        options.add_argument(flag, dest=dest, **kwargs)
    return parser


def _plan(args: argparse.Namespace) -> list[tuple[Format, str, dict[str, Any]]]:
    """Every (format, precision, options) to export, checked before any work starts."""
    formats = [fmt for fmt in export_formats() if getattr(args, f"format_{fmt.name}")]
    if not formats:
        flags = ", ".join(" or ".join(fmt.flags) for fmt in export_formats())
        raise UnsupportedOptionError(f"choose at least one format: {flags}")
    given = {name: getattr(args, name) for name in _OPTION_FLAGS if getattr(args, name) is not None}
    for name in given:
        if not any(name in fmt.export_options for fmt in formats):
            takers = [f.name for f in export_formats() if name in f.export_options]
            raise UnsupportedOptionError(
                f"{_OPTION_FLAGS[name][0]} applies to {', '.join(takers)}, none of which was chosen"
            )
    if any(k in given for k in ("calib", "calib_count")) and "int8" not in args.precision:
        raise UnsupportedOptionError("--calib/--calib-count only apply to --precision int8")
    plan = []
    for fmt in formats:
        for precision in dict.fromkeys(args.precision):
            check_precision(fmt, precision)
            options = {k: v for k, v in given.items() if k in fmt.export_options}
            if precision != "int8":
                options = {k: v for k, v in options.items() if k not in ("calib", "calib_count")}
            plan.append((fmt, precision, options))
    return plan


def _summary(info: Any) -> str:
    psnr = min(float(v["psnr_db"]) for v in info.parity.values())
    max_abs = max(float(v["max_abs"]) for v in info.parity.values())
    return f"PSNR >= {psnr:.1f} dB, max-abs {max_abs:.2e} vs torch fp32"


@contextmanager
def _warning_lines() -> Iterator[None]:
    """Warnings inside become one "warning:" line each on stderr."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        print(f"warning: {warning.message}", file=sys.stderr)


def _load(model: str, arch: str | None) -> Any:
    """The model, loaded once for every export."""
    from dcpt_sdk.export.api import _resolve_model

    with _warning_lines():
        return _resolve_model(model, arch=arch)


def _run_triton(args: argparse.Namespace, plan: list[tuple[Format, str, dict[str, Any]]]) -> None:
    """Each artifact is exported and verified in a temporary folder, then written into the
    repository as Triton models: a failed export leaves nothing there."""
    from dcpt_sdk.export import triton
    from dcpt_sdk.export.api import _has_classifier, export

    triton.require_triton()
    if args.triton_name is not None:  # a bad name fails before the model is loaded
        for fmt, precision, _ in plan:
            triton.model_name(args.triton_name, fmt.name, precision)
    network = _load(args.model, args.arch)
    base = args.triton_name or triton.base_name(network.spec)
    names = [triton.model_name(base, fmt.name, precision) for fmt, precision, _ in plan]
    replaced = []
    for name in names:  # every folder is checked before the first export starts
        folders = triton.model_dirs(args.output, name, _has_classifier(network))
        if any([triton.check_model_dir(folder) for folder in folders]):
            replaced.append(name)
    for (fmt, precision, options), name in zip(plan, names, strict=True):
        if name in replaced:
            print(f"{name}: replacing the existing Triton model(s) in {args.output}")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="dcpt-triton-") as scratch:
            info = export(network, fmt.name, precision, Path(scratch) / "artifact", **options)
            with _warning_lines():
                written = triton.write_triton_models(Path(scratch) / "artifact", args.output, name)
        seconds = time.perf_counter() - started
        models = ", ".join(folder.name for folder in written)
        print(
            f"{fmt.name}-{precision}: Triton {models} in {args.output} ({_summary(info)}; "
            f"{seconds:.1f} s)"
        )


def _run(args: argparse.Namespace) -> None:
    from dcpt_sdk.export.api import check_target, export, require_exporter

    plan = _plan(args)
    for fmt, precision, _ in plan:
        require_exporter(fmt, precision)  # a missing package or GPU fails before any export
    if args.output.exists() and not args.output.is_dir():
        raise UnsupportedOptionError(
            f"-o '{args.output}' is a file; give a folder (one artifact per format x precision "
            "goes inside it)"
        )
    if args.triton_name is not None and not args.triton:
        raise UnsupportedOptionError("--triton-name applies to --triton only")
    if args.triton:
        _run_triton(args, plan)
        return
    targets = [args.output / f"{fmt.name}-{precision}" for fmt, precision, _ in plan]
    replaced = [target for target in targets if check_target(target)]  # every one, before work
    network = _load(args.model, args.arch)
    for (fmt, precision, options), target in zip(plan, targets, strict=True):
        if target in replaced:
            print(f"{fmt.name}-{precision}: replacing the existing artifact in {target}")
        started = time.perf_counter()
        info = export(network, fmt.name, precision, target, **options)
        seconds = time.perf_counter() - started
        print(f"{fmt.name}-{precision}: {target} ({_summary(info)}; {seconds:.1f} s)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of dcpt-export; returns the exit status."""
    args = build_parser().parse_args(argv)
    return run_command(lambda: _run(args), "interrupted; no partial artifact was left")


if __name__ == "__main__":
    sys.exit(main())
