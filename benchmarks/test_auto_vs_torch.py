"""Restorer(backend="auto") against the torch backend in fp32: the runtimes' headline figure.

The built-in default model on one 512x512 photo, image in -> image out (``Restorer.run``,
conversion and padding included), 2 torch threads. The two calls alternate, round after round,
so a slow spell of this shared machine (torch's time here swings from 180 to 400 ms between runs
minutes apart) hits both sides instead of one; each round gives its own ratio, and the table
reports the medians, the spread and the ratio of every round. A short pause before each call lets
the other runtime's worker threads go idle (libgomp and TBB spin for a while after a call), so
neither call runs against the other's spinning threads.

Each round also times one 2048x2048 torch matmul, in bf16 where the CPU computes bf16 natively
(fp32 elsewhere): the machine's peak at that moment. auto's share of the peak is then taken per
round (its GFLOP/s over the matmul's of the same round), so a slow spell lowers both sides of the
fraction instead of one, and also against the best matmul of the whole run (the conservative
figure: contention can only lower it).

    DCPT_WRITE_RESULTS=1 .venv/bin/pytest benchmarks/test_auto_vs_torch.py -m slow
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 DCPT_WRITE_RESULTS=1 .venv/bin/pytest ... -m slow

The second line is the same run in a process whose glibc malloc backs its large blocks with
transparent huge pages (Linux, THP "madvise" or "always"): torch allocates every feature map
afresh, and on this VM the page faults of those 32 MiB maps cost torch more than a third of its
time; OpenVINO and ONNX Runtime keep their own arenas. Each environment is stored as its own
section of benchmarks/results/auto_vs_torch.{md,json} (written only with DCPT_WRITE_RESULTS=1).
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

import machine_peak
import numpy as np
import pytest
import torch

from dcpt_sdk import zoo
from dcpt_sdk.autoexport import cpu_has_native_bf16
from dcpt_sdk.checkpoint import load_model
from dcpt_sdk.export.inputs import sample_crops
from dcpt_sdk.metrics import psnr
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.train.ship import flops_at
from dcpt_sdk.user_cache import cpu_name

WRITE_RESULTS = os.environ.get("DCPT_WRITE_RESULTS") == "1"
RESULTS = Path(__file__).parent / "results" / "auto_vs_torch.md"
SIDE = 512
ROUNDS = 25
PAUSE_S = 0.2  # before each call: the other runtime's threads stop spinning


def _environment() -> str:
    """The section this run belongs to: how glibc malloc was tuned for the process."""
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    return "hugepages" if "glibc.malloc.hugetlb=1" in tunables else "default"


@pytest.mark.slow
def test_auto_vs_torch_fp32(benchmark: Any, tmp_path: Path, monkeypatch: Any) -> None:
    crop = sample_crops([(SIDE, SIDE)], seed=3)[0]
    photo = (np.clip(crop, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    torch.set_num_threads(2)
    monkeypatch.setenv("DCPT_CACHE_DIR", str(tmp_path / "cache"))  # auto measures in this run
    baseline = Restorer("default", backend="torch", precision="fp32")
    auto = Restorer("default", backend="auto")
    for restorer in (baseline, auto):  # warm-up: OpenVINO compiles a size on its second call
        restorer.run(photo)
        restorer.run(photo)
    # The figure only counts if auto's output is one the floor admits (int8's 38 dB at the least).
    agreement = psnr(auto.run(photo), baseline.run(photo))
    assert agreement >= 38.0, f"auto's output is {agreement:.1f} dB from torch fp32"
    peak_precision = "bf16" if cpu_has_native_bf16() else "fp32"
    a, b = machine_peak.operands(peak_precision)
    torch.matmul(a, b)  # warm-up
    calls = (
        ("torch", lambda: baseline.run(photo)),
        ("auto", lambda: auto.run(photo)),
        ("peak", lambda: torch.matmul(a, b)),
    )
    times: dict[str, list[float]] = {name: [] for name, _ in calls}

    def one_round() -> None:
        for name, call in calls:
            time.sleep(PAUSE_S)
            start = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - start) * 1000.0)

    benchmark.group = f"auto vs torch fp32, {SIDE}x{SIDE}, one round = one call of each"
    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    ratios = [t / a for t, a in zip(times["torch"], times["auto"], strict=True)]
    model_flops = flops_at(load_model(zoo.model_path("default")), SIDE)
    # auto's share of the peak: (model FLOPs / auto time) / (matmul FLOPs / matmul time).
    shares = [
        model_flops * m / (machine_peak.FLOPS * t)
        for t, m in zip(times["auto"], times["peak"], strict=True)
    ]
    best_peak_gflops = machine_peak.gflop_per_s(min(times["peak"]) / 1000)
    facts = {
        "environment": _environment(),
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES", ""),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "auto_chose": f"{auto.backend} {auto.precision}",
        "auto_summary": auto.auto_choice.summary() if auto.auto_choice else "",
        "rounds": len(ratios),
        "torch_ms": times["torch"],
        "auto_ms": times["auto"],
        "ratios": ratios,
        "psnr_vs_torch_fp32": agreement,
        "peak_precision": peak_precision,
        "peak_ms": times["peak"],
        "model_gflop": model_flops / 1e9,
        "auto_share_of_peak_per_round": shares,
        "best_peak_gflop_per_s": best_peak_gflops,
        "auto_share_of_best_peak": model_flops
        / (statistics.median(times["auto"]) / 1000)
        / 1e9
        / best_peak_gflops,
        "load_average_at_end": os.getloadavg()[0],
    }
    baseline.close()
    auto.close()
    if WRITE_RESULTS:
        _write(facts)


def _write(facts: dict[str, Any]) -> None:
    path = RESULTS.with_suffix(".json")
    sections = json.loads(path.read_text()) if path.exists() else {}
    sections[facts["environment"]] = facts
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(sections, indent=2) + "\n")
    RESULTS.write_text(_table(sections), encoding="utf-8")


def _spread(values: list[float]) -> str:
    quartiles = statistics.quantiles(values, n=4)
    return f"{statistics.median(values):.1f} (IQR {quartiles[0]:.1f}-{quartiles[2]:.1f})"


def _share(f: dict[str, Any]) -> str:
    shares = f.get("auto_share_of_peak_per_round")
    if not shares:
        return "-"  # a section written before the peak was timed
    return (
        f"{statistics.median(shares):.0%} ({min(shares):.0%}-{max(shares):.0%}) of "
        f"{f['peak_precision']}"
    )


def _best_share(f: dict[str, Any]) -> str:
    if "best_peak_gflop_per_s" not in f:
        return "-"
    return (
        f"{f['auto_share_of_best_peak']:.0%} of {f['best_peak_gflop_per_s']:.0f} GFLOP/s "
        f"{f['peak_precision']} ({f['model_gflop']:.1f} GFLOP per image)"
    )


def _table(sections: dict[str, dict[str, Any]]) -> str:
    lines = [
        f'# Restorer(backend="auto") vs the torch backend (fp32), {SIDE}x{SIDE}, image in -> out',
        "",
        "Written by benchmarks/test_auto_vs_torch.py: the two calls alternate for "
        f"{ROUNDS} rounds in one process, {PAUSE_S} s pause before each; ms per call, median and "
        "interquartile range; the ratio is torch / auto per round. One section per process "
        "environment (glibc malloc tuning); compare within a section.",
        "",
        "| environment | CPU | auto chose | torch fp32 ms | auto ms | torch / auto (median) | "
        "per-round ratio min-max | auto's share of the peak, per round: median (min-max) | "
        "auto's median against the run's best matmul |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, f in sorted(sections.items()):
        label = (
            name if not f["glibc_tunables"] else f"{name} (GLIBC_TUNABLES={f['glibc_tunables']})"
        )
        lines.append(
            f"| {label} | {f['cpu']}, {f['torch_threads']} torch threads | {f['auto_chose']} | "
            f"{_spread(f['torch_ms'])} | {_spread(f['auto_ms'])} | "
            f"{statistics.median(f['ratios']):.2f}x | "
            f"{min(f['ratios']):.2f}-{max(f['ratios']):.2f} | {_share(f)} | {_best_share(f)} |"
        )
    lines += ["", "What auto measured when it chose (per environment):", ""]
    lines += [f"- {name}: {f['auto_summary']}" for name, f in sorted(sections.items())]
    return "\n".join(lines) + "\n"
