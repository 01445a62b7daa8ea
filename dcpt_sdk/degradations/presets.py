"""Task presets: the degradation classes of a DCPT task, in label order, and how to make each.

A classifier's logit i means class ``preset.classes[i]``; training data built from clean photos
synthesises class i with ``preset.degradations[i]``. The class orders are the reference
implementation's, so labels and checkpoints line up with the paper's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dcpt_sdk.degradations.registry import Degradation, get, mix
from dcpt_sdk.errors import UnsupportedOptionError

__all__ = ["TaskPreset", "get_preset", "list_presets"]


@dataclass(frozen=True)
class TaskPreset:
    """The classes of one task and the degradation that synthesises each.

    Attributes:
        name: preset name ("5d", "10d", "cdd11", "synthetic-7d").
        description: what the task is and where its order comes from.
        classes: class names in label order.
        degradations: ``degradations[i]`` synthesises ``classes[i]`` from a clean image.
    """

    name: str
    description: str
    classes: tuple[str, ...]
    degradations: tuple[Degradation, ...]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def label(self, class_name: str) -> int:
        """The label (logit index) of ``class_name``."""
        if class_name not in self.classes:
            raise UnsupportedOptionError(
                f"preset {self.name!r} has no class {class_name!r}; "
                f"classes: {', '.join(self.classes)}"
            )
        return self.classes.index(class_name)

    def degradation(self, key: int | str) -> Degradation:
        """The degradation of a class, given by label or by name."""
        index = self.label(key) if isinstance(key, str) else key
        if not 0 <= index < self.num_classes:
            raise UnsupportedOptionError(
                f"preset {self.name!r} has labels 0..{self.num_classes - 1}, got {key}"
            )
        return self.degradations[index]

    def sample(self, img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
        """A degraded copy of ``img`` (float32 HxWx3 in [0, 1]) and its label, drawn uniformly."""
        label = int(rng.integers(self.num_classes))
        return self.degradations[label](img, rng), label


def _preset(name: str, description: str, recipe: tuple[tuple[str, Degradation], ...]) -> TaskPreset:
    classes = tuple(c for c, _ in recipe)
    return TaskPreset(name, description, classes, tuple(d for _, d in recipe))


# CDD-11 class names use short names; "clear" is the empty mix (the identity).
_CDD_PART = {"low": "low_light", "haze": "haze", "rain": "rain", "snow": "snow"}
_CDD11_CLASSES = (
    "clear",
    "low",
    "haze",
    "rain",
    "snow",
    "low+haze",
    "low+rain",
    "low+snow",
    "haze+rain",
    "haze+snow",
    "low+haze+rain",
    "low+haze+snow",
)


def _cdd(class_name: str) -> Degradation:
    parts = [] if class_name == "clear" else class_name.split("+")
    return mix([_CDD_PART[p] for p in parts])


_FIVE = (
    ("derain", get("rain")),
    ("denoise", get("noise")),
    ("dehaze", get("haze")),
    ("low-light", get("low_light")),
    ("deblur", get("motion_blur")),
)

_PRESETS: dict[str, TaskPreset] = {
    p.name: p
    for p in (
        _preset(
            "5d",
            "DCPT 5D all-in-one: Rain100L, CBSD68, SOTS, LOL, GoPro; the reference label order "
            "(0 derain, 1 denoise, 2 dehaze, 3 low-light, 4 deblur)",
            _FIVE,
        ),
        _preset(
            "10d",
            "DCPT 10D all-in-one, reference order; noise sigma drawn from U[1, 50] as in the "
            "reference 10D data",
            (
                ("denoise", get("noise").with_params(sigma=(1, 50))),
                ("motion-deblur", get("motion_blur")),
                ("defocus-deblur", get("defocus_blur")),
                ("jpeg", get("jpeg")),
                ("dehaze", get("haze")),
                ("derain", get("rain")),
                ("desnow", get("snow")),
                ("demosaic", get("mosaic")),
                ("low-light", get("low_light")),
                ("inpainting", get("inpaint_lines")),
            ),
        ),
        _preset(
            "cdd11",
            "CDD-11 mixed degradations: 12 classes counting 'clear' (the reference list; the "
            "dataset's name counts the 11 degraded ones); mixes apply in registry.MIX_ORDER",
            tuple((cls, _cdd(cls)) for cls in _CDD11_CLASSES),
        ),
        _preset(
            "synthetic-7d",
            "the 5D classes plus JPEG and snow, all synthesised from clean photos (no paired "
            "dataset needed); the first five labels match 5d",
            (*_FIVE, ("jpeg", get("jpeg")), ("desnow", get("snow"))),
        ),
    )
}


def list_presets() -> tuple[str, ...]:
    """The preset names."""
    return tuple(_PRESETS)


def get_preset(name: str) -> TaskPreset:
    """The preset called ``name``.

    Raises:
        UnsupportedOptionError: an unknown name (the message lists the valid ones).
    """
    found = _PRESETS.get(name)
    if found is None:
        raise UnsupportedOptionError(f"unknown task preset {name!r}; valid: {', '.join(_PRESETS)}")
    return found
