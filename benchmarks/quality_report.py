"""Quality report of the built-in default model on photos it never saw (`make quality`).

Per synthetic-7d class, PSNR/SSIM of (a) the degraded input, (b) the default model, (c) the same
model trained without DCPT pre-training (the same fine-tuning schedule from scratch), on the
held-out photos (dcpt_sdk.train.photos, split "holdout"); then the classifier's top-1 accuracy
and confusion matrix. Writes benchmarks/results/quality.{md,json} and quality_confusion.png.

Evaluation set: each held-out photo gives two fixed 256x256 crops; each crop is degraded with
every class, three seeds each (4 photos x 2 crops x 7 classes x 3 = 168 images). The seeds differ
from those of training (which draws from (seed, epoch, index)) and of examples/.

    .venv/bin/python benchmarks/quality_report.py --scratch RUNS/scratch/last.safetensors
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import numpy as np
import torch

from dcpt_sdk.degradations import get_preset
from dcpt_sdk.degradations.api import degrade
from dcpt_sdk.imaging import read_image
from dcpt_sdk.metrics import psnr_batch, ssim_batch
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.train.photos import PHOTOS, source_path

RESULTS = Path(__file__).resolve().parent / "results"
CROP = 256
SEEDS = (71, 72, 73)


def evaluation_set() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(class, degraded uint8, clean uint8) for every held-out crop, class and seed."""
    preset = get_preset("synthetic-7d")
    items = []
    for photo in (p for p in PHOTOS if p.split == "holdout"):
        pixels = read_image(source_path(photo)).pixels[:, :, :3]
        height, width = pixels.shape[:2]
        corners = [(0, 0), (height - CROP, width - CROP)]  # top-left and bottom-right crops
        for top, left in corners:
            clean = np.ascontiguousarray(pixels[top : top + CROP, left : left + CROP])
            for label, name in enumerate(preset.classes):
                for seed in SEEDS:
                    degraded = degrade(
                        clean, preset.degradation(name), seed=seed * 1000 + label + top + left
                    )
                    items.append((name, degraded, clean))
    return items


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.astype(np.float32) / 255.0).permute(2, 0, 1)[None]


def _scores(outputs: list[np.ndarray], items: list, classes: tuple[str, ...]) -> dict:
    by_class: dict[str, list[tuple[float, float]]] = {c: [] for c in classes}
    for out, (name, _, clean) in zip(outputs, items, strict=True):
        a, b = _tensor(out), _tensor(clean)
        by_class[name].append((float(psnr_batch(a, b)[0]), float(ssim_batch(a, b)[0])))
    table = {
        c: {
            "psnr": float(np.mean([v[0] for v in vals])),
            "ssim": float(np.mean([v[1] for v in vals])),
        }
        for c, vals in by_class.items()
    }
    table["mean"] = {
        "psnr": float(np.mean([table[c]["psnr"] for c in classes])),
        "ssim": float(np.mean([table[c]["ssim"] for c in classes])),
    }
    return table


def _confusion_png(matrix: np.ndarray, classes: tuple[str, ...], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rates = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=100)
    ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true degradation")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                int(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if rates[i, j] > 0.5 else "black",
            )
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="the model to report (zoo name/path)")
    parser.add_argument("--scratch", type=Path, help="the same model trained without DCPT")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    preset = get_preset("synthetic-7d")
    classes = preset.classes
    items = evaluation_set()
    columns = {"input": _scores([d for _, d, _ in items], items, classes)}
    restorer = Restorer(args.model, backend="torch")
    outputs, predicted = [], []
    for _, degraded, _ in items:
        restored, probabilities = restorer.run_and_classify(degraded)
        outputs.append(restored)
        predicted.append(max(probabilities, key=probabilities.__getitem__))
    columns["default model (DCPT)"] = _scores(outputs, items, classes)
    if args.scratch:
        scratch = Restorer(str(args.scratch), backend="torch")
        columns["same, no DCPT pre-training"] = _scores(
            [scratch.run(d) for _, d, _ in items], items, classes
        )
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for (name, _, _), guess in zip(items, predicted, strict=True):
        matrix[classes.index(name), classes.index(guess)] += 1
    accuracy = float(np.trace(matrix) / matrix.sum())

    args.out.mkdir(parents=True, exist_ok=True)
    spec = restorer.spec
    facts = {
        "model": spec.name or args.model,
        "images": len(items),
        "cpu": platform.processor() or platform.machine(),
        "columns": columns,
        "classifier_top1": accuracy,
        "confusion": {"classes": list(classes), "matrix": matrix.tolist()},
    }
    (args.out / "quality.json").write_text(json.dumps(facts, indent=2) + "\n")
    _confusion_png(
        matrix,
        classes,
        args.out / "quality_confusion.png",
        f"{facts['model']}: top-1 {accuracy:.1%} on {len(items)} held-out images",
    )
    names = list(columns)
    lines = [
        f"# Quality of the default model ({facts['model']}) on held-out photos",
        "",
        f"Command: `.venv/bin/python benchmarks/quality_report.py"
        f"{' --scratch ' + str(args.scratch) if args.scratch else ''}` (`make quality`).",
        f"{len(items)} images: 4 held-out photos x 2 crops of {CROP}x{CROP} x 7 classes x "
        f"{len(SEEDS)} seeds; the photos were never trained on. PSNR dB / SSIM, RGB, full image.",
        "",
        "| class | " + " | ".join(names) + " | model - input (dB) |",
        "|---|" + "---|" * (len(names) + 1),
    ]
    for c in [*classes, "mean"]:
        cells = [f"{columns[n][c]['psnr']:.2f} / {columns[n][c]['ssim']:.3f}" for n in names]
        gain = columns["default model (DCPT)"][c]["psnr"] - columns["input"][c]["psnr"]
        lines.append(f"| {c} | " + " | ".join(cells) + f" | {gain:+.2f} |")
    lines += [
        "",
        f"## Classifier: top-1 {accuracy:.1%}",
        "",
        "Rows: true class; columns: predicted ([quality_confusion.png](quality_confusion.png)).",
        "",
        "| true \\ predicted | " + " | ".join(classes) + " |",
        "|---|" + "---|" * len(classes),
    ]
    for i, c in enumerate(classes):
        lines.append(f"| {c} | " + " | ".join(str(v) for v in matrix[i]) + " |")
    (args.out / "quality.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
