"""A checkpoint on the fast path without a manual export: export it once, verified, into the
user cache, and let ``backend="auto"`` measure those artifacts beside torch.

``Restorer()`` on a machine with the ``openvino`` or ``onnx`` extra exports the model to the
formats and precisions the formats table lists as ``auto_export`` the first time (what ``dcpt-export`` does, parity check included: an
export that misses its threshold is not used), under
``<cache>/artifacts/<model name>-<weights digest>-<tools digest>/<format>-<precision>/``. A
retrained model or an upgraded exporter gets new folders; a second process exporting the same
model at the same moment builds its own copy in a private folder and keeps whichever rename
lands first, so nobody ever reads a half-written artifact.

int8 is not exported here: it needs calibration photos of the user's domain and minutes of
calibration (dcpt-export --precision int8 --calib DIR; then Restorer(DIR)).
Set DCPT_AUTO_EXPORT=0 to keep ``backend="auto"`` on torch for checkpoints.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import warnings
from pathlib import Path

from torch import nn

from dcpt_sdk import formats
from dcpt_sdk._optional import is_available
from dcpt_sdk.artifact import ArtifactInfo, is_artifact_dir, read_artifact
from dcpt_sdk.formats import Format
from dcpt_sdk.spec import spec_of
from dcpt_sdk.user_cache import cache_dir, cpu_flags, digest, tool_versions

__all__ = ["auto_exports", "cached_exports", "cpu_has_native_bf16", "enabled"]

_log = logging.getLogger("dcpt_sdk")


# Part of the cache key: bumped whenever what export() writes changes, so a cache filled by an
# older dcpt-sdk of the same version string is exported afresh. 2: the classifier file returns
# the logits and the restored image from one pass. 3: the gated blocks' convolutions are exported
# as two halves (archs.layers.conv_halves), no channel Split. 4: the network's export form
# (NAFNet's upsamplers as ConvTranspose). 5: LayerNorm statistics by 1x1 convolution on the
# targets the formats table names (Format.conv_statistics). 6: on those targets, maps of up to 32
# channels centred by one C x C convolution (archs.layers.CENTRE_BY_CONV_MAX_CHANNELS).
_EXPORT_LAYOUT = 6


def enabled() -> bool:
    return os.environ.get("DCPT_AUTO_EXPORT", "1").strip().lower() not in ("0", "false", "no")


def auto_exports() -> list[tuple[Format, str]]:
    """(format, precision) of every ``auto_export`` entry of the formats table, in table order."""
    return [(fmt, precision) for fmt in formats.FORMATS for precision in fmt.auto_export]


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 arithmetic (AVX512-BF16 or AMX-BF16)."""
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16"})


def cached_exports(network: nn.Module, weights_digest: str) -> list[tuple[Path, ArtifactInfo]]:
    """The verified cache artifacts of ``network`` for every auto_exports() entry this machine
    can export and run, exporting the missing ones first. Never raises for an export that fails:
    it warns and leaves that format out (torch still runs the model)."""
    if not enabled():
        return []
    spec = spec_of(network)
    root = (
        cache_dir()
        / "artifacts"
        / (
            f"{spec.name or spec.arch}-{weights_digest[:16]}-{digest(tool_versions())[:8]}"
            f"-v{_EXPORT_LAYOUT}"
        )
    )
    found = []
    for fmt, precision in auto_exports():
        needed = (fmt.python_module, *fmt.export_requires)
        if not all(is_available(module) for module in needed):
            continue
        # bf16 only where the CPU computes it natively (avx512_bf16 or AMX); elsewhere it is
        # emulated, slower than fp32.
        if precision == "bf16" and not cpu_has_native_bf16():
            continue
        target = root / f"{fmt.name}-{precision}"
        if not is_artifact_dir(target):
            try:
                _export_once(network, fmt.name, precision, target)
            except Exception as error:  # one failed format must not stop the model from running
                warnings.warn(
                    f"could not export the model to {fmt.name} {precision} for backend='auto' "
                    f"({error}); it runs without that backend",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
        try:
            found.append((target, read_artifact(target)))
        except Exception as error:  # a damaged cache entry: drop it, the next open re-exports
            _log.warning("auto-export: removing the unreadable %s (%s)", target, error)
            shutil.rmtree(target, ignore_errors=True)
    return found


def _export_once(network: nn.Module, fmt: str, precision: str, target: Path) -> None:
    """Export into a private folder, then rename it to ``target``; if another process got
    there first its artifact stays and ours is dropped (a rename never replaces a non-empty
    directory)."""
    from dcpt_sdk.export.api import export

    target.parent.mkdir(parents=True, exist_ok=True)
    private = target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}")
    _log.info("auto-export: %s %s -> %s (once per model and tool versions)", fmt, precision, target)
    try:
        export(network, fmt, precision, private)
        try:
            os.rename(private, target)
        except OSError:
            if not is_artifact_dir(target):
                raise
    finally:
        shutil.rmtree(private, ignore_errors=True)
