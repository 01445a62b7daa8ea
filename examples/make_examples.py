"""Make the demo's examples: one degraded crop per synthetic-7d class, from held-out photos.

The photos are the default model's held-out ones (dcpt_sdk.train.photos, split "holdout"): never
trained on. Each class gets a 256x256 crop of one photo, degraded by the SDK's engine with a fixed
seed, and its clean crop for PSNR. Writes examples/degraded/, examples/clean/ and
examples/examples.json (which photo, crop, class and seed each file came from).

    .venv/bin/python examples/make_examples.py
"""

from __future__ import annotations

import json
from pathlib import Path

from dcpt_sdk.degradations import get_preset
from dcpt_sdk.degradations.api import degrade
from dcpt_sdk.imaging import read_image, write_image
from dcpt_sdk.train.photos import PHOTOS, source_path

HERE = Path(__file__).resolve().parent
CROP = 256
# (photo, top, left) per class: crops with texture, edges and flat areas alike.
PLAN = {
    "derain": ("skimage-chelsea.png", 20, 60),
    "denoise": ("skimage-coffee.png", 60, 200),
    "dehaze": ("sklearn-flower.jpg", 80, 200),
    "low-light": ("skimage-astronaut.png", 40, 120),
    "deblur": ("skimage-coffee.png", 100, 40),
    "jpeg": ("skimage-astronaut.png", 200, 180),
    "desnow": ("sklearn-flower.jpg", 120, 330),
}


def main() -> None:
    preset = get_preset("synthetic-7d")
    photos = {p.name: p for p in PHOTOS if p.split == "holdout"}
    (HERE / "degraded").mkdir(exist_ok=True)
    (HERE / "clean").mkdir(exist_ok=True)
    records = []
    for index, class_name in enumerate(preset.classes):
        name, top, left = PLAN[class_name]
        photo = photos[name]
        pixels = read_image(source_path(photo)).pixels[:, :, :3]
        clean = pixels[top : top + CROP, left : left + CROP]
        seed = 2025 + index
        degraded = degrade(clean, preset.degradation(class_name), seed=seed)
        write_image(HERE / "clean" / f"{class_name}.png", clean)
        write_image(HERE / "degraded" / f"{class_name}.png", degraded)
        records.append(
            {
                "file": f"degraded/{class_name}.png",
                "clean": f"clean/{class_name}.png",
                "class": class_name,
                "photo": photo.path,
                "package": photo.package,
                "licence": photo.licence,
                "credit": photo.credit,
                "crop": [top, left, CROP, CROP],
                "seed": seed,
            }
        )
    (HERE / "examples.json").write_text(json.dumps(records, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {len(records)} examples under {HERE}")


if __name__ == "__main__":
    main()
