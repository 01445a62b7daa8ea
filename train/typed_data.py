"""Plain nested data (as YAML gives it) onto typed dataclasses and back, and the dotted
``key.sub=value`` overrides of ``--set``: the generic half of the training configuration
(dcpt_sdk.train.config holds the schema). Written here because the libraries that do this
(pydantic, OmegaConf) would be a dependency for ~150 lines, and their error messages name
internal types rather than the config key and the valid choices.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from dcpt_sdk.errors import UnsupportedOptionError

__all__ = ["ConfigError", "apply_overrides", "build_dataclass", "merge", "to_plain"]


class ConfigError(UnsupportedOptionError):
    """A configuration file or override that does not fit the schema."""


def _type_name(tp: Any) -> str:
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """``value`` as type ``tp`` (dataclasses, lists, tuples, dicts, Literals, Optionals, scalars)."""
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return _convert_union(value, get_args(tp), where)
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise ConfigError(f"{where}={value!r} is not valid; use {_type_name(tp)}")
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return build_dataclass(tp, value, where)
    if origin in (list, tuple):
        return _convert_sequence(value, tp, where)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    return _convert_scalar(value, tp, where)


def _convert_union(value: Any, options: tuple[Any, ...], where: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in options:
        if option is type(None):
            continue
        try:
            return _convert(value, option, where)
        except ConfigError as exc:
            errors.append(str(exc))
    raise ConfigError(errors[0] if len(errors) == 1 else f"{where}={value!r}: " + "; ".join(errors))


def _convert_sequence(value: Any, tp: Any, where: str) -> Any:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise ConfigError(f"{where} must be a list, got {value!r}")
    args = get_args(tp)
    if get_origin(tp) is tuple:
        if len(args) != len(value):
            raise ConfigError(f"{where} must have {len(args)} values, got {list(value)!r}")
        return tuple(
            _convert(v, a, f"{where}.{i}") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    item = args[0] if args else Any
    return [_convert(v, item, f"{where}.{i}") for i, v in enumerate(value)]


def _convert_scalar(value: Any, tp: Any, where: str) -> Any:
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
    raise ConfigError(f"{where}={value!r} is not valid; expected {_type_name(tp)}")


def build_dataclass(cls: type, data: Any, where: str) -> Any:
    """A dataclass instance from a mapping, rejecting unknown keys with the list of valid ones."""
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where or 'the config'} must be a mapping, got {data!r}")
    hints = get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(map(str, data)) - set(names))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {', '.join(prefix + k for k in unknown)}; "
            f"valid keys{' of ' + where if where else ''}: {', '.join(names)}"
        )
    kwargs = {
        name: _convert(data[name], hints[name], f"{where}.{name}" if where else name)
        for name in names
        if name in data
    }
    return cls(**kwargs)


def to_plain(value: Any) -> Any:
    """Plain nested data (tuples become lists) that YAML and JSON can write."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    return value


def _parse_value(text: str) -> Any:
    """An override's value read as YAML, so ``8``, ``3e-4``, ``true``, ``[1, 2]`` and ``null``
    mean what they mean in a config file; the field's type then decides."""
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


def _set_path(tree: Any, keys: list[str], value: Any, full: str) -> None:
    node = tree
    for depth, key in enumerate(keys[:-1]):
        node = _child(node, key, ".".join(keys[: depth + 1]), full)
    last = keys[-1]
    if isinstance(node, list):
        node[_index(node, last, full)] = value
    else:
        node[last] = value


def _child(node: Any, key: str, where: str, full: str) -> Any:
    if isinstance(node, list):
        return node[_index(node, key, full)]
    if not isinstance(node, dict):
        raise ConfigError(f"--set {full}: '{where}' is a value, not a section")
    if key not in node or node[key] is None:
        node[key] = {}
    return node[key]


def _index(node: list[Any], key: str, full: str) -> int:
    if not key.isdigit() or int(key) >= len(node):
        raise ConfigError(f"--set {full}: '{key}' is not an index of a list of {len(node)} items")
    return int(key)


def apply_overrides(data: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """``key.sub=value`` strings applied to nested plain data (list items by index: data.train.0.ratio)."""
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--set {item!r} is not key=value (e.g. --set training.max_steps=100)"
            )
        _set_path(data, key.strip().split("."), _parse_value(text), item)
    return data


def merge(base: Any, update: Any) -> Any:
    """Deep merge of nested dicts; lists and scalars in ``update`` replace the base's."""
    if isinstance(base, dict) and isinstance(update, dict):
        merged = dict(base)
        for key, value in update.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return update
