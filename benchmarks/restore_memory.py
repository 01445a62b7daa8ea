"""Peak resident memory of restoring one large image with tile="auto" on CPU.

Usage: python benchmarks/restore_memory.py [--size 4096] [--model nafnet-w64-paper] [--width W]

Runs in its own process so ru_maxrss is this job's peak alone; prints one markdown row and
appends it to benchmarks/results/restore_memory.md.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).parent / "results" / "restore_memory.md"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--model", default="nafnet")
    parser.add_argument("--width", type=int, default=16)
    args = parser.parse_args()

    from dcpt_sdk import Restorer, create_model

    model = create_model(args.model, width=args.width)
    with (
        torch.no_grad()
    ):  # random weights: every block computes (fresh NAFNet blocks are identities)
        for param in model.parameters():
            param.normal_(0, 0.02)
    restorer = Restorer(model, device="cpu", tile="auto")
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(args.size, args.size, 3), dtype=np.uint8)
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tile = restorer._tile_for(args.size, args.size)
    start = time.perf_counter()
    out = restorer.run(image)
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    params = sum(p.numel() for p in model.parameters()) / 1e6
    row = (
        f"| {args.model} width {args.width} ({params:.1f}M) | {args.size}x{args.size} uint8 | "
        f"{tile} | {baseline_mb:.0f} MB | {peak_mb:.0f} MB | {seconds:.0f} s | {out.shape} |"
    )
    print(row)
    if not RESULTS.exists():
        RESULTS.write_text(
            "| model | image | auto tile | RSS before | peak RSS | time | output |\n"
            "|---|---|---|---|---|---|---|\n"
        )
    with RESULTS.open("a") as stream:
        stream.write(row + "\n")


if __name__ == "__main__":
    main()
