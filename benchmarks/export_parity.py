"""Parity and export time of every format x precision for one model (default: tiny NAFNet).

    .venv/bin/python benchmarks/export_parity.py [--model CHECKPOINT] [--label NAME]

Each export is the real dcpt_sdk.export.export (verification included) into a temporary folder.
Parity is what the export measured and recorded in dcpt.json: against fp32 torch at the odd
37x53 input (padded) and a larger one, on degraded sample-photo crops. Appends a section per
model to benchmarks/results/export_parity.md (rewritten when --fresh is given).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

RESULTS = Path(__file__).parent / "results" / "export_parity.md"


def targets() -> list[tuple[str, str]]:
    """Every precision of every export format, from the one formats table (the parity test
    reads the same table; a GPU format's rows say why they cannot run on a CPU machine)."""
    from dcpt_sdk.export import EXPORTABLE_FORMATS
    from dcpt_sdk.formats import get_format

    return [(name, p) for name in EXPORTABLE_FORMATS for p in get_format(name).precisions]


def tiny_nafnet() -> torch.nn.Module:
    """nafnet-tiny with its block scales drawn at random (upstream zero-inits them: identity)."""
    from dcpt_sdk.models import create_model

    torch.manual_seed(0)
    network = create_model("nafnet-tiny")
    with torch.no_grad():
        for key, param in network.named_parameters():
            if key.endswith(("beta", "gamma")):
                param.normal_(0.0, 0.5)
    return network.eval()


def _size_of(directory: Path) -> float:
    return sum(p.stat().st_size for p in directory.iterdir() if p.name != "dcpt.json") / 1e6


def _row(fmt: str, precision: str, network: Any, workdir: Path) -> str:
    from dcpt_sdk.errors import DcptError
    from dcpt_sdk.export import export

    target = workdir / f"{fmt}-{precision}"
    started = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            info = export(network, fmt, precision, target)
    except DcptError as exc:
        return f"| {fmt} | {precision} | - | - | - | - | - | {str(exc).splitlines()[0][:160]} |"
    seconds = time.perf_counter() - started
    psnr = " / ".join(_db(v["psnr_db"]) for v in info.parity.values())
    max_abs = " / ".join(f"{v['max_abs']:.1e}" for v in info.parity.values())
    logits = " / ".join(f"{v['max_abs']:.1e}" for v in info.classifier_parity.values()) or "-"
    return (
        f"| {fmt} | {precision} | {psnr} | {max_abs} | {logits} | {seconds:.1f} | "
        f"{_size_of(target):.2f} | |"
    )


def _db(value: float) -> str:
    return "exact" if math.isinf(value) else f"{value:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint path (default: the tiny NAFNet preset)")
    parser.add_argument("--label", help="section title (default: the model)")
    parser.add_argument("--fresh", action="store_true", help="rewrite the results file")
    args = parser.parse_args()
    from dcpt_sdk.checkpoint import load_model

    network = load_model(args.model) if args.model else tiny_nafnet()
    label = args.label or (args.model or "nafnet-tiny (random block scales)")
    hparams = dict(network.spec.hparams)
    lines = [
        f"## {label}",
        "",
        f"{network.spec.arch} {hparams}, classifier: {network.classifier is not None}. "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads.",
        "",
        "| format | precision | PSNR dB (40x56 / larger) | max-abs | classifier logits rel. "
        "max-abs | export+verify s | files MB | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory(prefix="dcpt-parity-") as scratch:
        for fmt, precision in targets():
            lines.append(_row(fmt, precision, network, Path(scratch)))
            print(lines[-1], flush=True)
    text = "\n".join(lines) + "\n\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    header = (
        "# Export parity and time\n\nWritten by benchmarks/export_parity.py. Thresholds: fp32 "
        "max-abs <= 1e-4; fp16/bf16 PSNR >= 45 dB; int8 PSNR >= 38 dB (vs fp32 torch).\n\n"
    )
    if args.fresh or not RESULTS.exists():
        RESULTS.write_text(header + text, encoding="utf-8")
    else:
        with RESULTS.open("a", encoding="utf-8") as stream:
            stream.write(text)


if __name__ == "__main__":
    main()
