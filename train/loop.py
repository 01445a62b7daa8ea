"""The machinery both training scripts share, so each script reads as Accelerate's example does.

What lives here (the command line is dcpt_sdk.train.command_line): the Accelerator (mixed
precision, optional TensorBoard), data loaders whose batches depend only on (seed, epoch, index),
an endless step stream that resumes mid-epoch with ``skip_first_batches``, cosine schedules,
logging (a progress bar and log lines on the main process, JSONL always), and checkpoints
(``save_state`` plus model files every N steps, ``load_state`` on ``--resume``).

Nothing here knows about devices or processes: Accelerate decides, from ``accelerate launch``
flags or its defaults, so the same code runs on a 2-core CPU, one GPU or several nodes.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import DataLoader, Dataset, Sampler, SequentialSampler

from dcpt_sdk._optional import require
from dcpt_sdk.errors import DcptError
from dcpt_sdk.train.config import Config, ScheduleConfig, config_to_dict
from dcpt_sdk.train.data import DataError, EpochSampler

__all__ = [
    "RunCounters",
    "TrainingRun",
    "build_loader",
    "build_loaders",
    "cosine_schedule",
    "make_accelerator",
    "start_run",
]

from dcpt_sdk.train.command_line import CHECKPOINTS, METRICS_FILE, config_from_args, parse_args
from dcpt_sdk.train.factory import build_train_set, build_val_set

# --- accelerator, data, schedules ------------------------------------------------------------


def start_run(
    description: str, argv: Sequence[str] | None, *, finetune: bool
) -> tuple[argparse.Namespace, Config, Any]:
    """How both scripts begin, in Accelerate's order: the flags and the config they build, the
    Accelerator, then ``set_seed`` before anything random (weights, data) is built."""
    args = parse_args(description, argv, finetune=finetune)
    cfg = config_from_args(args)
    accelerator = make_accelerator(cfg)
    from accelerate.utils import set_seed

    set_seed(cfg.training.seed)
    return args, cfg, accelerator


def make_accelerator(cfg: Config) -> Any:
    """An Accelerator; TensorBoard tracking only when the package is importable.

    The scheduler steps once per optimiser step (``step_scheduler_with_optimizer=False``):
    Accelerate would otherwise step it once per process, ending a cosine early on 2+ processes.
    """
    accelerate = require("accelerate", "training")
    from accelerate.utils import ProjectConfiguration, is_tensorboard_available

    out = Path(cfg.training.output_dir)
    return accelerate.Accelerator(
        cpu=_cpu_only_launch(),
        mixed_precision=cfg.training.mixed_precision,
        log_with="tensorboard" if is_tensorboard_available() else None,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "tb")),
        step_scheduler_with_optimizer=False,
    )


def _cpu_only_launch() -> bool:
    """True for a multi-process launch on a machine without an accelerator device.

    ``accelerate launch --multi_gpu --num_processes 2`` on a CPU-only machine starts two processes
    but sets ACCELERATE_USE_CPU=False, and Accelerate (1.15) only picks MULTI_CPU (gloo) when told
    ``cpu=True``; otherwise each process silently trains alone (DistributedType.NO) and every
    line is logged twice. With a GPU present nothing changes.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    device_api = getattr(torch, "accelerator", None)
    has_device = device_api.is_available() if device_api is not None else torch.cuda.is_available()
    return not has_device


def build_loader(
    dataset: Dataset, cfg: Config, *, train: bool, batch_size: int | None = None
) -> DataLoader:
    """Training: (epoch, index) keys, shuffled per epoch, last partial batch dropped.
    Evaluation: plain indices in order, so every validation pass draws the same degradations
    (Accelerate advances a prepared loader's epoch on each pass; evaluation must not follow)."""
    size = len(dataset)  # type: ignore[arg-type]
    sampler: Sampler[Any] = (
        EpochSampler(size, seed=cfg.training.seed) if train else SequentialSampler(range(size))
    )
    return DataLoader(
        dataset,
        batch_size=batch_size or cfg.training.batch_size,
        sampler=sampler,
        drop_last=train,
        num_workers=cfg.data.num_workers,
        persistent_workers=cfg.data.num_workers > 0,
        pin_memory=torch.cuda.is_available(),
    )


def build_loaders(cfg: Config) -> tuple[DataLoader, DataLoader | None]:
    """The training loader and the validation loader (None when the config has no validation
    images), neither prepared yet. Validation batches are the training batch size on fixed
    crops, one image at a time on whole images (their sizes differ)."""
    train_loader = build_loader(build_train_set(cfg), cfg, train=True)
    val_set = build_val_set(cfg)
    if val_set is None:
        return train_loader, None
    val_batch = cfg.training.batch_size if cfg.data.val_crop else 1
    return train_loader, build_loader(val_set, cfg, train=False, batch_size=val_batch)


def cosine_schedule(optimizer: Optimizer, schedule: ScheduleConfig, total_steps: int) -> LambdaLR:
    """Linear warm-up, then cosine from each group's lr down to ``eta_min`` at ``total_steps``."""
    factors: list[Callable[[int], float]] = [
        functools.partial(_lr_factor, base=group["lr"], schedule=schedule, total_steps=total_steps)
        for group in optimizer.param_groups
    ]
    return LambdaLR(optimizer, factors)


def _lr_factor(step: int, *, base: float, schedule: ScheduleConfig, total_steps: int) -> float:
    """The multiple of ``base`` at ``step`` (LambdaLR's convention)."""
    if step < schedule.warmup_steps:
        return (step + 1) / schedule.warmup_steps
    if schedule.kind == "constant" or base <= 0:
        return 1.0
    span = max(1, total_steps - schedule.warmup_steps)
    progress = min(1.0, (step - schedule.warmup_steps) / span)
    floor = min(1.0, schedule.eta_min / base)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


# --- the run ---------------------------------------------------------------------------------


class RunCounters:
    """The run's step and best score, saved with the training state (register_for_checkpointing).

    (Not dcpt_sdk.cli.common.Progress, the progress line of dcpt-restore.)
    """

    def __init__(self) -> None:
        self.step = 0
        self.best: float | None = None
        self.best_step = 0

    def state_dict(self) -> dict[str, Any]:
        return {"step": self.step, "best": self.best, "best_step": self.best_step}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.best = None if state["best"] is None else float(state["best"])
        self.best_step = int(state["best_step"])


class TrainingRun:
    """Logging, step stream and checkpoints of one run (see the module docstring).

    Args:
        accelerator: the run's Accelerator (after ``prepare``).
        cfg: the validated config; ``training.output_dir`` receives everything.
        kind: "pretrain" or "finetune"; names the tracker project and the log lines.
    """

    def __init__(self, accelerator: Any, cfg: Config, kind: str) -> None:
        self.accelerator = accelerator
        self.cfg = cfg
        self.kind = kind
        self.out = Path(cfg.training.output_dir)
        self.progress = RunCounters()
        self.main = accelerator.is_main_process
        accelerator.register_for_checkpointing(self.progress)
        self._bar: Any = None
        self._window_start = time.perf_counter()
        self._window_steps = 0
        if self.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.yaml").write_text(_yaml(config_to_dict(cfg)))
        if accelerator.log_with:
            accelerator.init_trackers(kind, config=_flat(config_to_dict(cfg)))

    # messages and metrics

    def message(self, text: str) -> None:
        """A log line, printed once (main process), without breaking the progress bar."""
        if self.main:
            from tqdm.auto import tqdm

            tqdm.write(f"[{self.kind}] {text}")

    def log(self, step: int, metrics: dict[str, float], *, echo: bool = True) -> None:
        """Metrics to metrics.jsonl (main process) and to the trackers; a log line if ``echo``."""
        clean = {k: float(v) for k, v in metrics.items()}
        if self.main:
            with (self.out / METRICS_FILE).open("a") as handle:
                handle.write(json.dumps({"step": step, **clean}) + "\n")
            if echo:
                shown = " ".join(f"{k}={_fmt(v)}" for k, v in clean.items())
                self.message(f"step {step}/{self.cfg.training.max_steps} {shown}")
        if self.accelerator.log_with:
            self.accelerator.log(clean, step=step)

    def mean(self, value: torch.Tensor | float) -> float:
        """The mean of a scalar over processes (every process must call it)."""
        tensor = torch.as_tensor(value, dtype=torch.float32, device=self.accelerator.device)
        return float(self.accelerator.reduce(tensor.detach().reshape(1), reduction="mean"))

    def timing(self) -> float:
        """Seconds per step since the last call (the log window)."""
        now = time.perf_counter()
        seconds = (now - self._window_start) / max(1, self._window_steps)
        self._window_start, self._window_steps = now, 0
        return seconds

    def due(self, step: int, interval: int) -> bool:
        """Whether ``step`` is a multiple of ``interval`` (never for interval 0)."""
        return interval > 0 and step % interval == 0

    # the step stream

    def steps(self, loader: DataLoader) -> Iterator[tuple[int, list[dict[str, torch.Tensor]]]]:
        """(step, micro-batches) from ``progress.step + 1`` to ``max_steps``, across epochs.

        Micro-batch m of the run is batch ``m % len(loader)`` of epoch ``m // len(loader)``, so a
        resumed run skips exactly the batches already consumed and continues bit for bit.
        """
        accum = self.cfg.training.grad_accum_steps
        per_epoch = len(loader)
        if per_epoch == 0:
            raise DataError(
                f"the training set ({len(loader.dataset)} samples) is smaller than one batch of "  # type: ignore[arg-type]
                f"{self.cfg.training.batch_size} x {self.accelerator.num_processes} processes; "
                "raise data.train[*].ratio or lower training.batch_size"
            )
        stream = self._micro_batches(loader, self.progress.step * accum, per_epoch)
        self._open_bar()
        while self.progress.step < self.cfg.training.max_steps:
            micro = [next(stream) for _ in range(accum)]
            self.progress.step += 1
            self._window_steps += 1
            yield self.progress.step, micro
            if self._bar is not None:
                self._bar.update(1)
        self._close_bar()

    def _micro_batches(self, loader: DataLoader, start: int, per_epoch: int) -> Iterator[Any]:
        epoch, skip = divmod(start, per_epoch)
        while True:
            current: Any = self.accelerator.skip_first_batches(loader, skip) if skip else loader
            current.set_epoch(epoch)
            yield from current
            epoch, skip = epoch + 1, 0

    def sync(self, model: torch.nn.Module, last: bool) -> contextlib.AbstractContextManager:
        """No gradient all-reduce except on the last micro-batch of a step."""
        return contextlib.nullcontext() if last else self.accelerator.no_sync(model)

    def _open_bar(self) -> None:
        if self.main:
            from tqdm.auto import tqdm

            self._bar = tqdm(
                total=self.cfg.training.max_steps,
                initial=self.progress.step,
                desc=self.kind,
                dynamic_ncols=True,
            )
            self._window_start = time.perf_counter()

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    # checkpoints

    def save(self, write_models: Callable[[Path], None]) -> Path:
        """The full training state plus model files in checkpoints/step-N; old ones pruned."""
        folder = self.out / CHECKPOINTS / f"step-{self.progress.step:08d}"
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(str(folder))
        if self.main:
            write_models(folder)
            self._prune()
        self.accelerator.wait_for_everyone()
        self.message(f"saved {folder}")
        return folder

    def _prune(self) -> None:
        keep = self.cfg.training.keep_checkpoints
        if keep <= 0:
            return
        for old in sorted((self.out / CHECKPOINTS).glob("step-*"))[:-keep]:
            shutil.rmtree(old, ignore_errors=True)

    def resume(self, where: str | None) -> int:
        """Load a saved state (``--resume``); returns the step it continues after (0: fresh)."""
        if where is None:
            return 0
        folder = self._checkpoint_folder(where)
        self.accelerator.load_state(str(folder))
        if self.main:
            _truncate_metrics(self.out / METRICS_FILE, self.progress.step)
        self.message(f"resumed from {folder} at step {self.progress.step}")
        return self.progress.step

    def _checkpoint_folder(self, where: str) -> Path:
        base = self.out if where == "latest" else Path(where)
        if (base / CHECKPOINTS).is_dir():
            base = base / CHECKPOINTS
        if base.name == CHECKPOINTS or where == "latest":
            found = sorted(base.glob("step-*")) if base.is_dir() else []
            if not found:
                raise DcptError(
                    f"--resume: no saved state under '{base}' (expected step-N folders)"
                )
            return found[-1]
        if not base.is_dir():
            raise DcptError(f"--resume: '{base}' is not a checkpoint folder")
        return base

    def finish(self) -> None:
        self._close_bar()
        self.accelerator.wait_for_everyone()
        self.accelerator.end_training()


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop records past the resumed step (written before an interruption), so the file reads
    as one run."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept))


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def _yaml(data: Any) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False)


def _flat(data: Any, prefix: str = "") -> dict[str, Any]:
    """Nested config as flat scalar hparams (what TensorBoard's hparams accept)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
    elif isinstance(data, list):
        out[prefix[:-1]] = json.dumps(data)
    elif data is None or isinstance(data, int | float | str | bool):
        out[prefix[:-1]] = "" if data is None else data
    return out
