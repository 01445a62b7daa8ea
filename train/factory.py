"""Config -> objects: the task, the restorer, the classifier, and the datasets.

Both training scripts build from the same Config through these functions, so a preset means the
same model and data in pre-training, fine-tuning and the experiments.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from torch import nn

from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.degradations import TaskPreset, get_preset
from dcpt_sdk.models import create_model
from dcpt_sdk.train.config import Config, DataConfig, SourceConfig
from dcpt_sdk.train.data import (
    CleanFolderDataset,
    ConcatSources,
    DataError,
    Degrader,
    SampleSource,
    list_images,
)
from dcpt_sdk.train.data_paired import PairedFolderDataset, match_pairs
from dcpt_sdk.train.dead_leaves import DeadLeavesDataset
from dcpt_sdk.zoo.samples import SAMPLES_DIR

__all__ = [
    "build_classifier",
    "build_restorer",
    "build_train_set",
    "build_val_set",
    "task_of",
]

log = logging.getLogger(__name__)


def task_of(cfg: Config) -> TaskPreset:
    """The degradation task preset (class names in label order)."""
    return get_preset(cfg.data.task)


def build_restorer(cfg: Config) -> RestorationNetwork:
    """The untrained restorer of ``model`` (a create_model preset or architecture + overrides)."""
    model = create_model(cfg.model.name, **cfg.model.hparams)
    if not isinstance(model, RestorationNetwork):
        raise DataError(f"model.name '{cfg.model.name}' is not a restorer (it is a classifier)")
    return model.train()


def build_classifier(cfg: Config, restorer: RestorationNetwork, num_classes: int) -> nn.Module:
    """The classifier, reading the restorer's feature widths and the task's class count."""
    hparams = dict(cfg.classifier.hparams)
    hparams["feature_dims"] = list(restorer.feature_channels)
    hparams["num_classes"] = num_classes
    return create_model(cfg.classifier.name, **hparams).train()


# --- data ------------------------------------------------------------------------------------


def _folder(data: DataConfig, relative: str, what: str) -> Path:
    """A source folder resolved against data.root; without a root, "." means the sample photos."""
    path = Path(relative).expanduser()
    if path.is_absolute():
        return path
    if data.root:
        return Path(data.root).expanduser() / path
    if relative in ("", "."):
        _warn_samples()
        return SAMPLES_DIR
    raise DataError(
        f"the {what} folder '{relative}' is relative, but no data root is set: pass --data DIR "
        "(or --set data.root=DIR) naming the folder it lies in"
    )


@functools.cache
def _warn_samples() -> None:
    """Said once (main process): the fallback is for smoke tests, never for training."""
    from accelerate.state import PartialState

    if not PartialState().is_main_process:
        return
    log.warning(
        "no --data folder given: using the %d shipped sample photos in %s. This is a smoke "
        "test of the pipeline only; train on a real folder of clean photos (--data DIR).",
        len(list_images(SAMPLES_DIR)),
        SAMPLES_DIR,
    )


def _degraders(task: TaskPreset, source: SourceConfig) -> list[tuple[int, Degrader]]:
    """(label, degradation with the source's fixed parameters) per class the source draws."""
    names = source.classes or list(task.classes)
    out: list[tuple[int, Degrader]] = []
    for name in names:
        label = task.label(name)
        degradation = task.degradation(label)
        if source.params:
            degradation = degradation.with_params(**source.params)
        out.append((label, degradation))
    return out


def _clean_files(data: DataConfig, source: SourceConfig, holdout: bool) -> list[Path]:
    """The source's clean images: training ones, or (``holdout``) the last ``holdout`` ones."""
    folder = _folder(data, source.dir, "clean images")
    files = list_images(folder, "clean images")
    if source.limit:
        files = files[: source.limit]
    if source.holdout >= len(files):
        raise DataError(
            f"holdout={source.holdout} leaves no training image among the {len(files)} in "
            f"'{folder}'; lower data.train[*].holdout"
        )
    cut = len(files) - source.holdout
    return files[cut:] if holdout else files[:cut]


def _source(
    cfg: Config, task: TaskPreset, source: SourceConfig, *, train: bool, holdout: bool = False
) -> SampleSource:
    patch = cfg.training.patch_size if train else cfg.data.val_crop
    seed = cfg.training.seed
    if source.kind == "dead_leaves":
        if not train:
            raise DataError(
                "a dead_leaves source makes training patches only; validate on photos "
                "(data.val: kind clean)"
            )
        return DeadLeavesDataset(
            _degraders(task, source), patch_size=patch, seed=seed, color_jitter=source.color_jitter
        )
    if source.kind == "clean":
        files = _clean_files(cfg.data, source, holdout) if train or holdout else _all(cfg, source)
        return CleanFolderDataset(
            files,
            _degraders(task, source),
            patch_size=patch,
            train=train,
            seed=seed,
            scale_range=source.scale_range,
            color_jitter=source.color_jitter,
            channel_shuffle=source.channel_shuffle,
        )
    pairs = match_pairs(
        _folder(cfg.data, source.input_dir, "input"),
        _folder(cfg.data, source.target_dir, "target"),
        source.naming,
        source.target_suffix,
    )
    if source.limit:
        pairs = pairs[: source.limit]
    return PairedFolderDataset(
        pairs, task.label(source.label), patch_size=patch, train=train, seed=seed
    )


def _all(cfg: Config, source: SourceConfig) -> list[Path]:
    files = list_images(_folder(cfg.data, source.dir, "clean images"), "clean images")
    return files[: source.limit] if source.limit else files


def build_train_set(cfg: Config) -> ConcatSources:
    """Every training source, each repeated ``ratio`` times, as one dataset."""
    task = task_of(cfg)
    sources = [_source(cfg, task, s, train=True) for s in cfg.data.train]
    return ConcatSources(sources, [s.ratio for s in cfg.data.train], seed=cfg.training.seed)


def build_val_set(cfg: Config) -> ConcatSources | None:
    """The validation sources, or the clean sources' held-out images; None when there are none."""
    task = task_of(cfg)
    if cfg.data.val:
        sources = [_source(cfg, task, s, train=False) for s in cfg.data.val]
        ratios = [s.ratio for s in cfg.data.val]
    else:
        sources = [
            _source(cfg, task, s, train=False, holdout=True)
            for s in cfg.data.train
            if s.kind == "clean" and s.holdout > 0
        ]
        ratios = [1] * len(sources)
    if not sources:
        return None
    # A different seed stream from training, fixed across epochs (evaluation keys use epoch 0);
    # a val source's ratio draws that many different degradations of each image and class.
    return ConcatSources(sources, ratios, seed=cfg.training.seed + 1)
