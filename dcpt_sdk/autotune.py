"""``backend="auto"``: time each usable candidate on this machine, keep the fastest one whose
output agrees with torch fp32 closely enough, and cache that ranking.

A fixed order cannot be right: on an Intel Xeon with AMX ONNX Runtime fp32 ran the same model
2x faster than torch, on an AMD EPYC without AMX OpenVINO bf16 won and int8 lost to bf16
(benchmarks/results/backend_speed.md). So the first open of a model on a machine times every
candidate (one warm-up and three timed calls each on a 512x512 photo crop, the median kept),
writes the figures to the user cache (dcpt_sdk.user_cache: keyed by the CPU model and flags or
the GPU, torch's thread count, the candidates' model bytes, the tool versions and the floor),
and later opens read them: a second ``Restorer()`` costs no measuring.

The quality floor: a candidate is admitted when its PSNR against torch fp32 (the figure
dcpt-export verified and wrote to dcpt.json; for torch bf16, measured on the probe here) is at
least ``min_psnr_db``, DEFAULT_MIN_PSNR_DB = 45 dB unless the caller says otherwise (38 admits
typical int8 artifacts, ``float("inf")`` only exact fp32 paths).
"""

from __future__ import annotations

import json
import logging
import math
import os
import secrets
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.metrics import psnr
from dcpt_sdk.runtimes.base import Runtime
from dcpt_sdk.user_cache import cache_dir, device_fingerprint, digest, tool_versions

__all__ = [
    "DEFAULT_MIN_PSNR_DB",
    "AutoChoice",
    "Candidate",
    "Measurement",
    "choose",
    "no_candidate_error",
]

DEFAULT_MIN_PSNR_DB = 45.0
PROBE_SIDE = 512
_WARMUP, _REPEATS = 1, 3
_CACHE_VERSION = 1
_log = logging.getLogger("dcpt_sdk")


@dataclass(frozen=True)
class Candidate:
    """One way to run the model here.

    Attributes:
        backend / precision: what it runs on.
        source: where it comes from ("checkpoint", or the artifact directory), for messages.
        identity: digest of the model bytes it runs (part of the cache key).
        psnr_db: its verified PSNR against torch fp32 (math.inf for torch fp32 itself), or None
            to measure it on the probe against the torch fp32 candidate (torch bf16).
        open: opens the runtime (compiles, loads sessions).
    """

    backend: str
    precision: str
    source: str
    identity: str
    psnr_db: float | None
    open: Callable[[], Runtime]

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}"


@dataclass(frozen=True)
class Measurement:
    """What auto found for one candidate: its median latency on the probe (None: not timed)
    and its PSNR against torch fp32; ``note`` says why it was skipped, if it was."""

    backend: str
    precision: str
    source: str
    ms: float | None
    psnr_db: float | None
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}"


@dataclass(frozen=True)
class AutoChoice:
    """The outcome of ``backend="auto"``: the chosen candidate and every figure behind it."""

    chosen: Measurement
    measurements: tuple[Measurement, ...]
    probe: str
    min_psnr_db: float
    cache_file: Path | None
    from_cache: bool

    def summary(self) -> str:
        """One line for people: what was chosen, its figures and the alternatives'."""

        def figure(m: Measurement) -> str:
            quality = "" if m.psnr_db is None or math.isinf(m.psnr_db) else f", {m.psnr_db:.0f} dB"
            return f"{m.label} {m.ms:.0f} ms{quality}" if m.ms is not None else m.label

        others = [figure(m) for m in self.measurements if m is not self.chosen and m.ms is not None]
        skipped = [f"{m.label} ({m.note})" for m in self.measurements if m.note]
        where = (
            f"read from {self.cache_file}"
            if self.from_cache
            else ("measured now" if self.chosen.ms is not None else "the only candidate")
        )
        text = f"auto chose {figure(self.chosen)} at {self.probe} ({where})"
        if others:
            text += "; others: " + ", ".join(others)
        if skipped:
            text += "; skipped: " + ", ".join(skipped)
        return text


def no_candidate_error(
    problem: str, available: Iterable[str], fix: str = ""
) -> UnsupportedOptionError:
    """The error for a backend choice that leaves nothing to run, worded alike wherever the
    choice is made: what was asked, what there is here, and the fix when there is one."""
    message = f"{problem}; available here: {', '.join(available)}"
    return UnsupportedOptionError(f"{message}; {fix}" if fix else message)


def choose(
    candidates: Sequence[Candidate],
    device: str,
    pad_multiple: int,
    *,
    min_psnr_db: float = DEFAULT_MIN_PSNR_DB,
    use_cache: bool = True,
) -> tuple[Runtime, AutoChoice]:
    """Open the fastest admitted candidate; measures (and caches) on first use."""
    if not candidates:
        raise UnsupportedOptionError("backend='auto' found nothing that can run this model here")
    side = -(-PROBE_SIDE // pad_multiple) * pad_multiple
    probe = f"{side}x{side}"
    known = [(c, c.psnr_db) for c in candidates if c.psnr_db is not None]
    skipped = [
        _skipped(c, f"below the {min_psnr_db:g} dB floor") for c, q in known if q < min_psnr_db
    ]
    pool = [c for c in candidates if c.psnr_db is None or c.psnr_db >= min_psnr_db]
    if not pool:
        raise no_candidate_error(
            f"no candidate meets the quality floor of {min_psnr_db:g} dB PSNR against torch fp32",
            (f"{c.label} {q:.1f} dB" for c, q in known),
            "lower it, e.g. Restorer(..., min_psnr_db=35), or name the backend",
        )
    if len(pool) == 1:
        only = _skipped(pool[0], "")
        runtime = pool[0].open()
        return runtime, AutoChoice(only, (only, *skipped), probe, min_psnr_db, None, False)

    key = digest(
        {
            "version": _CACHE_VERSION,
            "device": device_fingerprint(device),
            "tools": tool_versions(),
            "candidates": sorted((c.backend, c.precision, c.identity) for c in pool),
            "probe": side,
            "floor": min_psnr_db,
        }
    )
    cache_file = cache_dir() / "autotune" / f"{key[:40]}.json"
    cached = _read_cache(cache_file) if use_cache else None
    if cached is not None:
        by_label = {(m.backend, m.precision, m.source): m for m in cached if m.ms is not None}
        timed = [c for c in pool if _names(c) in by_label]
        if timed:
            winner = min(timed, key=lambda c: _rank_key(by_label[_names(c)]))
            chosen = by_label[_names(winner)]
            choice = AutoChoice(chosen, (*cached, *skipped), probe, min_psnr_db, cache_file, True)
            return winner.open(), choice
    runtime, measured = _measure(pool, side, min_psnr_db)
    if use_cache:
        _write_cache(cache_file, measured)
    best = min(measured, key=_rank_key)
    choice = AutoChoice(best, (*measured, *skipped), probe, min_psnr_db, cache_file, False)
    return runtime, choice


def _rank_key(m: Measurement) -> float:
    return m.ms if m.ms is not None else math.inf


def _skipped(c: Candidate, note: str) -> Measurement:
    return Measurement(c.backend, c.precision, c.source, None, c.psnr_db, note)


def probe_batch(side: int) -> torch.Tensor:
    """A 1 x 3 x side x side photo crop (a packaged sample photo, resized): natural statistics,
    so reduced-precision error and denormal-prone activations look as they do on real input."""
    from PIL import Image

    from dcpt_sdk.zoo.samples import SAMPLES_DIR

    photo = sorted(SAMPLES_DIR.glob("*.png"))[0]
    with Image.open(photo) as image:
        rgb = image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    pixels = np.asarray(rgb, dtype=np.float32) / 255.0
    return torch.from_numpy(pixels.transpose(2, 0, 1).copy())[None]


def time_call(fn: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor) -> float:
    """Median milliseconds of ``fn(batch)`` over _REPEATS calls after _WARMUP."""
    for _ in range(_WARMUP):
        fn(batch)
    times = []
    for _ in range(_REPEATS):
        start = time.perf_counter()
        fn(batch)
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def _measure(
    pool: Sequence[Candidate], side: int, min_psnr_db: float
) -> tuple[Runtime, list[Measurement]]:
    """Time every candidate; returns the fastest admitted one still open, and all figures."""
    batch = probe_batch(side)
    reference: torch.Tensor | None = None
    # torch fp32 first: the reference output for candidates whose quality is measured here.
    order = sorted(pool, key=lambda c: not (c.backend == "torch" and c.precision == "fp32"))
    best: tuple[float, Runtime] | None = None
    results = []
    for candidate in order:
        try:
            runtime = candidate.open()
        except Exception as error:  # a candidate that cannot open here is skipped, not fatal
            results.append(_skipped(candidate, f"failed to open: {error}"))
            continue
        ms = time_call(runtime.infer, batch)
        quality = candidate.psnr_db
        if candidate.backend == "torch" and candidate.precision == "fp32":
            reference = runtime.infer(batch).clamp(0, 1)
        elif quality is None and reference is not None:
            quality = psnr(runtime.infer(batch).numpy(), reference.numpy())
        if quality is None or quality < min_psnr_db:
            # Timed but not admitted: keep its figure in the note, out of the ranking.
            why = "no fp32 reference to check it" if quality is None else "below the floor"
            results.append(Measurement(*_names(candidate), None, quality, f"{why}, {ms:.0f} ms"))
            runtime.close()
            continue
        results.append(Measurement(*_names(candidate), ms, quality))
        _log.info("auto: %s %.1f ms at %dx%d", candidate.label, ms, side, side)
        if best is None or ms < best[0]:
            if best is not None:
                best[1].close()
            best = (ms, runtime)
        else:
            runtime.close()
    if best is None:
        raise UnsupportedOptionError(
            "backend='auto': no candidate could run here: "
            + "; ".join(f"{m.label}: {m.note}" for m in results)
        )
    return best[1], results


def _names(c: Candidate) -> tuple[str, str, str]:
    return c.backend, c.precision, c.source


def _read_cache(path: Path) -> list[Measurement] | None:
    """The cached figures, or None when absent or unreadable (then they are measured again)."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        return [Measurement(**item) for item in data["measurements"]]
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _write_cache(path: Path, measurements: Sequence[Measurement]) -> None:
    """Atomic write (a temp file renamed): a concurrent reader sees the old file or the new."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        payload = {"measurements": [asdict(m) for m in measurements]}
        temp.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        os.replace(temp, path)
    except OSError as error:  # a read-only home still runs, it just measures every time
        _log.warning("auto: could not write the cache %s: %s", path, error)
