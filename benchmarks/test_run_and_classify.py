"""Restore + classify in one pass vs two: the built-in default model on a 512x512 photo.

Per backend (torch fp32, OpenVINO bf16, ONNX Runtime fp32), in one run: ``Restorer.run``,
``Restorer.classify``, ``Restorer.run_and_classify`` (one pass: torch's restore_and_classify, the
artifacts' classifier file that returns the image with the logits) and the old two-pass way,
``run`` then ``classify`` (what run_and_classify cost on artifacts before the one-pass file).
Image in, image out: conversion and padding included. Median of 5 rounds after 2 warm-ups
(OpenVINO compiles a shape statically on its second call). Run alone, on a quiet machine:

    DCPT_WRITE_RESULTS=1 .venv/bin/pytest benchmarks/test_run_and_classify.py

DCPT_WRITE_RESULTS=1 writes benchmarks/results/run_and_classify.{md,json}; without it nothing
is written. ``--benchmark-disable`` runs each call once (a check that the suite works).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dcpt_sdk.export.inputs import sample_crops
from dcpt_sdk.formats import get_format
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.user_cache import cpu_name

WRITE_RESULTS = os.environ.get("DCPT_WRITE_RESULTS") == "1"
RESULTS = Path(__file__).parent / "results" / "run_and_classify.md"
SIDE = 512
# (label, format to export or None for torch, precision)
BACKENDS = [
    ("torch fp32", None, "fp32"),
    ("OpenVINO bf16", "openvino", "bf16"),
    ("ONNX Runtime fp32", "onnx", "fp32"),
]
CALLS = ["run", "classify", "run_and_classify", "run + classify"]
_medians: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    crop = sample_crops([(SIDE, SIDE)], seed=3)[0]  # a degraded sample-photo crop
    return (np.clip(crop, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


@pytest.fixture(scope="module")
def restorers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Restorer]]:
    """label -> a Restorer of the default model on that backend (exports made here)."""
    from dcpt_sdk import zoo
    from dcpt_sdk.checkpoint import load_model
    from dcpt_sdk.export import export

    network = load_model(zoo.model_path("default")).eval()
    root = tmp_path_factory.mktemp("run-and-classify")
    found: dict[str, Restorer] = {}
    for label, fmt, precision in BACKENDS:
        if fmt is None:
            found[label] = Restorer(network, backend="torch", device="cpu", precision=precision)
            continue
        pytest.importorskip(get_format(fmt).python_module)
        export(network, fmt, precision, root / f"{fmt}-{precision}")
        restorer = Restorer(root / f"{fmt}-{precision}", backend=get_format(fmt).backend)
        assert restorer._runtime.one_pass, f"{label}: the artifact's classifier file is one-pass"
        found[label] = restorer
    yield found
    for restorer in found.values():
        restorer.close()
    if _medians and WRITE_RESULTS:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(_table(), encoding="utf-8")
        RESULTS.with_suffix(".json").write_text(json.dumps(_facts(), indent=2) + "\n")


def _call(restorer: Restorer, name: str, image: np.ndarray) -> Callable[[], Any]:
    if name == "run + classify":
        return lambda: (restorer.run(image), restorer.classify(image))
    method = getattr(restorer, name)
    return lambda: method(image)


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("label", [label for label, _, _ in BACKENDS])
def test_run_and_classify(
    benchmark: Any, restorers: dict[str, Restorer], photo: np.ndarray, label: str, call: str
) -> None:
    benchmark.group = f"{label}, {SIDE}x{SIDE}"
    benchmark.pedantic(_call(restorers[label], call, photo), rounds=5, warmup_rounds=2)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        _medians[(label, call)] = stats.stats.median


def _table() -> str:
    lines = [
        f"# Restore + classify: one pass vs two, default model, {SIDE}x{SIDE}",
        "",
        f"CPU: {cpu_name()}, {torch.get_num_threads()} torch threads; median of 5 after 2 "
        "warm-ups, one run. Written by benchmarks/test_run_and_classify.py "
        "(`Restorer` calls, image in -> image out).",
        "",
        "| backend | run ms | classify ms | run_and_classify ms | run + classify ms | "
        "one pass vs two | run_and_classify images/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, _, _ in BACKENDS:
        ms = {call: _medians.get((label, call)) for call in CALLS}
        both, two = ms["run_and_classify"], ms["run + classify"]
        cells = [f"{1000 * v:.1f}" if v else "-" for v in ms.values()]
        gain = f"{two / both:.2f}x" if both and two else "-"
        rate = f"{1 / both:.2f}" if both else "-"
        lines.append(f"| {label} | {' | '.join(cells)} | {gain} | {rate} |")
    return "\n".join(lines) + "\n"


def _facts() -> dict[str, Any]:
    return {
        "cpu": cpu_name(),
        "torch_threads": torch.get_num_threads(),
        "side": SIDE,
        "median_ms": {
            label: {
                call: 1000 * _medians[(label, call)] for call in CALLS if (label, call) in _medians
            }
            for label, _, _ in BACKENDS
        },
    }
