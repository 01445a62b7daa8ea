"""All-in-one fine-tuning: L1 on (degraded, clean) pairs of the task's classes.

Starts from a DCPT pre-trained restorer (``--init``, loaded strictly: a checkpoint that does not
fit ``model`` stops the run with the offending keys named) or from scratch without ``--init``.
Keeps an EMA of the weights (0.999), clips the gradient norm, follows a cosine schedule, and
validates PSNR/SSIM per class on held-out images with the EMA weights.

Writes ``best.safetensors`` (best mean validation PSNR) and ``last.safetensors``; both carry the
pre-training classifier and its class names, so ``Restorer.classify`` works on them. Also
``metrics.jsonl`` and ``checkpoints/step-N`` training states (``--resume``).

Usage:
    accelerate launch train/finetune.py --config train/configs/nafnet-tiny-synthetic.yaml \\
        --data ~/photos --init runs/pretrain/restorer.safetensors --output-dir runs/finetune
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.checkpoint import describe_mismatch, load_model, save_model
from dcpt_sdk.errors import ModelLoadError
from dcpt_sdk.spec import ModelSpec, spec_of
from dcpt_sdk.train.command_line import run_main
from dcpt_sdk.train.config import Config, ConfigError, config_to_dict
from dcpt_sdk.train.ema import ModelEMA
from dcpt_sdk.train.factory import build_restorer, task_of
from dcpt_sdk.train.loop import TrainingRun, build_loaders, cosine_schedule, start_run
from dcpt_sdk.train.losses import RESTORATION_LOSSES, focal_loss
from dcpt_sdk.train.validation import validate_classifier, validate_restorer

__all__ = ["FinetuneStep", "load_init", "main"]


class FinetuneStep(nn.Module):
    """One fine-tuning forward: ``(restored, logits or None)``.

    With a classifier (``finetune.train_classifier``) the logits come from the same pass's
    features, DETACHED: the focal loss trains the head only, the restorer learns from its restoration loss alone.
    One module, so data-parallel wrappers see every parameter used once per step.
    """

    def __init__(self, restorer: RestorationNetwork, classifier: nn.Module | None) -> None:
        super().__init__()
        self.restorer = restorer
        self.classifier = classifier

    def forward(self, lq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.classifier is None:
            return self.restorer(lq), None
        restored, features = self.restorer.forward_with_features(lq)
        return restored, self.classifier([f.detach() for f in features])


def load_init(path: str, restorer: RestorationNetwork) -> tuple[nn.Module | None, ModelSpec]:
    """Copy a pre-trained checkpoint into ``restorer``; returns its classifier and spec.

    Raises:
        ModelLoadError: another architecture, or keys/shapes that differ (named in the message).
    """
    pre = load_model(path)
    spec, own = spec_of(pre), spec_of(restorer)
    if not isinstance(pre, RestorationNetwork):
        raise ModelLoadError(f"--init '{path}' holds a {spec.arch}, not a restorer")
    if spec.arch != own.arch:
        raise ModelLoadError(
            f"--init '{path}' holds a {spec.arch} {dict(spec.hparams)}, but the config's model is "
            f"a {own.arch} {dict(own.hparams)}; set model.name/model.hparams to match it"
        )
    classifier = pre.classifier
    pre.attach_classifier(None)
    problem = describe_mismatch(restorer.state_dict(), pre.state_dict())
    if problem:
        raise ModelLoadError(
            f"--init '{path}' does not fit model {own.arch} {dict(own.hparams)} ({problem}); "
            "set model.hparams to the pre-trained ones"
        )
    restorer.load_state_dict(pre.state_dict(), strict=True)
    return classifier, spec


def model_writer(
    cfg: Config,
    run: TrainingRun,
    classifier: nn.Module | None,
    init_spec: ModelSpec | None,
) -> Callable[[RestorationNetwork, Path], None]:
    """Saves a restorer (the EMA copy) with the pre-training classifier attached."""

    def write(model: RestorationNetwork, file: Path) -> None:
        own = spec_of(model)
        provenance = {
            "training": "finetune",
            "task": cfg.data.task,
            "step": run.progress.step,
            "init": Path(cfg.finetune.init).name if cfg.finetune.init else None,
            "init_sha256": init_spec.provenance.get("checkpoint_sha256") if init_spec else None,
            "config": config_to_dict(cfg),
        }
        spec = own.replace(provenance=provenance)
        if classifier is not None and init_spec is not None:
            spec = spec.replace(
                degradation_classes=init_spec.degradation_classes, classifier=init_spec.classifier
            )
        model.attach_classifier(classifier)
        try:
            save_model(model, file, spec)
        finally:
            model.attach_classifier(None)

    return write


def main(argv: Sequence[str] | None = None) -> None:
    args, cfg, accelerator = start_run(__doc__ or "", argv, finetune=True)
    task = task_of(cfg)
    restorer = build_restorer(cfg)
    classifier, init_spec = None, None
    if cfg.finetune.init:
        classifier, init_spec = load_init(cfg.finetune.init, restorer)
    optim = cfg.optim
    trained_head = classifier if cfg.finetune.train_classifier else None
    if cfg.finetune.train_classifier and trained_head is None:
        raise ConfigError(
            "finetune.train_classifier needs a classifier: --init a DCPT pre-trained checkpoint"
        )
    groups: list[dict[str, Any]] = [
        {"params": list(restorer.parameters()), "weight_decay": optim.weight_decay, "lr": optim.lr}
    ]
    if trained_head is not None:
        trained_head.train()
        groups.append(
            {
                "params": list(trained_head.parameters()),
                "weight_decay": optim.classifier_weight_decay,
                "lr": optim.classifier_lr,
            }
        )
    optimizer = torch.optim.AdamW(groups, lr=optim.lr, betas=optim.betas)
    scheduler = cosine_schedule(optimizer, cfg.schedule, cfg.training.max_steps)
    train_loader, val_loader = build_loaders(cfg)

    model, optimizer, scheduler, train_loader = accelerator.prepare(
        FinetuneStep(restorer, trained_head), optimizer, scheduler, train_loader
    )
    if val_loader is not None:
        val_loader = accelerator.prepare(val_loader)

    run = TrainingRun(accelerator, cfg, "finetune")
    # EMA after prepare, so its copy lives on the training device.
    ema = ModelEMA(restorer, cfg.finetune.ema_decay) if cfg.finetune.ema_decay > 0 else None
    if ema is not None:
        accelerator.register_for_checkpointing(ema)
    run.resume(args.resume)
    write = model_writer(cfg, run, classifier, init_spec)
    shipped = ema.module if ema is not None else restorer
    multiple = spec_of(restorer).pad_multiple
    training = cfg.training
    restoration_loss = RESTORATION_LOSSES[cfg.finetune.loss]
    for step, micro_batches in run.steps(train_loader):
        for i, batch in enumerate(micro_batches):
            with run.sync(model, last=i == len(micro_batches) - 1):
                restored, logits = model(batch["lq"])
                loss = restoration_loss(restored, batch["gt"])
                focal = focal_loss(logits, batch["label"]) if logits is not None else loss * 0
                accelerator.backward((loss + focal) / len(micro_batches))
        grad_norm = torch.zeros(())
        if cfg.finetune.grad_clip > 0:  # the restorer's gradients; the head's are its own
            grad_norm = accelerator.clip_grad_norm_(restorer.parameters(), cfg.finetune.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if ema is not None:
            ema.update(restorer)

        if run.due(step, training.log_interval):
            run.log(
                step,
                {
                    f"loss/{cfg.finetune.loss}": run.mean(loss),
                    **({"loss/focal": run.mean(focal)} if trained_head is not None else {}),
                    "grad_norm": float(grad_norm),
                    "lr": scheduler.get_last_lr()[0],
                    "sec_per_step": run.timing(),
                },
            )
        last = step == training.max_steps
        if val_loader is not None and (run.due(step, training.val_interval) or last):
            metrics = validate_restorer(accelerator, shipped, val_loader, task.classes, multiple)
            if trained_head is not None:
                shipped.attach_classifier(trained_head)
                try:
                    metrics.update(
                        validate_classifier(
                            accelerator, shipped, val_loader, task.classes, multiple
                        )
                    )
                finally:
                    shipped.attach_classifier(None)
                trained_head.train()
            run.log(step, metrics)
            score = metrics.get("val/psnr/mean")
            if score is not None and (run.progress.best is None or score > run.progress.best):
                run.progress.best, run.progress.best_step = score, step
                if run.main:
                    write(shipped, run.out / "best.safetensors")
            run.timing()
        if run.due(step, training.checkpoint_interval) or last:
            run.save(lambda folder: write(shipped, folder / "restorer.safetensors"))
            run.timing()

    if run.main:
        write(shipped, run.out / "last.safetensors")
        if val_loader is None:
            write(shipped, run.out / "best.safetensors")  # nothing to choose by: the last
        best = run.progress.best
        run.message(
            f"wrote {run.out / 'last.safetensors'}; best.safetensors: "
            + (f"val PSNR {best:.2f} dB at step {run.progress.best_step}" if best else "= last")
        )
    run.finish()


if __name__ == "__main__":
    run_main(main)
