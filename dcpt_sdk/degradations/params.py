"""Degradation parameters as data: how a default is drawn, and which values a caller may give.

Every degradation declares its parameters with one of the three constructors below. The same object
draws the value when the caller leaves it out (so the documented range *is* the behaviour), checks a
value the caller gives, and prints itself for docs, ``--list`` and error messages.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from dcpt_sdk.errors import UnsupportedOptionError

__all__ = ["Param", "choice", "fixed", "uniform"]

Kind = Literal["uniform", "choice", "fixed"]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Param:
    """One parameter of a degradation.

    Attributes:
        name: keyword name.
        kind: "uniform" (drawn from U[low, high]), "choice" (drawn among ``choices``) or "fixed"
            (``choices[0]`` unless given; not random).
        doc: what the parameter means physically, with its unit.
        low / high: bounds of the uniform draw.
        choices: values drawn among ("choice") or the default first ("fixed").
        integer: the value is a whole number (drawn with ``rng.integers``, checked on input).
        valid: closed bounds a caller's numeric value must lie in; ``None`` for non-numeric ones.
        allowed: the only values a caller may give to a non-numeric parameter.
    """

    name: str
    kind: Kind
    doc: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()
    integer: bool = False
    valid: tuple[float, float] | None = None
    allowed: tuple[Any, ...] = ()

    @property
    def numeric(self) -> bool:
        return self.valid is not None

    def describe(self) -> str:
        """The default draw, e.g. ``U[0.6, 1.6]``, ``{5..10}``, ``{15, 25, 50}``, ``True``."""
        if self.kind == "uniform":
            if self.integer:
                return f"{{{_fmt(self.low)}..{_fmt(self.high)}}}"
            return f"U[{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.kind == "choice":
            return "{" + ", ".join(_fmt(c) for c in self.choices) + "}"
        return _fmt(self.choices[0])

    def accepts(self) -> str:
        """What a caller may give, for error messages."""
        if self.valid is not None:
            lo, hi = self.valid
            what = "a whole number" if self.integer else "a number"
            return f"{what} in [{_fmt(lo)}, {_fmt(hi)}]"
        return "one of " + ", ".join(repr(a) for a in self.allowed)

    def draw(self, rng: np.random.Generator) -> Any:
        """A default drawn with ``rng`` ("fixed" draws nothing, so it never shifts the stream)."""
        if self.kind == "uniform":
            if self.integer:
                return int(rng.integers(int(self.low), int(self.high) + 1))
            return float(rng.uniform(self.low, self.high))
        if self.kind == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        return self.choices[0]

    def check(self, value: Any, owner: str) -> Any:
        """Return ``value`` as the parameter's type, or raise UnsupportedOptionError."""
        if self.valid is None:
            if any(value == a and type(value) is type(a) for a in self.allowed):
                return value
            raise self._error(value, owner)
        if not _is_number(value) or not math.isfinite(float(value)):
            raise self._error(value, owner)
        lo, hi = self.valid
        if not lo <= float(value) <= hi:
            raise self._error(value, owner)
        if self.integer:
            if float(value) != int(value):
                raise self._error(value, owner)
            return int(value)
        return float(value)

    def resolve(self, value: Any, rng: np.random.Generator, owner: str) -> Any:
        """The caller's ``value`` checked, or a default drawn when it is ``None``."""
        return self.draw(rng) if value is None else self.check(value, owner)

    def narrowed(self, spec: Any, owner: str) -> Param:
        """A copy whose default draw is ``spec``: (low, high) -> uniform, a list -> choice, a scalar
        -> fixed. Values are checked against this parameter's valid values, so a preset can change
        how defaults are drawn but never what is accepted."""
        if isinstance(spec, tuple) and len(spec) == 2 and self.numeric:
            low, high = (self.check(v, owner) for v in spec)
            if low > high:
                raise UnsupportedOptionError(
                    f"{owner}: range for {self.name!r} has low {low} > high {high}; "
                    "give (low, high)"
                )
            return replace(self, kind="uniform", low=float(low), high=float(high), choices=())
        if isinstance(spec, list):
            if not spec:
                raise UnsupportedOptionError(f"{owner}: empty choice list for {self.name!r}")
            return replace(self, kind="choice", choices=tuple(self.check(v, owner) for v in spec))
        return replace(self, kind="fixed", choices=(self.check(spec, owner),))

    def _error(self, value: Any, owner: str) -> UnsupportedOptionError:
        return UnsupportedOptionError(
            f"{owner}: {self.name}={value!r} is not valid; {self.name} takes {self.accepts()} "
            f"({self.doc}); leave it out to draw from {self.describe()}"
        )


def uniform(
    name: str,
    low: float,
    high: float,
    *,
    valid: tuple[float, float],
    doc: str,
    integer: bool = False,
) -> Param:
    """A numeric parameter drawn from U[low, high] (whole numbers in [low, high] if ``integer``)."""
    return Param(name, "uniform", doc, low=low, high=high, integer=integer, valid=valid)


def choice(
    name: str,
    values: Sequence[Any],
    *,
    doc: str,
    valid: tuple[float, float] | None = None,
    integer: bool = False,
) -> Param:
    """A parameter drawn among ``values``; numeric ones (``valid`` given) accept any valid value."""
    allowed = () if valid is not None else tuple(values)
    return Param(
        name, "choice", doc, choices=tuple(values), integer=integer, valid=valid, allowed=allowed
    )


def fixed(name: str, default: Any, *, allowed: Sequence[Any], doc: str) -> Param:
    """A non-random option (a switch or a method name) with its default and the allowed values."""
    return Param(name, "fixed", doc, choices=(default,), allowed=tuple(allowed))
