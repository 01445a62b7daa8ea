from __future__ import annotations

import numpy as np
import pytest

from dcpt_sdk import degradations
from dcpt_sdk.degradations import available, degrade_array, get
from dcpt_sdk.degradations.params import choice, fixed, uniform
from dcpt_sdk.errors import InvalidImageError, UnsupportedOptionError

ISSUE_ORDER = (
    "noise",
    "jpeg",
    "rain",
    "haze",
    "motion_blur",
    "defocus_blur",
    "low_light",
    "snow",
    "mosaic",
    "inpaint_lines",
)


def test_available_lists_every_degradation_in_registry_order() -> None:
    assert available() == ISSUE_ORDER


def test_public_names() -> None:
    for name in ("available", "get", "degrade_array", "mix", "TaskPreset", "get_preset"):
        assert name in degradations.__all__ and hasattr(degradations, name)
    assert "list_presets" in degradations.__all__


def test_unknown_name_suggests_and_lists() -> None:
    with pytest.raises(UnsupportedOptionError, match=r"'rian'; did you mean 'rain'\? valid: noise"):
        get("rian")


def test_unknown_parameter_lists_the_valid_ones(rng: np.random.Generator) -> None:
    img = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(
        UnsupportedOptionError, match=r"unknown parameter\(s\) sigmaa; valid: sigma"
    ):
        degrade_array(img, "noise", rng, sigmaa=3)


@pytest.mark.parametrize(
    ("img", "match"),
    [
        (np.zeros((8, 8, 3), np.uint8), "float32 HxWx3 array in \\[0, 1\\], got uint8 array"),
        (np.zeros((8, 8), np.float32), "got shape \\(8, 8\\)"),
        (np.full((8, 8, 3), 2.0, np.float32), "got \\[2, 2\\]"),
        (np.full((8, 8, 3), np.nan, np.float32), "values in \\[0, 1\\]"),
        ([[0.0]], "got list"),
    ],
)
def test_degrade_array_rejects_other_images(img: object, match: str) -> None:
    with pytest.raises(InvalidImageError, match=match):
        degrade_array(img, "noise", 0)  # type: ignore[arg-type]


def test_rng_may_be_a_generator_or_a_seed() -> None:
    img = np.full((16, 16, 3), 0.5, np.float32)
    a = degrade_array(img, "noise", np.random.default_rng(4))
    np.testing.assert_array_equal(a, degrade_array(img, "noise", 4))


def test_input_is_not_modified() -> None:
    img = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    before = img.copy()
    for name in available():
        degrade_array(img, name, 0)
    np.testing.assert_array_equal(img, before)


def test_with_params_changes_the_default_draw_only() -> None:
    noise = get("noise").with_params(sigma=(1, 50))
    drawn = [noise.sample_params(np.random.default_rng(s))["sigma"] for s in range(50)]
    assert 1 <= min(drawn) and max(drawn) <= 50 and len(set(drawn)) == 50
    assert get("noise").params[0].describe() == "{15, 25, 50}"  # the registry is untouched
    with pytest.raises(UnsupportedOptionError, match="sigma=300"):
        get("noise").with_params(sigma=(1, 300))
    fixed_clip = get("noise").with_params(clip=False)
    assert fixed_clip.sample_params(np.random.default_rng(0))["clip"] is False


def test_param_descriptions() -> None:
    assert uniform("a", 0.5, 2, valid=(0, 9), doc="d").describe() == "U[0.5, 2]"
    assert uniform("n", 5, 10, valid=(0, 99), integer=True, doc="d").describe() == "{5..10}"
    assert choice("s", (15, 25), valid=(0, 255), doc="d").describe() == "{15, 25}"
    assert fixed("clip", True, allowed=(True, False), doc="d").describe() == "True"


def test_choice_params_accept_any_valid_number_but_strings_only_listed() -> None:
    sigma = choice("sigma", (15, 25), valid=(0, 255), doc="d")
    assert sigma.check(33, "noise") == 33.0
    pattern = choice("pattern", ("RGGB", "BGGR"), doc="d")
    with pytest.raises(UnsupportedOptionError, match="pattern takes one of 'RGGB', 'BGGR'"):
        pattern.check("RGBG", "mosaic")


def test_bools_are_not_numbers() -> None:
    with pytest.raises(UnsupportedOptionError):
        uniform("a", 0, 1, valid=(0, 1), doc="d").check(True, "x")
