"""Dead-leaves training patches: seeded, in range, edges at many scales, wired into the config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dcpt_sdk.train.data import DataError
from dcpt_sdk.train.dead_leaves import DeadLeavesDataset, dead_leaves


def test_patches_are_seeded_rgb_in_range() -> None:
    a = dead_leaves(64, np.random.default_rng(3))
    b = dead_leaves(64, np.random.default_rng(3))
    c = dead_leaves(64, np.random.default_rng(4))
    assert a.shape == (64, 64, 3) and a.dtype == np.float32
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_patches_have_flat_regions_and_sharp_edges_at_several_scales() -> None:
    """Not noise and not flat: most neighbour differences are tiny (inside a disk), some are large
    (an occluding edge), and the picture keeps structure after 4x downscaling (big disks)."""
    image = dead_leaves(128, np.random.default_rng(0)).mean(axis=2)
    steps = np.abs(np.diff(image, axis=1))
    assert np.median(steps) < 0.01
    assert np.quantile(steps, 0.99) > 0.1
    small = image.reshape(32, 4, 32, 4).mean(axis=(1, 3))
    assert np.abs(np.diff(small, axis=1)).max() > 0.2


def test_dataset_degrades_each_patch_with_a_drawn_class() -> None:
    def darker(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return img * 0.5

    data = DeadLeavesDataset([(4, darker)], patch_size=32, seed=1, images=2, image_size=64)
    sample = data[(0, 0)]
    assert tuple(sample["gt"].shape) == (3, 32, 32)
    assert int(sample["label"]) == 4
    np.testing.assert_allclose(sample["lq"].numpy(), sample["gt"].numpy() * 0.5, atol=1e-6)
    assert not np.array_equal(data[(1, 0)]["gt"].numpy(), sample["gt"].numpy())


def test_a_config_source_of_kind_dead_leaves_builds_and_refuses_validation(
    tmp_path: Path,
) -> None:
    from dcpt_sdk.train.config import load_config
    from dcpt_sdk.train.factory import _source, build_train_set, task_of

    config = tmp_path / "c.yaml"
    config.write_text(
        "data:\n  train:\n    - {kind: dead_leaves, ratio: 5, classes: [deblur, jpeg]}\n"
        "training: {patch_size: 24}\n",
        encoding="utf-8",
    )
    cfg = load_config(config, [])
    train = build_train_set(cfg)
    assert len(train) == 5
    labels = {int(train[(0, i)]["label"]) for i in range(5)}
    assert labels <= {task_of(cfg).label("deblur"), task_of(cfg).label("jpeg")}
    with pytest.raises(DataError, match="training patches only"):
        _source(cfg, task_of(cfg), cfg.data.train[0], train=False)
