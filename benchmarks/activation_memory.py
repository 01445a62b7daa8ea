"""Peak activation memory of one forward pass, per input pixel and per base channel.

Usage: python benchmarks/activation_memory.py   (each model runs in its own process)

Restorer's memory model (each architecture's memory_factor in dcpt_sdk/archs, read by dcpt_sdk.restorer) is set from these
figures: ru_maxrss growth during one 512x512 inference-mode forward, divided by 512*512 and by
the base width (NAFNet ``width``, Restormer/PromptIR ``dim``). Random weights, 2 threads.
"""

from __future__ import annotations

import subprocess
import sys

CASES = [
    ("nafnet", "width", 16),
    ("nafnet", "width", 32),
    ("restormer", "dim", 16),
    ("restormer", "dim", 24),
    ("restormer-dcpt", "dim", 16),
    ("promptir", "dim", 16),
]

_CHILD = """
import resource, sys, torch
from dcpt_sdk import create_model
name, key, width = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.set_num_threads(2)
model = create_model(name, **{key: width})
with torch.no_grad():
    for param in model.parameters():
        param.normal_(0, 0.02)
with torch.inference_mode():
    model(torch.rand(1, 3, 64, 64))  # warm the allocator and kernels outside the measurement
    x = torch.rand(1, 3, 512, 512)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    model(x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(f"{(peak - before) / (512 * 512) / width:.1f}")
"""


def main() -> None:
    print("| arch | base width | bytes / pixel / channel |\n|---|---|---|")
    for name, key, width in CASES:
        result = subprocess.run(
            [sys.executable, "-c", _CHILD, name, key, str(width)],
            capture_output=True,
            text=True,
            check=True,
        )
        print(f"| {name} | {width} | {result.stdout.strip()} |", flush=True)


if __name__ == "__main__":
    main()
