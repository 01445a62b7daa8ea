"""Training configuration: YAML files mapped onto typed dataclasses, with ``--set`` overrides.

One schema serves pre-training and fine-tuning, so a preset file describes a whole experiment and
both scripts read it. Values are converted to the type the dataclass field declares (a typo such as
``training.max_step`` or ``optim.lr=fast`` is an error naming the valid keys or the expected type),
never silently ignored.

Example:
    >>> cfg = load_config("train/configs/ci-tiny.yaml", overrides=["training.max_steps=8"])
    >>> cfg.training.max_steps
    8
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from dcpt_sdk.train.typed_data import (
    ConfigError,
    apply_overrides,
    build_dataclass,
    merge,
    to_plain,
)

__all__ = [
    "ClassifierConfig",
    "Config",
    "ConfigError",
    "DataConfig",
    "FinetuneConfig",
    "ModelConfig",
    "OptimConfig",
    "ScheduleConfig",
    "SourceConfig",
    "TrainingConfig",
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "load_config",
]

MixedPrecision = Literal["no", "fp16", "bf16"]


@dataclass
class ModelConfig:
    """The restorer: a preset or architecture name of ``dcpt_sdk.models.create_model``."""

    name: str = "nafnet-tiny"
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClassifierConfig:
    """The DCPT degradation classifier. ``feature_dims`` and ``num_classes`` are filled in from
    the restorer and the task, so ``hparams`` holds only the remaining choices."""

    name: str = "dcpt-classifier-light"
    hparams: dict[str, Any] = field(default_factory=dict)


@dataclass
class SourceConfig:
    """One data source: a folder of clean photos degraded on the fly, or a paired benchmark folder.

    Relative directories resolve against ``data.root`` (the ``--data`` flag).

    Attributes:
        kind: "clean" (degrade clean photos on the fly), "paired" (input/target folders) or
            "dead_leaves" (synthetic dead-leaves patches degraded on the fly, train/dead_leaves.py;
            training only; ``ratio`` patches per epoch; ``classes`` and ``color_jitter`` apply).
        dir: clean: the folder of clean photos.
        classes: clean: the task classes drawn per sample (empty: every class of the task).
        params: clean: keyword parameters of the degradation, e.g. ``{sigma: 25}`` for a test set.
        label: paired: the task class this folder's pairs belong to.
        input_dir / target_dir: paired: the degraded and the clean folder.
        naming: paired: how a degraded file name maps to its clean one: "same" (identical names),
            "reside" (RESIDE/SOTS: the name up to the first "_" + ``target_suffix``) or
            "rain100l" ("rain-XXX.png" -> "norain-XXX.png").
        target_suffix: reside: the clean file's suffix.
        ratio: how many times the source is repeated per epoch (balances small sets against large);
            in ``data.val``, how many different degradation draws each clean image gets.
        holdout: clean: the last N images (sorted by name) are left out of training and, when
            ``data.val`` is empty, used for validation.
        limit: use only the first N pairs/images (0: all); keeps validation sets short on CPUs.
        scale_range: clean, training: patches are resized by a factor drawn log-uniformly from
            [low, high] ([1, 1]: the photo's own scale).
        color_jitter: clean, training: brightness/saturation/channel-gain jitter strength.
        channel_shuffle: clean, training: put the clean patch's RGB channels in a random order,
            so the network cannot tie a colour cast to what a photo shows.
    """

    kind: Literal["clean", "paired", "dead_leaves"] = "clean"
    dir: str = "."
    classes: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    input_dir: str = ""
    target_dir: str = ""
    naming: Literal["same", "reside", "rain100l"] = "same"
    target_suffix: str = ".png"
    ratio: int = 1
    holdout: int = 0
    limit: int = 0
    scale_range: tuple[float, float] = (1.0, 1.0)
    color_jitter: float = 0.0
    channel_shuffle: bool = False


@dataclass
class DataConfig:
    """Where the images come from.

    Attributes:
        task: a degradation task preset of ``dcpt_sdk.degradations`` (its class names and order).
        root: the folder relative source directories resolve against (``--data``). Left empty,
            clean sources read the package's three sample photos: a smoke test only, not training.
        train / val: the sources; an empty ``val`` validates on the clean sources' held-out images.
        val_crop: centre crop of validation images (0: whole images, one per batch).
        num_workers: DataLoader worker processes (results do not depend on it).
    """

    task: str = "synthetic-7d"
    root: str | None = None
    train: list[SourceConfig] = field(default_factory=lambda: [SourceConfig()])
    val: list[SourceConfig] = field(default_factory=list)
    val_crop: int = 128
    num_workers: int = 0


@dataclass
class OptimConfig:
    """Two AdamW optimisers: the restorer's and the classifier's (the paper's NAFNet values)."""

    lr: float = 3e-4
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    classifier_lr: float = 1e-4
    classifier_weight_decay: float = 1e-4


@dataclass
class ScheduleConfig:
    """Learning-rate schedule over ``training.max_steps`` optimiser steps."""

    kind: Literal["cosine", "constant"] = "cosine"
    eta_min: float = 1e-6
    warmup_steps: int = 0


@dataclass
class TrainingConfig:
    """Run length, batch, patches and bookkeeping.

    Attributes:
        batch_size: patches per process and optimiser step (the paper: 8/GPU NAFNet, 4 others).
        grad_accum_steps: micro-batches summed per optimiser step.
        mixed_precision: "no", "fp16" or "bf16"; empty: whatever ``accelerate launch`` was told.
        checkpoint_interval: save the training state and model files every N steps (0: end only).
        keep_checkpoints: how many step checkpoints to keep (0: all).
        log_interval / val_interval: log metrics / validate every N steps (0: val at end only).
        classifier_branch: pre-training only; False drops the classification pass, which leaves
            the plain reconstruction pre-training (for ablations and timing).
    """

    max_steps: int = 1000
    batch_size: int = 8
    grad_accum_steps: int = 1
    patch_size: int = 128
    seed: int = 0
    output_dir: str = "runs/default"
    mixed_precision: MixedPrecision | None = None
    checkpoint_interval: int = 1000
    keep_checkpoints: int = 2
    log_interval: int = 50
    val_interval: int = 1000
    classifier_branch: bool = True


@dataclass
class FinetuneConfig:
    """Fine-tuning only: initial weights, EMA and gradient clipping (the paper's 5D values).

    ``train_classifier``: keep training the pre-trained classifier head (focal loss, its own
    learning rate) on the fine-tuned restorer's DETACHED features, so the shipped classifier
    reads the features the shipped restorer makes; the restorer's training is unchanged. Off, the
    classifier is carried as pre-training left it (the reference's behaviour).

    ``loss``: the restoration loss, "l1" (the paper's) or "psnr" (NAFNet's PSNRLoss, which
    weights each image by its error in dB; see dcpt_sdk.train.losses.psnr_loss)."""

    init: str | None = None
    ema_decay: float = 0.999
    grad_clip: float = 0.01
    train_classifier: bool = False
    loss: Literal["l1", "psnr"] = "l1"


@dataclass
class Config:
    """A whole experiment; each section is one dataclass above."""

    model: ModelConfig = field(default_factory=ModelConfig)
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)

    def validate(self) -> Config:
        """Check values that types alone cannot (positive sizes, known enumerations)."""
        _check_positive(self)
        for i, source in enumerate([*self.data.train, *self.data.val]):
            if source.kind == "paired" and not (source.input_dir and source.target_dir):
                raise ConfigError(
                    f"data source {i} is 'paired' but lacks input_dir/target_dir; "
                    "give both folders (relative to data.root)"
                )
            if source.kind == "paired" and not source.label:
                raise ConfigError(f"data source {i} is 'paired' but has no label (a task class)")
        if not self.data.train:
            raise ConfigError("data.train lists no source; give at least one")
        return self


_POSITIVE = {
    "training.max_steps": 1,
    "training.batch_size": 1,
    "training.grad_accum_steps": 1,
    "training.patch_size": 8,
    "training.log_interval": 1,
    "training.checkpoint_interval": 0,
    "training.keep_checkpoints": 0,
    "training.val_interval": 0,
    "data.val_crop": 0,
    "data.num_workers": 0,
    "schedule.warmup_steps": 0,
}


def _check_positive(cfg: Config) -> None:
    for key, minimum in _POSITIVE.items():
        section, name = key.split(".")
        value = getattr(getattr(cfg, section), name)
        if value < minimum:
            raise ConfigError(f"{key}={value} is out of range; it must be >= {minimum}")
    for i, source in enumerate([*cfg.data.train, *cfg.data.val]):
        if source.ratio < 1 or source.holdout < 0 or source.limit < 0:
            raise ConfigError(f"data source {i}: ratio must be >= 1, holdout and limit >= 0")
    if not 0.0 <= cfg.finetune.ema_decay < 1.0:
        raise ConfigError(f"finetune.ema_decay={cfg.finetune.ema_decay}; it must lie in [0, 1)")


def config_from_dict(data: Mapping[str, Any] | None) -> Config:
    """A validated Config from nested plain data (as YAML gives it)."""
    config: Config = build_dataclass(Config, data or {}, "")
    return config.validate()


def config_to_dict(cfg: Any) -> Any:
    """Plain nested data (tuples become lists) that YAML and JSON can write."""
    return to_plain(cfg)


def load_config(path: str | Path | None, overrides: Sequence[str] = ()) -> Config:
    """Read a YAML config (None: the defaults), apply ``--set`` overrides, convert and validate.

    A file may start from another with ``base: other.yaml`` (relative to the file): sections
    merge key by key, and lists (e.g. ``data.train``) are replaced as a whole. The paper presets
    use it to state only what fine-tuning changes.

    Raises:
        ConfigError: unreadable file, unknown key (the message lists the valid ones), a value of the
            wrong type, or an out-of-range value.
    """
    data = _read_yaml(Path(path)) if path is not None else {}
    # Fill in defaults first so overrides can address list items the file did not spell out.
    data = config_to_dict(merge(config_to_dict(Config()), data))
    return config_from_dict(apply_overrides(data, overrides))


_MAX_BASE_DEPTH = 8


def _read_yaml(file: Path, depth: int = 0) -> dict[str, Any]:
    import yaml

    if depth > _MAX_BASE_DEPTH:
        raise ConfigError(f"config '{file}': 'base' files nest more than {_MAX_BASE_DEPTH} deep")
    if not file.is_file():
        raise ConfigError(f"config file '{file}' does not exist")
    try:
        loaded = yaml.safe_load(file.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file '{file}' is not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file '{file}' must hold a mapping of sections")
    data = config_to_dict(loaded)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"config '{file}': base must be a file name, got {base!r}")
    return merge(_read_yaml(file.parent / base, depth + 1), data)
