"""The registry of named degradations, their combinations, and the pure-array entry point.

One explicit list (``_ENTRIES``) declares every degradation with its parameters and the PSNR band
it produces; ``mix`` combines several in a fixed physical order (scene, weather, optics, sensor,
storage); ``degrade_array`` is what the data loaders call.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from dcpt_sdk.degradations import blur, haze, inpaint, jpeg, low_light, mosaic, noise, rain, snow
from dcpt_sdk.degradations.params import Param
from dcpt_sdk.errors import InvalidImageError, UnsupportedOptionError

__all__ = ["Degradation", "available", "degrade_array", "get", "mix", "MIX_ORDER"]

DegradationFn = Callable[..., np.ndarray]


@dataclass(frozen=True)
class Degradation:
    """A named degradation: its function, its parameters, and what it does to an image.

    Calling it draws every parameter not given (in ``params`` order) from the generator, checks
    the given ones, and applies ``function``; the result for a seed is the same as calling the
    function directly with that seed.

    Attributes:
        name: registry name ("rain"), or the "+"-joined names of a mix ("haze+rain").
        function: pure ``(img float32 HxWx3 in [0, 1], rng, **params) -> float32 HxWx3``.
        params: the parameters, each with its default draw and valid values.
        model: the one-line physical model (the first line of the function's docstring).
        psnr_band: (low, high) PSNR in dB against the clean image, for a natural 256x256 photo at
            default parameters over many seeds; a sanity envelope the tests check, not a benchmark.
            ``None`` for mixes and the identity.
        components: the registry names applied, in order (one for a single degradation).
    """

    name: str
    function: DegradationFn
    params: tuple[Param, ...]
    model: str
    psnr_band: tuple[float, float] | None
    components: tuple[str, ...]

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def sample_params(self, rng: np.random.Generator, **given: Any) -> dict[str, Any]:
        """Every parameter's value: ``given`` ones checked, others drawn, in ``params`` order."""
        self._reject_unknown(given)
        return {p.name: p.resolve(given.get(p.name), rng, self.name) for p in self.params}

    def __call__(self, img: np.ndarray, rng: np.random.Generator, **params: Any) -> np.ndarray:
        return self.function(img, rng, **self.sample_params(rng, **params))

    def with_params(self, **specs: Any) -> Degradation:
        """A copy whose defaults are drawn differently: ``sigma=(1, 50)`` draws U[1, 50],
        ``sigma=[15, 25]`` draws among the list, ``clip=False`` fixes a value. Presets use it
        (10D noise draws sigma from U[1, 50]); accepted values stay those of the parameter."""
        self._reject_unknown(specs)
        params = tuple(
            p.narrowed(specs[p.name], self.name) if p.name in specs else p for p in self.params
        )
        return replace(self, params=params)

    def _reject_unknown(self, given: Mapping[str, Any]) -> None:
        unknown = sorted(set(given) - set(self.param_names))
        if unknown:
            valid = ", ".join(f"{p.name} {p.describe()}" for p in self.params) or "none"
            raise UnsupportedOptionError(
                f"{self.name}: unknown parameter(s) {', '.join(unknown)}; valid: {valid}"
            )


def _entry(
    name: str, function: DegradationFn, params: tuple[Param, ...], band: tuple[float, float]
) -> Degradation:
    doc = inspect.getdoc(function) or name
    return Degradation(name, function, params, doc.splitlines()[0], band, (name,))


# The registry, in the order of the DCPT issue. PSNR bands: measured on the astronaut sample
# (dcpt_sdk/zoo/samples, skimage's photo; box-downscaled to 256x256) over seeds 0-199 at default
# parameters, widened by about 1 dB on each side; tests/degradations/test_degradation_contract.py
# checks them.
_ENTRIES: tuple[Degradation, ...] = (
    _entry("noise", noise.noise, noise.PARAMS, (14.0, 26.0)),
    _entry("jpeg", jpeg.jpeg, jpeg.PARAMS, (23.5, 31.0)),
    _entry("rain", rain.rain, rain.PARAMS, (15.0, 31.0)),
    _entry("haze", haze.haze, haze.PARAMS, (9.0, 18.5)),
    _entry("motion_blur", blur.motion_blur, blur.MOTION_PARAMS, (13.5, 26.0)),
    _entry("defocus_blur", blur.defocus_blur, blur.DEFOCUS_PARAMS, (20.0, 29.0)),
    _entry("low_light", low_light.low_light, low_light.PARAMS, (5.5, 11.0)),
    _entry("snow", snow.snow, snow.PARAMS, (13.5, 26.5)),
    _entry("mosaic", mosaic.mosaic, mosaic.PARAMS, (26.5, 29.0)),  # edge-aware: 27.8 dB
    _entry("inpaint_lines", inpaint.inpaint_lines, inpaint.PARAMS, (9.5, 21.0)),
)
_REGISTRY: dict[str, Degradation] = {d.name: d for d in _ENTRIES}

# The order ``mix`` applies degradations in, following the light from the scene to the file:
# the atmosphere (haze) lies behind falling rain and snow; then the optics blur what reaches the
# lens; then the sensor: exposure (low light, with its own noise), added noise, the colour filter
# array; then storage (JPEG); scratches are drawn over the final image.
MIX_ORDER: tuple[str, ...] = (
    "haze",
    "rain",
    "snow",
    "defocus_blur",
    "motion_blur",
    "low_light",
    "noise",
    "mosaic",
    "jpeg",
    "inpaint_lines",
)


def available() -> tuple[str, ...]:
    """The registered degradation names, in registry order."""
    return tuple(_REGISTRY)


def get(name: str) -> Degradation:
    """The degradation called ``name``; a "+"-joined name ("low_light+haze") is a ``mix``.

    Raises:
        UnsupportedOptionError: an unknown name (the message lists the valid ones).
    """
    if "+" in name:
        return mix(name)
    found = _REGISTRY.get(name)
    if found is None:
        raise _unknown(name)
    return found


def _unknown(name: str) -> UnsupportedOptionError:
    close = difflib.get_close_matches(name, _REGISTRY, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return UnsupportedOptionError(
        f"unknown degradation {name!r}; {hint}valid: {', '.join(_REGISTRY)} "
        "(combine several with '+', e.g. 'haze+rain')"
    )


def mix(names: str | Iterable[str]) -> Degradation:
    """Several degradations applied one after the other, in the physical ``MIX_ORDER``.

    A mix is a set, not a sequence: ``mix(["rain", "haze"])`` and ``mix("haze+rain")`` are the
    same degradation, named "haze+rain", which hazes first (the air lies behind the rain). Its
    parameters are the components' ones prefixed with the component name ("haze.beta"); pass
    them as ``**{"haze.beta": 1.2}`` or ``--set haze.beta=1.2``. An empty mix is the identity
    (CDD-11's "clear" class).

    Raises:
        UnsupportedOptionError: an unknown or repeated name.
    """
    listed = names.split("+") if isinstance(names, str) else list(names)
    listed = [n.strip() for n in listed if n.strip()]
    for n in listed:
        if n not in _REGISTRY:
            raise _unknown(n)
    if len(set(listed)) != len(listed):
        raise UnsupportedOptionError(
            f"mix {'+'.join(listed)!r} repeats a degradation; name each at most once"
        )
    parts = tuple(_REGISTRY[n] for n in MIX_ORDER if n in listed)
    if len(parts) == 1:
        return parts[0]
    return _compose(parts)


def _compose(parts: tuple[Degradation, ...]) -> Degradation:
    def apply(img: np.ndarray, rng: np.random.Generator, **params: Any) -> np.ndarray:
        for part in parts:
            prefix = part.name + "."
            own = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
            img = part(img, rng, **own)
        return img

    name = "+".join(p.name for p in parts) or "identity"
    params = tuple(replace(q, name=f"{p.name}.{q.name}") for p in parts for q in p.params)
    model = " then ".join(p.name for p in parts) if parts else "I = J (no degradation)"
    return Degradation(name, apply, params, model, None, tuple(p.name for p in parts))


def degrade_array(
    img: np.ndarray,
    name: str | Degradation,
    rng: np.random.Generator | int | None = None,
    **params: Any,
) -> np.ndarray:
    """Apply a degradation to a float32 HxWx3 image in [0, 1]; the pure entry of the engine.

    Args:
        img: float32 array, shape (H, W, 3), values in [0, 1]. Use ``dcpt_sdk.degrade`` for
            other image types (uint8/uint16, gray, RGBA, PIL, paths).
        name: a registry name, a "+"-joined mix, or a ``Degradation``.
        rng: a numpy Generator, or a seed for a fresh one (``None``: unpredictable).
        **params: parameter values; the ones left out are drawn from their default ranges.

    Returns:
        float32 (H, W, 3) in [0, 1] (beyond only for ``noise`` with ``clip=False``).

    Raises:
        InvalidImageError: not a float32 HxWx3 array in [0, 1].
        UnsupportedOptionError: unknown degradation or parameter, or an invalid value.
    """
    _check_image(img)
    degradation = name if isinstance(name, Degradation) else get(name)
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return degradation(img, generator, **params)


def _check_image(img: Any) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.float32:
        got = type(img).__name__ if not isinstance(img, np.ndarray) else f"{img.dtype} array"
        raise InvalidImageError(
            f"degrade_array takes a float32 HxWx3 array in [0, 1], got {got}; convert it with "
            "img.astype(np.float32) / 255 or call dcpt_sdk.degrade, which takes any image type"
        )
    if img.ndim != 3 or img.shape[2] != 3 or img.shape[0] < 2 or img.shape[1] < 2:
        raise InvalidImageError(
            f"degrade_array takes an HxWx3 array (H, W >= 2), got shape {img.shape}; "
            "dcpt_sdk.degrade handles gray, RGBA and HxWx1 images"
        )
    low, high = float(img.min()), float(img.max())
    if not (low >= 0.0 and high <= 1.0):
        raise InvalidImageError(
            f"degrade_array takes values in [0, 1], got [{low:g}, {high:g}]; "
            "scale the image (uint8: / 255, uint16: / 65535) and clip it first"
        )
