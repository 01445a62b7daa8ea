"""Tiled vs whole-image output of one model on a 1024x768 natural image (PSNR between the two).

Usage: python benchmarks/tiling_quality.py CHECKPOINT [--degradation noise] [--tiles 256 512]

NAFNet's channel attention pools over the whole feature map, so a tile sees other statistics
than the whole image; the "local" rows run the same weights with local (TLC) pooling at the
model's training patch size, where tiles and the whole image see the same local windows.
Writes benchmarks/results/tiling_quality.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

RESULTS = Path(__file__).parent / "results" / "tiling_quality.md"


def natural_1024x768() -> np.ndarray:
    from dcpt_sdk.zoo.samples import sample_paths

    coffee = next(p for p in sample_paths() if p.stem == "coffee")
    return np.asarray(
        Image.open(coffee).convert("RGB").resize((1024, 768), Image.Resampling.LANCZOS)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--degradation", default="noise")
    parser.add_argument("--train-size", type=int, default=64, help="training patch size (TLC)")
    parser.add_argument("--tiles", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--overlaps", type=int, nargs="+", default=[32, 64])
    args = parser.parse_args()

    from dcpt_sdk import Restorer, degrade, load_model
    from dcpt_sdk.metrics import psnr  # uint8 images: the usual peak-255 PSNR

    image = degrade(natural_1024x768(), args.degradation, seed=0)
    rows = []
    for mode in ("global", "local"):
        model = load_model(args.checkpoint)
        if mode == "local":
            model.set_local_pooling(args.train_size)
        whole = Restorer(model, device="cpu", tile=None, memory_budget_mb=8192).run(image)
        for tile in args.tiles:
            for overlap in args.overlaps:
                restorer = Restorer(model, device="cpu", tile=tile, tile_overlap=overlap)
                start = time.perf_counter()
                tiled = restorer.run(image)
                seconds = time.perf_counter() - start
                quality = psnr(tiled, whole)
                rows.append(f"| {mode} | {tile} | {overlap} | {quality:.2f} | {seconds:.1f} s |")
                print(rows[-1], flush=True)
    header = (
        f"Model: `{args.checkpoint}`; input: coffee.png resized to 1024x768, degraded with "
        f"'{args.degradation}' (seed 0). PSNR of the tiled output against the whole-image output "
        "of the same mode.\n\n| pooling | tile | overlap | PSNR tiled vs whole (dB) | tiled time |\n"
        "|---|---|---|---|---|\n"
    )
    RESULTS.write_text(header + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
