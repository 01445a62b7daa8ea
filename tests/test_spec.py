from __future__ import annotations

import pytest

from dcpt_sdk.errors import ModelLoadError
from dcpt_sdk.spec import SPEC_VERSION, ClassifierSpec, ModelSpec


def _spec() -> ModelSpec:
    return ModelSpec(
        arch="nafnet",
        hparams={"width": 16, "enc_blk_nums": [1, 2], "dec_blk_nums": [1, 1]},
        pad_multiple=4,
        degradation_classes=("derain", "denoise"),
        classifier=ClassifierSpec("dcpt-classifier", {"feature_dims": [16, 32], "num_classes": 2}),
        provenance={"checkpoint_sha256": "ab" * 32, "config": {"lr": 3e-4}},
    )


def test_json_round_trip_is_exact() -> None:
    spec = _spec()
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec
    assert again.constructor_kwargs()["enc_blk_nums"] == [1, 2]
    assert again.spec_version == SPEC_VERSION


def test_spec_is_immutable() -> None:
    spec = _spec()
    with pytest.raises(AttributeError):
        spec.arch = "restormer"  # type: ignore[misc]
    assert spec.replace(arch="restormer").arch == "restormer"


def test_newer_version_is_refused_with_upgrade_hint() -> None:
    data = _spec().to_dict()
    data["spec_version"] = SPEC_VERSION + 1
    with pytest.raises(ModelLoadError, match="pip install -U dcpt-sdk"):
        ModelSpec.from_dict(data)


def test_unknown_fields_and_bad_json_are_clear_errors() -> None:
    with pytest.raises(ModelLoadError, match="unknown fields"):
        ModelSpec.from_dict({"arch": "nafnet", "colour": "blue"})
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        ModelSpec.from_json("{nope")
    with pytest.raises(ModelLoadError, match="no 'arch'"):
        ModelSpec.from_dict({"hparams": {}})
