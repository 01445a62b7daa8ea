"""Small helpers the architecture detectors share: key presence and indexed-block counting."""

from __future__ import annotations

import re

from dcpt_sdk.archs.base import StateDict


def has_all(state_dict: StateDict, *keys: str) -> bool:
    return all(key in state_dict for key in keys)


def has_any_prefix(state_dict: StateDict, *prefixes: str) -> bool:
    return any(key.startswith(prefixes) for key in state_dict)


def count_indexed(state_dict: StateDict, prefix: str) -> int:
    """Number of consecutive children ``prefix{i}.`` starting at 0 (e.g. "encoders.0.")."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for key in state_dict if (m := pattern.match(key))}
    count = 0
    while count in indices:
        count += 1
    return count
