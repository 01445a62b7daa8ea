"""DCPT pre-training: teach a restorer's features to say which degradation an image suffers from.

Each step, as the reference implementation does it:
  1. the restorer on the CLEAN patch, L1 against that patch (it learns to keep clean content);
  2. the restorer's decoder features (``forward_features``) of the DEGRADED patch into the
     classifier, focal loss (gamma 2) against the degradation class;
  3. one backward of L1 + focal; the features are not detached, so classification trains the
     restorer too. Two AdamW optimisers (restorer and classifier), cosine schedules.

Writes ``restorer.safetensors`` (the restorer carrying its classifier and the class names, ready
for ``dcpt_sdk.load_model``, ``Restorer.classify`` and ``finetune.py --init``),
``classifier.safetensors``, ``metrics.jsonl`` and ``checkpoints/step-N`` training states.

Usage:
    accelerate launch train/pretrain.py --config train/configs/nafnet-tiny-synthetic.yaml \\
        --data ~/photos --output-dir runs/pretrain
    python train/pretrain.py --config train/configs/ci-tiny.yaml --max-steps 4   # also works
    accelerate launch train/pretrain.py ... --resume          # continue from the latest state
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from dcpt_sdk.archs.base import RestorationNetwork
from dcpt_sdk.checkpoint import save_model
from dcpt_sdk.spec import ClassifierSpec, spec_of
from dcpt_sdk.train.command_line import run_main
from dcpt_sdk.train.config import Config, config_to_dict
from dcpt_sdk.train.factory import build_classifier, build_restorer, task_of
from dcpt_sdk.train.loop import TrainingRun, build_loaders, cosine_schedule, start_run
from dcpt_sdk.train.losses import focal_loss, l1_loss
from dcpt_sdk.train.validation import validate_classifier

__all__ = ["DCPTPretrainer", "main"]


class DCPTPretrainer(nn.Module):
    """Both passes of a DCPT step in ONE forward, so data-parallel wrappers see every parameter
    used once per step: ``(restorer(clean), classifier logits of the degraded features)``.

    The restorer carries the classifier (``attach_classifier``); without one (the ablation
    ``training.classifier_branch=false``) the logits are None.
    """

    def __init__(self, restorer: RestorationNetwork) -> None:
        super().__init__()
        self.restorer = restorer

    def forward(
        self, clean: torch.Tensor, degraded: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        restored = self.restorer(clean)
        if self.restorer.classifier is None:
            return restored, None
        return restored, self.restorer.classify_logits(degraded)


def build_optimizers(cfg: Config, restorer: RestorationNetwork) -> list[torch.optim.Optimizer]:
    """AdamW for the restorer and, when attached, another for the classifier (own lr and wd)."""
    classifier = list(restorer.classifier.parameters()) if restorer.classifier is not None else []
    own = {id(p) for p in classifier}
    body = [p for p in restorer.parameters() if id(p) not in own]
    optim = cfg.optim
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.AdamW(body, lr=optim.lr, weight_decay=optim.weight_decay, betas=optim.betas)
    ]
    if classifier:
        optimizers.append(
            torch.optim.AdamW(
                classifier,
                lr=optim.classifier_lr,
                weight_decay=optim.classifier_weight_decay,
                betas=optim.betas,
            )
        )
    return optimizers


def model_writer(
    cfg: Config, restorer: RestorationNetwork, run: TrainingRun
) -> Callable[[Path], None]:
    """Writes restorer.safetensors (classifier attached, class names in its spec) and
    classifier.safetensors into a folder."""
    classes = task_of(cfg).classes

    def write(folder: Path) -> None:
        provenance = {
            "training": "dcpt-pretrain",
            "task": cfg.data.task,
            "step": run.progress.step,
            "config": config_to_dict(cfg),
        }
        spec = spec_of(restorer).replace(provenance=provenance)
        classifier = restorer.classifier
        if classifier is not None:
            cls_spec = spec_of(classifier)
            spec = spec.replace(
                degradation_classes=classes,
                classifier=ClassifierSpec(cls_spec.arch, cls_spec.hparams),
            )
            save_model(
                classifier,
                folder / "classifier.safetensors",
                cls_spec.replace(degradation_classes=classes, provenance=provenance),
            )
        save_model(restorer, folder / "restorer.safetensors", spec)

    return write


def main(argv: Sequence[str] | None = None) -> None:
    args, cfg, accelerator = start_run(__doc__ or "", argv, finetune=False)
    task = task_of(cfg)
    restorer = build_restorer(cfg)
    if cfg.training.classifier_branch:
        restorer.attach_classifier(build_classifier(cfg, restorer, task.num_classes))
    net = DCPTPretrainer(restorer)
    optimizers = build_optimizers(cfg, restorer)
    schedulers = [cosine_schedule(o, cfg.schedule, cfg.training.max_steps) for o in optimizers]
    train_loader, val_loader = build_loaders(cfg)
    if restorer.classifier is None:
        val_loader = None  # validation scores the classifier, which the ablation lacks

    net, train_loader, *rest = accelerator.prepare(net, train_loader, *optimizers, *schedulers)
    optimizers, schedulers = rest[: len(optimizers)], rest[len(optimizers) :]
    if val_loader is not None:
        val_loader = accelerator.prepare(val_loader)

    run = TrainingRun(accelerator, cfg, "pretrain")
    run.resume(args.resume)
    write_models = model_writer(cfg, restorer, run)
    multiple = spec_of(restorer).pad_multiple
    training = cfg.training
    for step, micro_batches in run.steps(train_loader):
        for i, batch in enumerate(micro_batches):
            with run.sync(net, last=i == len(micro_batches) - 1):
                restored, logits = net(batch["gt"], batch["lq"])
                l1 = l1_loss(restored, batch["gt"])
                focal = focal_loss(logits, batch["label"]) if logits is not None else l1 * 0
                accelerator.backward((l1 + focal) / len(micro_batches))
        for optimizer, scheduler in zip(optimizers, schedulers, strict=True):
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

        if run.due(step, training.log_interval):
            metrics = {"loss/l1": run.mean(l1), "lr": schedulers[0].get_last_lr()[0]}
            if logits is not None:
                metrics["loss/focal"] = run.mean(focal)
                metrics["train/acc"] = run.mean((logits.argmax(1) == batch["label"]).float().mean())
            metrics["sec_per_step"] = run.timing()
            run.log(step, metrics)
        last = step == training.max_steps
        if val_loader is not None and (run.due(step, training.val_interval) or last):
            run.log(
                step, validate_classifier(accelerator, restorer, val_loader, task.classes, multiple)
            )
            run.timing()
        if run.due(step, training.checkpoint_interval) or last:
            run.save(write_models)
            run.timing()

    if run.main:
        write_models(run.out)
        run.message(f"wrote {run.out / 'restorer.safetensors'} and the classifier")
    run.finish()


if __name__ == "__main__":
    run_main(main)
