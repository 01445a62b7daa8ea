"""dcpt-restore on one machine, plain and with --engine ray: images/s, outputs bit for bit.

    python benchmarks/ray_restore.py                                  # 64 images -> results/
    python benchmarks/ray_restore.py --images 4 --results /tmp/rb     # a smoke run

Writes ``--images`` 512x512 crops of the package's sample photos (degraded, as a user's photos
would be) as PNG into a temp folder and restores it with the real command (in-process
``dcpt_sdk.cli.restore.main``), on the built-in default model and the same backend in every run
(``--backend``, default torch fp32; not "auto", which measures per process and could choose
differently in actors that run one torch thread each):

1. plain ``dcpt-restore`` (this process's torch threads, decode/encode pipelined);
2. ``--engine ray`` with its default pool on a local Ray instance started with this machine's
   CPUs: one actor per CPU, one torch thread each (``--concurrency`` changes the count);
3. ``--engine ray --concurrency 1 --num-cpus T``: one actor with run 1's T threads.

Each timing is the whole command, model opening included; the Ray runs also include starting
their actors (each imports torch and opens the model), and Ray's own start is timed apart, since
a user pays both. Every output is compared byte for byte with run 1's: run 3 must match all of
them (the script exits 1 otherwise); run 2's count and largest pixel difference are reported.
Results go to ``--results`` (ray_restore.md/.json), written atomically.

Figures are worth something only on a quiet machine: the load average at the start is written
next to them, with a warning when the machine was busy.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcpt_sdk.cli.restore import main as restore
from dcpt_sdk.export.inputs import sample_crops
from dcpt_sdk.imaging import read_image, write_image, write_text_atomic
from dcpt_sdk.user_cache import cpu_name

RESULTS = Path(__file__).parent / "results"
SIDE = 512


def _folder(root: Path, count: int) -> Path:
    folder = root / "in"
    for i, crop in enumerate(sample_crops([(SIDE, SIDE)] * count, seed=11)):
        write_image(folder / f"img{i:03d}.png", (np.clip(crop, 0, 1) * 255 + 0.5).astype(np.uint8))
    return folder


def _timed(args: list[str]) -> tuple[float, str]:
    """Seconds of one whole command, and its stderr; a failed command ends the benchmark."""
    err = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(err):
        status = restore(args)
    seconds = time.perf_counter() - start
    if status != 0:
        sys.exit(f"dcpt-restore {' '.join(args)} failed:\n{err.getvalue()}")
    return seconds, err.getvalue()


def _compare(local: Path, other: Path) -> dict[str, int]:
    """Files identical byte for byte, and the largest pixel difference (grey levels)."""
    names = sorted(p.relative_to(local) for p in local.rglob("*.png"))
    same, worst = 0, 0
    for name in names:
        if (local / name).read_bytes() == (other / name).read_bytes():
            same += 1
        else:
            a, b = (read_image(f / name).pixels.astype(np.int32) for f in (local, other))
            worst = max(worst, int(np.abs(a - b).max()))
    return {"identical_files": same, "files": len(names), "max_difference": worst}


def _ray_run(folder: Path, out: Path, common: list[str], pool: list[str]) -> dict[str, Any]:
    seconds, err = _timed([str(folder), "-o", str(out), *common, "--engine", "ray", *pool])
    actors = next(line for line in err.splitlines() if line.startswith("ray: "))
    threads = next(line for line in err.splitlines() if line.startswith("ray actor: "))
    return {
        "pool": actors.removeprefix("ray: "),
        "actor": threads.removeprefix("ray actor: "),
        "seconds": seconds,
    }


def run(count: int, backend: str, precision: str | None, concurrency: int | None) -> dict[str, Any]:
    import ray

    common = ["--backend", backend, *(["--precision", precision] if precision else [])]
    load = os.getloadavg()[0]
    threads = torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="dcpt-ray-bench-") as temp:
        root = Path(temp)
        folder = _folder(root, count)
        local_s, _ = _timed([str(folder), "-o", str(root / "local"), *common])
        start = time.perf_counter()
        # What the command does without --ray-address: a local instance, this machine's CPUs.
        ray.init(include_dashboard=False, logging_level=logging.WARNING)
        ray_start_s = time.perf_counter() - start
        cpus = int(ray.cluster_resources().get("CPU", 0))
        try:
            pooled = _ray_run(
                folder,
                root / "ray",
                common,
                ["--concurrency", str(concurrency)] if concurrency else [],
            )
            # One actor with the local run's threads: the bit-for-bit comparison that must hold.
            same_threads = min(threads, cpus)
            equal = _ray_run(
                folder,
                root / "ray1",
                common,
                ["--concurrency", "1", "--num-cpus", str(same_threads)],
            )
        finally:
            ray.shutdown()
        pooled |= _compare(root / "local", root / "ray")
        equal |= _compare(root / "local", root / "ray1")
    for row in (pooled, equal):
        row["images_per_s"] = count / row["seconds"]
    return {
        "cpu": cpu_name(),
        "cpus": cpus,
        "load_average_at_start": load,
        "torch_threads_local": threads,
        "torch": torch.__version__,
        "ray_version": ray.__version__,
        "model": "default",
        "backend": backend,
        "precision": precision or "fp32",
        "images": count,
        "side": SIDE,
        "local": {"seconds": local_s, "images_per_s": count / local_s},
        "ray_pool": pooled,
        "ray_same_threads": equal,
        "ray_start_seconds": ray_start_s,
        "ray_pool_with_start_images_per_s": count / (pooled["seconds"] + ray_start_s),
    }


def _row(name: str, row: dict[str, Any], holds: str) -> str:
    same = f"{row['identical_files']}/{row['files']}"
    if row["identical_files"] != row["files"]:
        same += f" (max {row['max_difference']} grey level)"
    return f"| {name} | {row['images_per_s']:.2f} | {row['seconds']:.1f} | {same} | {holds} |"


def _table(facts: dict[str, Any], command: str) -> str:
    busy = facts["load_average_at_start"] > 0.5 * max(1, facts["cpus"])
    warning = (
        f"\n**The machine was busy** (load average {facts['load_average_at_start']:.1f} on "
        f"{facts['cpus']} CPUs): these figures say little.\n"
        if busy
        else ""
    )
    local, pooled, equal = facts["local"], facts["ray_pool"], facts["ray_same_threads"]
    side, start = facts["side"], facts["ray_start_seconds"]
    actors = "starting the actors (each imports torch, opens the model), every image"
    rows = [
        f"| plain dcpt-restore ({facts['torch_threads_local']} torch threads, pipelined) "
        f"| {local['images_per_s']:.2f} | {local['seconds']:.1f} | reference "
        "| model opening, every image |",
        _row(f"--engine ray: {pooled['pool']}", pooled, actors),
        f"| the same, Ray's start included | {facts['ray_pool_with_start_images_per_s']:.2f} "
        f"| {pooled['seconds'] + start:.1f} | | + ray.init ({start:.1f} s) |",
        _row(f"--engine ray: {equal['pool']}", equal, actors),
    ]
    return f"""# dcpt-restore --engine ray vs plain dcpt-restore: {facts["images"]} PNG photos of {side}x{side}

CPU: {facts["cpu"]}, {facts["cpus"]} CPUs, load average {facts["load_average_at_start"]:.1f} at the start; the
built-in default model on {facts["backend"]} {facts["precision"]} in every run; torch {facts["torch"]},
Ray {facts["ray_version"]}; one run each, a local Ray instance started by the script. Written by
`{command}`.
{warning}
| run | images/s | seconds | outputs identical to plain (files) | what the time holds |
|---|---|---|---|---|
{chr(10).join(rows)}

Each actor sets its torch thread count to its CPUs. Outputs are
identical byte for byte at equal threads per Restorer; at another thread count torch splits its
sums differently, which can move a few pixels of a large image by one grey level.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--backend", default="torch", help="the backend of both runs (not auto)")
    parser.add_argument("--precision", default=None)
    parser.add_argument("--concurrency", type=int, default=None, help="actors (default: CPUs)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the tables")
    args = parser.parse_args()
    if args.backend == "auto":
        parser.error("--backend auto could choose differently in each process; name a backend")
    facts = run(args.images, args.backend, args.precision, args.concurrency)
    command = "python benchmarks/ray_restore.py " + " ".join(sys.argv[1:])
    table = _table(facts, command.strip())
    print(table)
    args.results.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.results / "ray_restore.md", table)
    write_text_atomic(args.results / "ray_restore.json", json.dumps(facts, indent=2) + "\n")
    equal = facts["ray_same_threads"]
    if equal["identical_files"] != equal["files"]:
        sys.exit("outputs differ between the engines at the same thread count")


if __name__ == "__main__":
    main()
