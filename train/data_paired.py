"""Paired benchmark folders: a degraded input folder and a clean target folder.

The naming schemes of the DCPT benchmarks:

* ``same``: identical relative paths in both folders (GoPro, LOL, Rain13K, DPDD, Snow100K, CDD-11);
* ``reside``: RESIDE/SOTS, where many hazy images share one clean one: the clean name is the hazy
  name up to the first "_" plus ``target_suffix`` (``0001_0.8_0.2.jpg`` -> ``0001.png``);
* ``rain100l``: Rain100L's ``rain-001.png`` -> ``norain-001.png``.

Every input must find its target; otherwise the error names the folders and an example, because a
silently shorter dataset is the bug people find last.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from dcpt_sdk.train.data import (
    DataError,
    SampleSource,
    center_crop,
    dihedral,
    list_images,
    load_rgb,
    random_crop,
)

__all__ = ["NAMING_RULES", "Naming", "PairedFolderDataset", "match_pairs", "target_name"]

Naming = Literal["same", "reside", "rain100l"]


def _same(relative: Path, suffix: str) -> Path:
    return relative


def _reside(relative: Path, suffix: str) -> Path:
    return relative.with_name(relative.name.split("_", 1)[0].rsplit(".", 1)[0] + suffix)


def _rain100l(relative: Path, suffix: str) -> Path:
    if not relative.name.startswith("rain-"):
        raise DataError(
            f"Rain100L input '{relative}' does not start with 'rain-'; the rain100l naming maps "
            "rain-XXX.png to norain-XXX.png (use naming 'same' for identical names)"
        )
    return relative.with_name("no" + relative.name)


NAMING_RULES: dict[str, Callable[[Path, str], Path]] = {
    "same": _same,
    "reside": _reside,
    "rain100l": _rain100l,
}


def target_name(relative: Path, naming: Naming, target_suffix: str = ".png") -> Path:
    """The clean file's path (relative to the target folder) for an input's relative path."""
    rule = NAMING_RULES.get(naming)
    if rule is None:
        raise DataError(f"unknown naming {naming!r}; valid: {', '.join(NAMING_RULES)}")
    return rule(relative, target_suffix)


def match_pairs(
    input_dir: Path, target_dir: Path, naming: Naming = "same", target_suffix: str = ".png"
) -> list[tuple[Path, Path]]:
    """(input, target) paths for every image under ``input_dir``, sorted by input path.

    Raises:
        DataError: a missing or empty folder, or inputs without a target (names the first).
    """
    inputs = list_images(input_dir, "input")
    if not target_dir.is_dir():
        raise DataError(f"target folder '{target_dir}' does not exist or is not a folder")
    pairs: list[tuple[Path, Path]] = []
    missing: list[tuple[Path, Path]] = []
    for path in inputs:
        target = target_dir / target_name(path.relative_to(input_dir), naming, target_suffix)
        (pairs if target.is_file() else missing).append((path, target))
    if missing:
        example_in, example_target = missing[0]
        raise DataError(
            f"{len(missing)} of {len(inputs)} images in '{input_dir}' have no clean target in "
            f"'{target_dir}' with naming '{naming}': e.g. '{example_in.name}' expects "
            f"'{example_target}'. Check input_dir/target_dir and the naming "
            f"({', '.join(NAMING_RULES)})"
        )
    return pairs


class PairedFolderDataset(SampleSource):
    """(degraded, clean) file pairs of one task class.

    Training: the same random patch of both, the same flip/rotation. Evaluation (``train=False``):
    a centre crop of ``patch_size`` (0: whole images).

    Args:
        pairs: (input, target) paths, e.g. from :func:`match_pairs`.
        label: the class index of every pair.
        patch_size: crop side (0: whole images; evaluation only).
        train: random crops and flips (True) or deterministic evaluation crops (False).
        seed: seeds each sample's generator with its epoch and index.
    """

    def __init__(
        self,
        pairs: Sequence[tuple[Path, Path]],
        label: int,
        *,
        patch_size: int,
        train: bool = True,
        seed: int = 0,
    ) -> None:
        if not pairs:
            raise DataError("PairedFolderDataset needs at least one pair")
        if train and patch_size <= 0:
            raise DataError("training crops need patch_size > 0")
        self.pairs = list(pairs)
        self.label = label
        self.patch_size = patch_size
        self.train = train
        self.seed = seed

    def __len__(self) -> int:
        return len(self.pairs)

    def sample(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int]:
        input_path, target_path = self.pairs[index]
        lq, gt = load_rgb(input_path), load_rgb(target_path)
        if lq.shape != gt.shape:
            raise DataError(
                f"pair sizes differ: '{input_path}' is {lq.shape[1]}x{lq.shape[0]} but "
                f"'{target_path}' is {gt.shape[1]}x{gt.shape[0]}"
            )
        if self.train:
            lq, gt = dihedral(random_crop([lq, gt], self.patch_size, rng), rng)
        elif self.patch_size:
            lq, gt = center_crop(lq, self.patch_size), center_crop(gt, self.patch_size)
        return np.ascontiguousarray(lq), np.ascontiguousarray(gt), self.label
