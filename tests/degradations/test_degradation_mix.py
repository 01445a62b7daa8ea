from __future__ import annotations

import numpy as np
import pytest

from dcpt_sdk.degradations import MIX_ORDER, available, degrade_array, get, mix
from dcpt_sdk.errors import UnsupportedOptionError


def test_mix_order_covers_the_registry() -> None:
    assert sorted(MIX_ORDER) == sorted(available())
    assert MIX_ORDER.index("haze") < MIX_ORDER.index("rain") < MIX_ORDER.index("low_light")


def test_a_mix_is_a_set_named_in_physical_order() -> None:
    a = mix(["low_light", "rain", "haze"])
    b = mix("haze+low_light+rain")
    assert a.name == b.name == "haze+rain+low_light"
    assert a.components == ("haze", "rain", "low_light")
    img = np.random.default_rng(0).random((32, 32, 3), dtype=np.float32)
    np.testing.assert_array_equal(
        a(img, np.random.default_rng(1)), b(img, np.random.default_rng(1))
    )


def test_get_resolves_plus_names_and_single_mixes_are_the_entry() -> None:
    assert get("rain+haze").name == "haze+rain"
    assert mix(["rain"]) is get("rain")


def test_mix_applies_components_in_order(clean: np.ndarray) -> None:
    params = {"haze.beta": 1.2, "haze.airlight": 0.9, "low_light.exposure": 0.3}
    params |= {"low_light.gamma": 2.0, "low_light.shot": 0.002, "low_light.read": 0.005}
    out = degrade_array(clean, "low_light+haze", 5, **params)
    rng = np.random.default_rng(5)
    hazy = get("haze")(clean, rng, beta=1.2, airlight=0.9)
    expected = get("low_light")(hazy, rng, exposure=0.3, gamma=2.0, shot=0.002, read=0.005)
    np.testing.assert_array_equal(out, expected)


def test_mix_parameters_are_prefixed(clean: np.ndarray) -> None:
    entry = mix("haze+rain")
    assert "haze.beta" in entry.param_names and "rain.angle" in entry.param_names
    with pytest.raises(UnsupportedOptionError, match="valid: haze.beta U"):
        entry(clean, np.random.default_rng(0), beta=1.0)
    with pytest.raises(UnsupportedOptionError, match=r"haze.beta=-1 is not valid"):
        entry(clean, np.random.default_rng(0), **{"haze.beta": -1})


def test_mix_output_contract(clean: np.ndarray) -> None:
    out = degrade_array(clean, "low_light+haze+snow", 0)
    assert out.dtype == np.float32 and out.shape == clean.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert not np.array_equal(out, degrade_array(clean, "low_light+haze+snow", 1))


def test_empty_mix_is_the_identity(clean: np.ndarray) -> None:
    identity = mix([])
    assert identity.name == "identity" and identity.params == ()
    np.testing.assert_array_equal(identity(clean, np.random.default_rng(0)), clean)


@pytest.mark.parametrize(
    ("names", "match"),
    [("haze+haze", "repeats a degradation"), ("haze+fog", "unknown degradation 'fog'")],
)
def test_bad_mixes(names: str, match: str) -> None:
    with pytest.raises(UnsupportedOptionError, match=match):
        mix(names)
