"""PSNR gain of a model on motion blur and JPEG per strength, on training and held-out photos.

Each photo's top-left 256x256 crop (RGB; gray photos repeated to 3 channels; 16-bit photos
skipped) is degraded at a fixed strength (JPEG quality 10/30/50, motion blur 6/12/24 px, one seeded
trajectory each) and restored on torch; the table prints mean PSNR of input and output.

    .venv/bin/python train/experiments/deblur-jpeg/strength_breakdown.py [MODEL]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from dcpt_sdk.degradations import blur, jpeg
from dcpt_sdk.imaging import read_image
from dcpt_sdk.metrics import psnr
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.train.photos import PHOTOS, source_path

CROP = 256
CASES: list[tuple[str, Callable[..., np.ndarray], dict[str, Any]]] = [
    ("JPEG quality 10", jpeg.jpeg, {"quality": 10}),
    ("JPEG quality 30", jpeg.jpeg, {"quality": 30}),
    ("JPEG quality 50", jpeg.jpeg, {"quality": 50}),
    ("motion blur 6 px", blur.motion_blur, {"length": 6}),
    ("motion blur 12 px", blur.motion_blur, {"length": 12}),
    ("motion blur 24 px", blur.motion_blur, {"length": 24}),
]


def crops(split: str) -> list[np.ndarray]:
    out = []
    for photo in (p for p in PHOTOS if p.split == split):
        pixels = read_image(source_path(photo)).pixels
        if pixels.dtype != np.uint8 or min(pixels.shape[:2]) < CROP:
            continue
        rgb = np.repeat(pixels[:, :, None], 3, 2) if pixels.ndim == 2 else pixels[:, :, :3]
        out.append(np.ascontiguousarray(rgb[:CROP, :CROP]))
    return out


def main() -> int:
    torch.set_num_threads(2)
    restorer = Restorer(sys.argv[1] if len(sys.argv) > 1 else "default", backend="torch")
    print("| photos | degradation | input dB | output dB | gain dB |\n|---|---|---|---|---|")
    for split in ("train", "holdout"):
        clean = crops(split)
        for label, degrade, params in CASES:
            before, after = [], []
            for image in clean:
                x = degrade(image.astype(np.float32) / 255.0, np.random.default_rng(5), **params)
                degraded = np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
                before.append(psnr(degraded, image))
                after.append(psnr(restorer.run(degraded), image))
            a, b = float(np.mean(before)), float(np.mean(after))
            print(f"| {split} ({len(clean)}) | {label} | {a:.2f} | {b:.2f} | {b - a:+.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
