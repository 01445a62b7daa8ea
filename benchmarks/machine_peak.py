"""The matmul that stands for this machine's peak in the speed benchmarks (backend_speed,
auto_vs_torch): one 2048x2048 torch matmul, 2 * 2048^3 FLOPs, in fp32 or bf16."""

from __future__ import annotations

import torch

SIDE = 2048
FLOPS = 2 * SIDE**3
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


def operands(precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random SIDE x SIDE matrices in ``precision`` ("fp32" or "bf16")."""
    dtype = _DTYPES[precision]
    return torch.rand(SIDE, SIDE).to(dtype), torch.rand(SIDE, SIDE).to(dtype)


def gflop_per_s(seconds: float) -> float:
    """The throughput of one matmul that took ``seconds``."""
    return FLOPS / seconds / 1e9
