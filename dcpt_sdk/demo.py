"""`make demo` / `python -m dcpt_sdk.demo`: the main job, on the built-in default model.

Restores the degraded examples (examples/degraded/, one per synthetic-7d class, made from photos
the default model never saw in training; see examples/examples.json) with the built-in default
model on the fastest backend the machine has, and prints, per image, the degradation the model
detects with its probability and the PSNR before and after. Writes under outputs/demo/: each
restored image, one side-by-side picture per degradation (degraded | restored | clean, labelled)
and overview.png, all of them stacked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from dcpt_sdk.cli.common import run_command
from dcpt_sdk.errors import InvalidImageError

__all__ = ["main", "run_demo"]

_LABEL_HEIGHT = 22


def _label(image: np.ndarray, text: str) -> np.ndarray:
    """``image`` with a caption strip above it (PIL's bundled font: no font files needed)."""
    from PIL import Image, ImageDraw, ImageFont

    height, width = image.shape[:2]
    canvas = Image.new("RGB", (width, height + _LABEL_HEIGHT), (255, 255, 255))
    canvas.paste(Image.fromarray(image), (0, _LABEL_HEIGHT))
    ImageDraw.Draw(canvas).text((4, 4), text, fill=(0, 0, 0), font=ImageFont.load_default(13))
    return np.asarray(canvas)


def _side_by_side(panels: list[tuple[np.ndarray, str]], gap: int = 4) -> np.ndarray:
    labelled = [_label(image, text) for image, text in panels]
    height = max(p.shape[0] for p in labelled)
    spacer = np.full((height, gap, 3), 255, np.uint8)
    row: list[np.ndarray] = []
    for panel in labelled:
        row += [panel, spacer]
    return np.concatenate(row[:-1], axis=1)


def _examples(folder: Path) -> list[dict[str, Any]]:
    index = folder / "examples.json"
    if not index.is_file():
        raise InvalidImageError(
            f"no examples in '{folder}' (expected {index}); run the demo from the repository "
            "root or pass --examples DIR"
        )
    records: list[dict[str, Any]] = json.loads(index.read_text(encoding="utf-8"))
    return records


def run_demo(examples: Path, output: Path, model: str, backend: str) -> int:
    from dcpt_sdk.imaging import read_image, write_image
    from dcpt_sdk.metrics import psnr
    from dcpt_sdk.restorer import Restorer

    records = _examples(examples)
    output.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    restorer = Restorer(model, backend=backend)
    print(
        f"model {restorer.spec.name or model}: {restorer.backend} {restorer.precision} on "
        f"{restorer.device} (opened in {time.perf_counter() - started:.1f} s)"
    )
    if restorer.auto_choice is not None:
        print(restorer.auto_choice.summary())
    print(
        f"{'image':<22} {'detected':<10} {'prob':>5} {'degraded dB':>12} {'restored dB':>12} "
        f"{'ms':>6}"
    )
    rows, before, after = [], [], []
    for record in records:
        degraded = read_image(examples / record["file"]).pixels
        clean = read_image(examples / record["clean"]).pixels
        tick = time.perf_counter()
        restored, probabilities = restorer.run_and_classify(degraded)
        millis = (time.perf_counter() - tick) * 1000
        detected = max(probabilities, key=probabilities.__getitem__)
        db_in, db_out = psnr(degraded, clean), psnr(restored, clean)
        before.append(db_in)
        after.append(db_out)
        name = Path(record["file"]).stem
        write_image(output / f"{name}_restored.png", restored)
        picture = _side_by_side(
            [
                (degraded, f"degraded ({record['class']}) {db_in:.2f} dB"),
                (
                    restored,
                    f"restored {db_out:.2f} dB; seen: {detected} {probabilities[detected]:.0%}",
                ),
                (clean, "clean"),
            ]
        )
        write_image(output / f"{name}_side_by_side.png", picture)
        rows.append(picture)
        print(
            f"{record['file']:<22} {detected:<10} {probabilities[detected]:5.2f} {db_in:12.2f} "
            f"{db_out:12.2f} {millis:6.0f}"
        )
    print(f"{'mean':<39} {np.mean(before):12.2f} {np.mean(after):12.2f}")
    width = max(r.shape[1] for r in rows)
    padded = [
        np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows
    ]
    write_image(output / "overview.png", np.concatenate(padded, axis=0))
    print(f"wrote {len(rows)} restorations, side-by-side pictures and overview.png to {output}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dcpt_sdk.demo",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--examples", type=Path, default=Path("examples"), help="examples folder")
    parser.add_argument("-o", "--output", type=Path, default=Path("outputs/demo"))
    parser.add_argument("--model", default="default", help="zoo name, checkpoint or artifact")
    parser.add_argument("--backend", default="auto")
    args = parser.parse_args(argv)
    return run_command(lambda: run_demo(args.examples, args.output, args.model, args.backend))


if __name__ == "__main__":
    sys.exit(main())
