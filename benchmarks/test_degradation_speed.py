"""Throughput of every degradation on 128x128 patches, one thread on one core.

The training loader degrades every patch on the fly, so each degradation must keep up with the
GPU: the target is at least 200 patches/s per core. Run:

    .venv/bin/pytest benchmarks/test_degradation_speed.py

and read benchmarks/results/degradation_speed.md (written when the module finishes).
"""

from __future__ import annotations

import os

# One thread for every numeric library, set before numpy is imported (no effect once loaded;
# the affinity pin below holds regardless).
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import platform  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dcpt_sdk.degradations import available, get  # noqa: E402

PATCH = 128
TARGET_PER_S = 200.0
RESULTS = Path(__file__).parent / "results" / "degradation_speed.md"

# The heaviest CDD-11 class, for scale: mixes cost the sum of their parts.
MIXES = ("low_light+haze+snow",)

_rates: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def one_core() -> Iterator[None]:
    """Pin the process to a single core while the module runs, then write the table."""
    pinned = hasattr(os, "sched_setaffinity")
    if pinned:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(before)})
    yield
    if pinned:
        os.sched_setaffinity(0, before)
    if _rates and os.environ.get("DCPT_WRITE_RESULTS") == "1":  # `make bench` only
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(_table(pinned), encoding="utf-8")


@pytest.fixture(scope="module")
def patch() -> np.ndarray:
    data = pytest.importorskip("skimage.data", reason="scikit-image ships the sample photo")
    crop = data.astronaut()[100 : 100 + PATCH, 150 : 150 + PATCH]
    return np.ascontiguousarray(crop, dtype=np.float32) / np.float32(255.0)


@pytest.mark.parametrize("name", available() + MIXES)
def test_degradation_speed(benchmark: Any, name: str, patch: np.ndarray) -> None:
    degradation = get(name)
    rng = np.random.default_rng(0)  # default parameters drawn anew on every call, as in training
    benchmark.group = f"degradation {PATCH}x{PATCH}, 1 thread"
    out = benchmark(degradation, patch, rng)
    assert out.shape == patch.shape
    stats = getattr(benchmark, "stats", None)
    if stats is not None:  # None under --benchmark-disable
        _rates[name] = 1.0 / stats.stats.mean


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _table(pinned: bool) -> str:
    core = "pinned to one core" if pinned else "one thread (affinity not settable here)"
    lines = [
        f"# Degradation throughput, {PATCH}x{PATCH} float32 patches",
        "",
        f"{_cpu()}, {core}, numpy {np.__version__}, "
        f"default parameters drawn per call. Target: >= {TARGET_PER_S:.0f} patches/s.",
        "",
        "| degradation | mean ms/patch | patches/s | >= target |",
        "|---|---:|---:|:---:|",
    ]
    for name in available() + MIXES:
        if name in _rates:
            rate = _rates[name]
            ok = "yes" if rate >= TARGET_PER_S else "NO"
            lines.append(f"| {name} | {1000.0 / rate:.2f} | {rate:,.0f} | {ok} |")
    return "\n".join(lines) + "\n"
