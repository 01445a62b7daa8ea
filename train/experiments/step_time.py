"""Step time of a preset with and without the DCPT classifier branch (and of a fine-tuning step).

Times the optimiser step only (forward, backward, AdamW), on one fixed batch drawn from the
preset's data, so data loading and logging do not blur the comparison. The variants are
interleaved round by round, so a neighbour process slowing the machine slows all of them alike;
the median of the rounds is reported.

    python train/experiments/step_time.py --config train/configs/nafnet-tiny-synthetic.yaml \\
        --threads 1 --rounds 20 --report benchmarks/results/train_step_time.md
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

from dcpt_sdk.train.config import Config, load_config
from dcpt_sdk.train.factory import build_classifier, build_restorer, build_train_set, task_of
from dcpt_sdk.train.losses import focal_loss, l1_loss

Step = Callable[[], None]


def _batch(cfg: Config) -> dict[str, torch.Tensor]:
    data = build_train_set(cfg)
    items = [data[(0, i % len(data))] for i in range(cfg.training.batch_size)]
    return {key: torch.stack([item[key] for item in items]) for key in items[0]}


def _steps(cfg: Config) -> dict[str, Step]:
    """The three step kinds, each with its own model copy and optimiser."""
    torch.manual_seed(cfg.training.seed)
    batch = _batch(cfg)
    classes = task_of(cfg).num_classes

    def make(kind: str) -> Step:
        restorer = build_restorer(cfg)
        if kind == "dcpt":
            restorer.attach_classifier(build_classifier(cfg, restorer, classes))
        optimizer = torch.optim.AdamW(restorer.parameters(), lr=1e-4)

        def step() -> None:
            if kind == "finetune":
                loss = l1_loss(restorer(batch["lq"]), batch["gt"])
            else:
                loss = l1_loss(restorer(batch["gt"]), batch["gt"])
                if kind == "dcpt":
                    logits = restorer.classify_logits(batch["lq"])
                    loss = loss + focal_loss(logits, batch["label"])
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

        return step

    return {
        "DCPT pre-training step (clean L1 + classifier branch)": make("dcpt"),
        "pre-training step without the classifier branch (clean L1 only)": make("plain"),
        "fine-tuning step (L1 on degraded -> clean)": make("finetune"),
    }


def measure(cfg: Config, rounds: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per step of each variant."""
    steps = _steps(cfg)
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(cfg: Config, config: str, medians: dict[str, float], rounds: int, command: str) -> str:
    base = next(iter(medians.values()))
    plain = list(medians.values())[1]
    lines = [
        f"## {Path(config).stem}: {cfg.model.name} {dict(cfg.model.hparams)}",
        "",
        f"batch {cfg.training.batch_size} x {cfg.training.patch_size} px, classifier "
        f"{cfg.classifier.name} {dict(cfg.classifier.hparams)}, {torch.get_num_threads()} torch "
        f"thread(s), median of {rounds} interleaved rounds, torch {torch.__version__}.",
        "",
        f"Command: `{command}`",
        "",
        "| step | ms / step | relative to no classifier branch |",
        "|---|---|---|",
        *(f"| {name} | {t * 1000:.1f} | {t / plain:.2f}x |" for name, t in medians.items()),
        "",
        f"The classifier branch costs {100 * (base / plain - 1):.0f}% on top of the clean pass "
        "(a second forward through the encoder/decoder taps, the classifier, their backward).",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--config", default="train/configs/nafnet-tiny-synthetic.yaml")
    parser.add_argument("--data", help="clean-photo folder (default: the shipped sample photos)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--report", help="append the markdown table to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    overrides = [f"data.root={args.data}"] if args.data else []
    cfg = load_config(args.config, overrides)
    medians = measure(cfg, args.rounds)
    text = report(cfg, args.config, medians, args.rounds, " ".join(["python", *sys.argv]))
    print(text)
    if args.report:
        path = Path(args.report)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
