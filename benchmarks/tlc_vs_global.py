"""Whole-image quality against the clean image: global vs local ("TLC") pooling, same weights.

Usage: python benchmarks/tlc_vs_global.py CHECKPOINT [--train-size 64]

Prints PSNR of the restored 1024x768 photo against the clean one per degradation, in both
pooling modes (results quoted in benchmarks/results/tiling_quality.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from tiling_quality import natural_1024x768  # noqa: E402

from dcpt_sdk import Restorer, degrade, load_model  # noqa: E402
from dcpt_sdk.metrics import psnr  # noqa: E402 - uint8 images: the usual peak-255 PSNR

DEGRADATIONS = ("noise", "rain", "haze", "low_light")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--train-size", type=int, default=64, help="training patch size (TLC)")
    args = parser.parse_args()
    clean = natural_1024x768()
    print("| degradation | input | global | local (TLC) |\n|---|---|---|---|")
    for name in DEGRADATIONS:
        degraded = degrade(clean, name, seed=0)
        scores = []
        for local in (False, True):
            model = load_model(args.checkpoint)
            if local:
                model.set_local_pooling(args.train_size)
            restorer = Restorer(model, device="cpu", tile=None, memory_budget_mb=8192)
            scores.append(psnr(restorer.run(degraded), clean))
        print(f"| {name} | {psnr(degraded, clean):.2f} | {scores[0]:.2f} | {scores[1]:.2f} |")


if __name__ == "__main__":
    main()
