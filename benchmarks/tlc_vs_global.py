"""Whole-image quality against the clean image: global vs local ("TLC") pooling, same weights.

Usage: python benchmarks/tlc_vs_global.py  (expects the DCPT-vs-scratch model under runs/)
"""
import numpy as np, sys
sys.path.insert(0, "benchmarks")
from tiling_quality import natural_1024x768, psnr
from dcpt_sdk import Restorer, degrade, load_model
clean = natural_1024x768()
for name in ["noise", "rain", "haze", "low_light"]:
    img = degrade(clean, name, seed=0)
    res = {}
    for mode in ("global", "local"):
        m = load_model("runs/dcpt_vs_scratch/a_finetune/best.safetensors")
        if mode == "local": m.set_local_pooling(64)
        res[mode] = psnr(Restorer(m, device="cpu", tile=None, memory_budget_mb=8192).run(img), clean)
    print(name, f"input {psnr(img, clean):.2f}", {k: round(v, 2) for k, v in res.items()}, flush=True)
