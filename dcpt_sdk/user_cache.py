"""The user cache directory and the fingerprints that key what is cached there.

Two things live in it: the measured backend rankings of ``backend="auto"`` (dcpt_sdk.autotune)
and the artifacts exported on first use of a checkpoint (dcpt_sdk.autoexport). Every entry is
keyed by what makes it valid: the machine (CPU model and flags, or GPU name), the model's bytes
and the versions of the tools involved, so a new CPU, a retrained model or an upgraded
OpenVINO never reads a stale entry.

Location: ``$DCPT_CACHE_DIR`` if set, else the platform's user cache folder
(``$XDG_CACHE_HOME/dcpt-sdk`` or ``~/.cache/dcpt-sdk`` on Linux, ``~/Library/Caches/dcpt-sdk``
on macOS, ``%LOCALAPPDATA%\\dcpt-sdk\\Cache`` on Windows). Deleting it is always safe.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "cache_dir",
    "cpu_flags",
    "cpu_name",
    "device_fingerprint",
    "digest",
    "file_digest",
    "tensors_digest",
    "tool_versions",
]

_TOOLS = ("dcpt-sdk", "torch", "onnxruntime", "onnxruntime-gpu", "openvino", "tensorrt")


def cache_dir() -> Path:
    """The cache root (not created here)."""
    override = os.environ.get("DCPT_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "dcpt-sdk" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "dcpt-sdk"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dcpt-sdk"


def digest(value: Any) -> str:
    """sha256 hex of a JSON-serialisable value (keys sorted)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def file_digest(path: Path) -> str:
    """sha256 hex of a file's bytes (read in 1 MiB blocks).

    Memoised per (path, size, mtime): opening a model hashes the same file for its provenance
    (checkpoint.load_model) and for the auto cache key (model_source), and a process that opens
    it again should not re-read it."""
    info = Path(path).stat()
    return _digest_of(str(Path(path).resolve()), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _digest_of(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # part of the cache key only: a rewritten file is hashed again
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def tensors_digest(tensors: Iterable[tuple[str, torch.Tensor]]) -> str:
    """sha256 hex of named tensors' names, shapes, dtypes and bytes (a model's weights)."""
    sha = hashlib.sha256()
    for name, tensor in tensors:
        t = tensor.detach().cpu().contiguous()
        sha.update(f"{name}:{tuple(t.shape)}:{t.dtype};".encode())
        sha.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return sha.hexdigest()


@functools.cache
def _cpu_description() -> dict[str, Any]:
    """CPU model name and instruction-set flags (what decides which kernels are fastest)."""
    facts: dict[str, Any] = {"machine": platform.machine(), "cores": os.cpu_count()}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        facts["processor"] = platform.processor()
        return facts
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and "model" not in facts:
            facts["model"] = value.strip()
        elif key in ("flags", "Features") and "flags" not in facts:
            facts["flags"] = sorted(value.split())
    return facts


def device_fingerprint(device: str) -> dict[str, Any]:
    """What identifies the hardware a measurement was taken on: the CPU always (it also feeds
    GPU runs), the GPU's name and compute capability for CUDA devices, and torch's thread
    count (the same CPU ranks backends differently with 1 thread and with 16)."""
    facts: dict[str, Any] = {"cpu": _cpu_description(), "threads": torch.get_num_threads()}
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        facts["gpu"] = torch.cuda.get_device_name(index)
        facts["capability"] = list(torch.cuda.get_device_capability(index))
    return facts


def cpu_flags() -> frozenset[str]:
    """The CPU's instruction-set flags (empty where /proc/cpuinfo does not exist)."""
    return frozenset(_cpu_description().get("flags", ()))


def cpu_name() -> str:
    """The CPU's model name, for messages and reports."""
    description = _cpu_description()
    return str(description.get("model") or description.get("processor") or platform.machine())


@functools.cache
def tool_versions() -> dict[str, str]:
    """Installed versions of the packages whose code runs or exports the models."""
    versions = {}
    for name in _TOOLS:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions
