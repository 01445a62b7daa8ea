"""Small helpers the architecture detectors share: key presence, own keys, indexed-block counting."""

from __future__ import annotations

import re

from dcpt_sdk.archs.base import StateDict


def has_all(state_dict: StateDict, *keys: str) -> bool:
    return all(key in state_dict for key in keys)


def has_any_prefix(state_dict: StateDict, *prefixes: str) -> bool:
    return any(key.startswith(prefixes) for key in state_dict)


def only_keys_under(
    state_dict: StateDict, roots: tuple[str, ...], ignored_prefixes: tuple[str, ...] = ()
) -> bool:
    """True when every key's first component ("intro" of "intro.weight") is one of ``roots``, the
    architecture's own (Architecture.key_roots), or the key starts with an ignored prefix.

    Each detector requires this, so a state dict holding another architecture's keys is refused
    without any architecture listing the others' keys: a new entry's keys are foreign to every
    existing detector by construction.
    """
    own = set(roots)
    return all(
        key.split(".", 1)[0] in own or key.startswith(ignored_prefixes) for key in state_dict
    )


def owns_keys(
    state_dict: StateDict,
    required: tuple[str, ...],
    roots: tuple[str, ...],
    ignored_prefixes: tuple[str, ...] = (),
) -> bool:
    """The test every detector starts with: all of the architecture's ``required`` keys are
    there and no key lies outside its own ``roots`` (see :func:`only_keys_under`)."""
    return has_all(state_dict, *required) and only_keys_under(state_dict, roots, ignored_prefixes)


def count_indexed(state_dict: StateDict, prefix: str) -> int:
    """Number of consecutive children ``prefix{i}.`` starting at 0 (e.g. "encoders.0.")."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    indices = {int(m.group(1)) for key in state_dict if (m := pattern.match(key))}
    count = 0
    while count in indices:
        count += 1
    return count
