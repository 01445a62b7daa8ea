"""The matmul that stands for this machine's peak in the speed benchmarks (backend_speed,
auto_vs_torch): one 2048x2048 torch matmul, 2 * 2048^3 FLOPs, in fp32 or bf16."""

from __future__ import annotations

import time

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


def best_gflop_per_s(precision: str, samples: int = 5) -> float:
    """The best throughput of ``samples`` matmuls after one warm-up: on a shared VM contention
    only slows a call down, so the fastest one is what the machine can do."""
    a, b = operands(precision)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(samples):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return gflop_per_s(best)
