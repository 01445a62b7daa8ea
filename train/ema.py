"""Exponential moving average of a network's weights, checkpointed with the training state.

Fine-tuning evaluates and ships the EMA weights (BasicSR's "params_ema"), which are smoother than
the last step's. The EMA copy lives on every process (weights are identical after each DDP step),
so no communication is needed, and Accelerate saves it through ``register_for_checkpointing``.
"""

from __future__ import annotations

import copy
from typing import Any, Generic, TypeVar

import torch
from torch import nn

__all__ = ["ModelEMA"]

M = TypeVar("M", bound=nn.Module)


class ModelEMA(Generic[M]):
    """``ema = decay * ema + (1 - decay) * weights`` after every optimiser step.

    The first steps use ``min(decay, (1 + n) / (10 + n))`` so the average is not dominated by the
    random initial weights when runs are short. Buffers are copied, not averaged.

    Args:
        model: the (unwrapped) network whose weights are averaged; a frozen copy is kept.
        decay: the paper's 0.999 by default.
    """

    def __init__(self, model: M, decay: float = 0.999) -> None:
        self.module: M = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        current = model.state_dict()
        for name, value in self.module.state_dict().items():
            source = current[name].detach()
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(source.to(value.dtype), alpha=1.0 - decay)
            else:
                value.copy_(source)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates, "decay": self.decay}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])
        self.decay = float(state["decay"])
