from __future__ import annotations

import numpy as np
import pytest

from dcpt_sdk.degradations import TaskPreset, get_preset, list_presets
from dcpt_sdk.errors import UnsupportedOptionError


def test_presets_listed() -> None:
    assert list_presets() == ("5d", "10d", "cdd11", "synthetic-7d")


def test_5d_is_the_reference_label_order() -> None:
    preset = get_preset("5d")
    assert preset.classes == ("derain", "denoise", "dehaze", "low-light", "deblur")
    assert [d.name for d in preset.degradations] == [
        "rain",
        "noise",
        "haze",
        "low_light",
        "motion_blur",
    ]
    assert preset.label("dehaze") == 2 and preset.num_classes == 5


def test_10d_reference_order_and_noise_range() -> None:
    preset = get_preset("10d")
    assert preset.classes == (
        "denoise",
        "motion-deblur",
        "defocus-deblur",
        "jpeg",
        "dehaze",
        "derain",
        "desnow",
        "demosaic",
        "low-light",
        "inpainting",
    )
    assert [d.name for d in preset.degradations] == [
        "noise",
        "motion_blur",
        "defocus_blur",
        "jpeg",
        "haze",
        "rain",
        "snow",
        "mosaic",
        "low_light",
        "inpaint_lines",
    ]
    assert preset.degradation("denoise").params[0].describe() == "U[1, 50]"


def test_cdd11_has_clear_and_eleven_mixes() -> None:
    preset = get_preset("cdd11")
    assert preset.num_classes == 12 and preset.classes[0] == "clear"
    assert preset.classes[-2:] == ("low+haze+rain", "low+haze+snow")
    assert preset.degradation("clear").name == "identity"
    assert preset.degradation("low+haze+rain").components == ("haze", "rain", "low_light")
    assert preset.degradation("low").name == "low_light"


def test_synthetic_7d_extends_5d() -> None:
    five, seven = get_preset("5d"), get_preset("synthetic-7d")
    assert seven.classes[:5] == five.classes
    assert seven.classes[5:] == ("jpeg", "desnow")


@pytest.mark.parametrize("name", ["5d", "10d", "cdd11", "synthetic-7d"])
def test_every_class_synthesises(name: str, clean: np.ndarray) -> None:
    preset = get_preset(name)
    assert isinstance(preset, TaskPreset)
    crop = clean[:48, :48]
    for label in range(preset.num_classes):
        out = preset.degradation(label)(crop, np.random.default_rng(label))
        assert out.shape == crop.shape and out.dtype == np.float32
        assert 0.0 <= out.min() and out.max() <= 1.0
    out, label = preset.sample(crop, np.random.default_rng(0))
    assert 0 <= label < preset.num_classes and out.shape == crop.shape


def test_errors() -> None:
    with pytest.raises(UnsupportedOptionError, match="unknown task preset '7d'; valid: 5d, 10d"):
        get_preset("7d")
    with pytest.raises(UnsupportedOptionError, match="has no class 'deblock'; classes: derain"):
        get_preset("5d").label("deblock")
    with pytest.raises(UnsupportedOptionError, match="labels 0..4, got 5"):
        get_preset("5d").degradation(5)
