from __future__ import annotations

from pathlib import Path

import pytest

from dcpt_sdk.artifact import ARTIFACT_VERSION, ArtifactInfo
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


def test_spec_and_dcpt_json_check_their_versions_alike() -> None:
    artifact = {"artifact_version": ARTIFACT_VERSION + 1, "spec": _spec().to_dict()}
    with pytest.raises(ModelLoadError) as newer_artifact:
        ArtifactInfo.from_dict(artifact)
    assert str(newer_artifact.value) == (
        f"dcpt.json version {ARTIFACT_VERSION + 1} is newer than this dcpt-sdk reads "
        f"({ARTIFACT_VERSION}): upgrade dcpt-sdk (pip install -U dcpt-sdk)"
    )
    spec = {**_spec().to_dict(), "spec_version": SPEC_VERSION + 1}
    with pytest.raises(ModelLoadError, match=f"^model spec version {SPEC_VERSION + 1} is newer"):
        ModelSpec.from_dict(spec)
    for bad in (0, "2", True):
        with pytest.raises(ModelLoadError, match="field 'artifact_version' must be an int >= 1"):
            ArtifactInfo.from_dict({**artifact, "artifact_version": bad})
        with pytest.raises(ModelLoadError, match="field 'spec_version' must be an int >= 1"):
            ModelSpec.from_dict({**spec, "spec_version": bad})


def test_unknown_fields_and_bad_json_are_clear_errors() -> None:
    with pytest.raises(ModelLoadError, match="unknown fields"):
        ModelSpec.from_dict({"arch": "nafnet", "colour": "blue"})
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        ModelSpec.from_json("{nope")
    with pytest.raises(ModelLoadError, match="no 'arch'"):
        ModelSpec.from_dict({"hparams": {}})


# Files written before ``scale`` and ``verified_precisions`` were retired carry both fields.
_OLD_FIELDS = {"scale": 1, "verified_precisions": ["int8"]}


def test_retired_fields_of_older_specs_are_read_and_dropped() -> None:
    spec = _spec()
    old = {**spec.to_dict(), **_OLD_FIELDS}
    assert ModelSpec.from_dict(old) == spec
    assert not set(_OLD_FIELDS) & set(spec.to_dict())  # nothing writes them any more


@pytest.mark.parametrize("scale", [2, True, "1"])
def test_an_older_spec_claiming_another_scale_is_still_refused(scale: object) -> None:
    with pytest.raises(ModelLoadError, match=r"'scale' must be 1 \(dcpt-sdk restores at the"):
        ModelSpec.from_dict({**_spec().to_dict(), "scale": scale})


def test_an_older_artifact_dcpt_json_still_loads() -> None:
    from dcpt_sdk.artifact import ArtifactInfo

    spec = _spec()
    info = ArtifactInfo.from_dict(
        {
            "spec": {**spec.to_dict(), **_OLD_FIELDS},
            "format": "onnx",
            "precision": "int8",
            "model_file": "model.onnx",
        }
    )
    assert info.spec == spec and info.precision == "int8"


def test_a_checkpoint_written_with_the_retired_fields_loads(tmp_path: Path) -> None:
    """Weights saved before ``scale``/``verified_precisions`` were retired still load: the
    built-in model re-saved with both fields in its metadata, as dcpt-sdk wrote them then."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from dcpt_sdk.checkpoint import load_model
    from dcpt_sdk.zoo import model_path

    with safe_open(str(model_path("default")), "pt") as file:
        metadata = dict(file.metadata())
        tensors = {key: file.get_tensor(key) for key in file.keys()}
    stored = json.loads(metadata["dcpt_spec"])
    stored.update(scale=1, verified_precisions=["fp32"])
    metadata["dcpt_spec"] = json.dumps(stored)
    old = tmp_path / "old.safetensors"
    save_file(tensors, str(old), metadata=metadata)
    loaded = load_model(old)
    assert loaded.spec.arch == stored["arch"]
    assert not hasattr(loaded.spec, "verified_precisions")
