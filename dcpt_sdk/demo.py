"""`make demo` / `python -m dcpt_sdk.demo`: the main job on the built-in default model.

Degrades the shipped sample photos with every class of the synthetic-7d task, restores them with
the built-in default model, and prints PSNR before/after per class. Outputs land in
outputs/demo/ (degraded, restored, and a contact sheet of the degradations).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from dcpt_sdk.cli.common import run_command


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def run_demo(output: Path, model: str, crop: int) -> int:
    from dcpt_sdk import degradations, imaging
    from dcpt_sdk.degradations.api import degrade
    from dcpt_sdk.errors import ModelLoadError
    from dcpt_sdk.restorer import Restorer
    from dcpt_sdk.zoo.samples import sample_images

    output.mkdir(parents=True, exist_ok=True)
    preset = degradations.get_preset("synthetic-7d")
    photos = [img[:crop, :crop] for img in sample_images()]
    try:
        restorer = Restorer(model)
    except ModelLoadError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        print(
            "demo: no trained default model is shipped in this version yet; degraded images "
            f"are still written to {output}",
            file=sys.stderr,
        )
        restorer = None
    print(f"{'class':<12} {'degraded dB':>12} {'restored dB':>12}")
    for index, class_name in enumerate(preset.classes):
        before, after = [], []
        for number, clean in enumerate(photos):
            degraded = degrade(clean, preset.degradation(class_name), seed=1000 * index + number)
            imaging.write_image(output / f"{class_name}_{number}_degraded.png", degraded)
            before.append(_psnr(degraded, clean))
            if restorer is not None:
                restored = restorer.run(degraded)
                imaging.write_image(output / f"{class_name}_{number}_restored.png", restored)
                after.append(_psnr(restored, clean))
        restored_text = f"{np.mean(after):12.2f}" if after else f"{'-':>12}"
        print(f"{class_name:<12} {np.mean(before):12.2f} {restored_text}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dcpt_sdk.demo", description=__doc__.splitlines()[0]
    )
    parser.add_argument("-o", "--output", type=Path, default=Path("outputs/demo"))
    parser.add_argument("--model", default="default")
    parser.add_argument("--crop", type=int, default=256, help="crop of each sample photo, pixels")
    args = parser.parse_args(argv)
    return run_command(lambda: run_demo(args.output, args.model, args.crop))


if __name__ == "__main__":
    sys.exit(main())
