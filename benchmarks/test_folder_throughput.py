"""Folder throughput of dcpt-restore: 32 photos of 512x512, images per second, side by side.

Four runs of the real command (in-process ``dcpt_sdk.cli.restore.main``): backend auto and torch,
each with the decode/encode pipeline (the default) and with ``--no-pipeline``. Model opening is
inside the timing (a user's command pays it); auto's one-time export and measuring are not (a
warm-up run fills a private cache first, as a user's first run would once).

    .venv/bin/pytest benchmarks/test_folder_throughput.py -m slow

DCPT_WRITE_RESULTS=1 (`make bench`) writes benchmarks/results/folder_throughput.{md,json}.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from dcpt_sdk.cli.restore import main
from dcpt_sdk.export.inputs import sample_crops
from dcpt_sdk.imaging import write_image
from dcpt_sdk.user_cache import cpu_name

WRITE_RESULTS = os.environ.get("DCPT_WRITE_RESULTS") == "1"
RESULTS = Path(__file__).parent / "results" / "folder_throughput.md"
COUNT, SIDE = 32, 512
CONFIGS = [("auto", False), ("auto", True), ("torch", False), ("torch", True)]
_rates: dict[tuple[str, bool], float] = {}
_auto_line: list[str] = []


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """32 distinct 512x512 photo crops as PNG."""
    root = tmp_path_factory.mktemp("folder")
    crops = sample_crops([(SIDE, SIDE)] * COUNT, seed=11)
    for i, crop in enumerate(crops):
        write_image(root / f"img{i:02d}.png", (np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8))
    return root


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DCPT_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield
    if _rates and WRITE_RESULTS:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(_table(), encoding="utf-8")
        facts = {f"{b}{' no-pipeline' if s else ''}": r for (b, s), r in _rates.items()}
        RESULTS.with_suffix(".json").write_text(
            json.dumps({"cpu": cpu_name(), "images": COUNT, "side": SIDE, "images_per_s": facts})
            + "\n"
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "sequential"), CONFIGS, ids=[f"{b}-{'seq' if s else 'pipe'}" for b, s in CONFIGS]
)
def test_folder_throughput(
    benchmark: Any, folder: Path, tmp_path: Path, backend: str, sequential: bool, capsys: Any
) -> None:
    args = ["--backend", backend, *(["--no-pipeline"] if sequential else [])]
    if backend == "auto":  # the one-time export + measuring, outside the timing
        warm = tmp_path / "warm"
        assert main([str(folder / "img00.png"), "-o", str(warm / "x.png"), *args]) == 0
        _auto_line[:] = [
            line for line in capsys.readouterr().err.splitlines() if "auto chose" in line
        ]
    runs = iter(range(100))

    def restore_folder() -> None:
        out = tmp_path / f"out{next(runs)}"
        assert main([str(folder), "-o", str(out), *args]) == 0

    benchmark.group = f"dcpt-restore, {COUNT} images of {SIDE}x{SIDE}"
    benchmark.pedantic(restore_folder, rounds=1, iterations=1, warmup_rounds=0)
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        _rates[(backend, sequential)] = COUNT / stats.stats.median


def _table() -> str:
    lines = [
        f"# dcpt-restore folder throughput: {COUNT} PNG photos of {SIDE}x{SIDE}",
        "",
        f"CPU: {cpu_name()}, {torch.get_num_threads()} torch threads; one run, quiet machine. "
        "Written by benchmarks/test_folder_throughput.py (model opening included).",
        "",
        "| backend | pipelined (images/s) | --no-pipeline (images/s) | pipeline gain |",
        "|---|---|---|---|",
    ]
    for backend in ("auto", "torch"):
        pipe, seq = _rates.get((backend, False)), _rates.get((backend, True))
        gain = f"{pipe / seq:.2f}x" if pipe and seq else "-"
        cells = [f"{v:.2f}" if v else "-" for v in (pipe, seq)]
        lines.append(f"| {backend} | {cells[0]} | {cells[1]} | {gain} |")
    if _rates.get(("auto", False)) and _rates.get(("torch", False)):
        lines += [
            "",
            f"auto vs torch (pipelined): {_rates[('auto', False)] / _rates[('torch', False)]:.2f}x",
        ]
    if _auto_line:
        lines += ["", f"auto's choice: {_auto_line[0]}"]
    return "\n".join(lines) + "\n"
