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

import dataclasses
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from dcpt_sdk.errors import UnsupportedOptionError

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


class ConfigError(UnsupportedOptionError):
    """A configuration file or override that does not fit the schema."""


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
        kind: "clean" (degrade clean photos on the fly) or "paired" (input/target folders).
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

    kind: Literal["clean", "paired"] = "clean"
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


# --- typed conversion ------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` as type ``tp`` (dataclasses, lists, tuples, dicts, Literals, Optionals, scalars)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _convert_union(value, get_args(tp), where)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{where}={value!r} is not valid; use {_type_name(tp)}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return _build(tp, value, where)
    if origin in (list, tuple):
        return _convert_sequence(value, tp, where)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    return _convert_scalar(value, tp, where)


def _convert_union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(value, option, where)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(errors[0] if len(errors) == 1 else f"{where}={value!r}: " + "; ".join(errors))


def _convert_sequence(value: Any, tp: Any, where: str) -> Any:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigError(f"{where} must be a list, got {value!r}")
    args = get_args(tp)
    if get_origin(tp) is tuple:
        if len(args) != len(value):
            raise ConfigError(f"{where} must have {len(args)} values, got {list(value)!r}")
        return tuple(
            _convert(v, a, f"{where}.{i}") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    item = args[0] if args else Any
    return [_convert(v, item, f"{where}.{i}") for i, v in enumerate(value)]


def _convert_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{where}={value!r} is not valid; expected {_type_name(tp)}")


def _build(cls: type, data: Any, where: str) -> Any:
    """A dataclass instance from a mapping, rejecting unknown keys with the list of valid ones."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'the config'} must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(map(str, data)) - set(names))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {', '.join(prefix + k for k in unknown)}; "
            f"valid keys{' of ' + where if where else ''}: {', '.join(names)}"
        )
    kwargs = {
        name: _convert(data[name], hints[name], f"{where}.{name}" if where else name)
        for name in names
        if name in data
    }
    return cls(**kwargs)


def config_from_dict(data: Mapping[str, Any] | None) -> Config:
    """A validated Config from nested plain data (as YAML gives it)."""
    return _build(Config, data or {}, "").validate()


def config_to_dict(cfg: Any) -> Any:
    """Plain nested data (tuples become lists) that YAML and JSON can write."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, list | tuple):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, Mapping):
        return {str(k): config_to_dict(v) for k, v in cfg.items()}
    return cfg


# --- overrides -------------------------------------------------------------------------------


def _parse_value(text: str) -> Any:
    """An override's value read as YAML, so ``8``, ``3e-4``, ``true``, ``[1, 2]`` and ``null``
    mean what they mean in a config file; the field's type then decides."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _set_path(tree: Any, keys: list[str], value: Any, full: str) -> None:
    node = tree
    for depth, key in enumerate(keys[:-1]):
        node = _child(node, key, ".".join(keys[: depth + 1]), full)
    last = keys[-1]
    if isinstance(node, list):
        node[_index(node, last, full)] = value
    else:
        node[last] = value


def _child(node: Any, key: str, where: str, full: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, key, full)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {full}: '{where}' is a value, not a section")
    if key not in node or node[key] is None:
        node[key] = {}
    return node[key]


def _index(node: list[Any], key: str, full: str) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise ConfigError(f"--set {full}: '{key}' is not an index of a list of {len(node)} items")
    return int(key)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``key.sub=value`` strings applied to nested plain data (list items by index: data.train.0.ratio)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not key=value (e.g. --set training.max_steps=100)"
            )
        _set_path(data, key.strip().split("."), _parse_value(text), item)
    return data


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
    data = config_to_dict(_merge(config_to_dict(Config()), data))
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
    return _merge(_read_yaml(file.parent / base, depth + 1), data)


def _merge(base: Any, update: Any) -> Any:
    """Deep merge of nested dicts; lists and scalars in ``update`` replace the base's."""
    if isinstance(base, dict) and isinstance(update, dict):
        merged = dict(base)
        for key, value in update.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return update
