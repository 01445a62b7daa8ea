"""Ship a fine-tuned checkpoint as the built-in default model (dcpt_sdk/zoo/).

Writes ``dcpt_sdk/zoo/<name>.safetensors`` (the weights, the classifier and a ModelSpec that
names the model, its weights' licence and its provenance) and ``dcpt_sdk/zoo/<name>.md``, the
model card: the training photos with their sources and licences, parameter count, FLOPs at
512x512, file size, the training commands and their wall time. Measured figures that need a quiet
machine (latency, quality) are added to the card by the benchmarks that measure them.

    python -m dcpt_sdk.train.ship RUNS/finetune/last.safetensors --runs RUNS
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch

from dcpt_sdk.checkpoint import load_model, save_model
from dcpt_sdk.spec import spec_of
from dcpt_sdk.train.photos import sources_table
from dcpt_sdk.zoo import DEFAULT_MODEL, ZOO_DIR

__all__ = ["flops_at", "main", "run_facts", "ship"]

# The weights are this project's work, trained on the photos listed in the card; the licence is
# the project's. china.jpg and flower.jpg (CC BY 2.0) ask for attribution, which the card gives.
WEIGHTS_LICENSE = "Apache-2.0 (dcpt-sdk); training photos: public domain, CC0 and CC BY 2.0"


def flops_at(model: torch.nn.Module, size: int = 512) -> float:
    """FLOPs (multiply and add counted separately) of one restoration at size x size."""
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, spec_of(model).in_channels, size, size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return float(counter.get_total_flops())


def run_facts(run_dir: Path) -> tuple[int, float]:
    """(last step, training wall seconds) of one run: its logged seconds per step x steps."""
    seconds, step = 0.0, 0
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "sec_per_step" in row:
            seconds += row["sec_per_step"] * (row["step"] - step)
        step = max(step, row.get("step", 0))
    return step, seconds


def _card(name: str, model: torch.nn.Module, file: Path, runs: Path) -> str:
    spec = spec_of(model)
    params = sum(p.numel() for p in model.parameters())
    classifier = getattr(model, "classifier", None)
    head = sum(p.numel() for p in classifier.parameters()) if classifier is not None else 0
    gflops = flops_at(model) / 1e9
    phases = [
        ("DCPT pre-training (`train/pretrain.py`, default-model.yaml)", runs / "pretrain"),
        ("all-in-one fine-tuning, stage 1 (`train/finetune.py --init`)", runs / "finetune"),
        (
            "stage 2 (default-model-stage2.yaml: lower lr, deblur/JPEG drawn more often)",
            runs / "finetune2",
        ),
        (
            "stage 3 (default-model-stage3.yaml: PSNR loss instead of L1, lower lr)",
            runs / "finetune3",
        ),
        (
            "stage 4 (default-model-stage4.yaml: PSNR loss, deblur/JPEG a third of the patches "
            "each, RGB channels shuffled)",
            runs / "finetune4",
        ),
        ("baseline, not shipped: stage 1 from scratch (no DCPT pre-training)", runs / "scratch"),
        ("baseline, not shipped: its stage 2", runs / "scratch2"),
        ("baseline, not shipped: its stage 3", runs / "scratch3"),
        ("baseline, not shipped: its stage 4", runs / "scratch4"),
    ]
    lines = [
        f"# {name}: the built-in default model",
        "",
        "An all-in-one restorer for the seven `synthetic-7d` degradations (noise, rain, haze, "
        "motion blur, low light, JPEG, snow), pre-trained with DCPT (degradation classification) "
        "and fine-tuned, on a 2-core CPU, with this repository's own scripts. It ships inside "
        "the package: `dcpt_sdk.Restorer()` and `dcpt-restore` use it with no download.",
        "",
        "## Facts",
        "",
        "| | |",
        "|---|---|",
        f"| architecture | {spec.arch} {json.dumps(dict(spec.hparams))} |",
        f"| restorer parameters | {params - head:,} |",
        f"| classifier | {spec.classifier.arch if spec.classifier else '-'} "
        f"{json.dumps(dict(spec.classifier.hparams)) if spec.classifier else ''}, {head:,} parameters |",
        f"| classes (logit order) | {', '.join(spec.degradation_classes)} |",
        f"| FLOPs at 512x512 (restorer, torch.utils.flop_counter) | {gflops:.1f} GFLOP |",
        f"| file | `dcpt_sdk/zoo/{file.name}`, {file.stat().st_size / 2**20:.2f} MiB (float32) |",
        f"| pad multiple | {spec.pad_multiple} |",
        f"| weights licence | {WEIGHTS_LICENSE} |",
        f"| architecture code licence | {spec.code_license} |",
        "",
        "## Training",
        "",
        "Reproduce with `bash train/default_model.sh` (config "
        "`train/configs/default-model.yaml`): the phases below, each an `accelerate launch` of "
        "`train/pretrain.py` or `train/finetune.py` with OMP_NUM_THREADS=1 at nice 10, beside "
        "other work on the same 2 cores (wall times include that contention; stage 4 and its "
        "baseline were reniced to 0, then -5, by hand when that work crowded them out).",
        "",
        "| phase | steps | wall time |",
        "|---|---|---|",
    ]
    for label, run in phases:
        if (run / "metrics.jsonl").is_file():
            steps, seconds = run_facts(run)
            lines.append(f"| {label} | {steps} | {seconds / 60:.0f} min |")
    lines += [
        "",
        "The shipped weights are the last stage's final EMA weights (`last.safetensors`): no "
        "checkpoint was chosen by its score on the held-out photos.",
    ]
    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    for title, table, command in (
        ("Quality on held-out photos", "quality.md", "make quality"),
        (
            "CPU latency (all backends and the auto choice, one run, nothing else of this project "
            "running)",
            "backend_speed.md",
            "DCPT_WRITE_RESULTS=1 .venv/bin/pytest benchmarks/test_backend_speed.py -m 'slow or not slow'",
        ),
    ):
        file = results / table
        if file.is_file() and name in file.read_text():
            body = file.read_text().split("\n", 2)[2]  # the table file's own title dropped
            lines += ["", f"## {title}", "", f"`{command}` (benchmarks/results/{table}):", "", body]
    lines += [
        "",
        "## Training and held-out photos",
        "",
        "Clean photos that installed packages ship (nothing downloaded); every patch is "
        "randomly rescaled, flipped/rotated and colour-jittered, then degraded on the fly. The "
        "held-out photos are never trained on: they make `examples/` and the quality report.",
        "",
        sources_table(),
    ]
    return "\n".join(lines)


def ship(checkpoint: Path, runs: Path, name: str = DEFAULT_MODEL) -> Path:
    """Copy ``checkpoint`` into the zoo as ``name`` with its spec and card; returns the file."""
    model = load_model(checkpoint)
    spec = spec_of(model)
    provenance: dict[str, Any] = dict(spec.provenance)
    provenance.pop("config", None)  # the config file in the repo is the record
    provenance.update(
        {
            "training": "DCPT pre-training + all-in-one fine-tuning (train/default_model.sh)",
            "config": "train/configs/default-model.yaml",
            "source_checkpoint_sha256": spec.provenance.get("checkpoint_sha256"),
        }
    )
    provenance.pop("checkpoint_sha256", None)
    provenance.pop("source_file", None)
    shipped = spec.replace(name=name, weights_license=WEIGHTS_LICENSE, provenance=provenance)
    target = ZOO_DIR / f"{name}.safetensors"
    save_model(model, target, shipped)
    card = ZOO_DIR / f"{name}.md"
    card.write_text(_card(name, load_model(target), target, runs), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="the fine-tuned .safetensors to ship")
    parser.add_argument("--runs", type=Path, required=True, help="the runs folder (for the card)")
    parser.add_argument("--name", default=DEFAULT_MODEL)
    args = parser.parse_args(argv)
    target = ship(args.checkpoint, args.runs, args.name)
    print(
        f"shipped {target} ({target.stat().st_size / 2**20:.2f} MiB) and {target.with_suffix('.md')}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
