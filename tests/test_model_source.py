"""Restorer over exported artifacts: auto choice, explicit backends, classify, missing packages."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from _models import randomised, with_light_classifier

from dcpt_sdk.errors import MissingDependencyError, ModelLoadError, UnsupportedOptionError
from dcpt_sdk.models import create_model
from dcpt_sdk.restorer import Restorer

pytest.importorskip("onnxruntime", reason="needs the onnx extra")
pytest.importorskip("openvino", reason="needs the openvino extra")


def _model() -> torch.nn.Module:
    return with_light_classifier(randomised(create_model("nafnet-tiny")), ("derain", "denoise"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, Path]:
    from dcpt_sdk.export import export

    model = _model()
    root = tmp_path_factory.mktemp("exported")
    export(model, "onnx", "fp32", root / "onnx-fp32")
    export(model, "openvino", "fp32", root / "openvino-fp32")
    return model, root


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from dcpt_sdk.zoo.samples import sample_images

    return np.ascontiguousarray(sample_images()[1][50:111, 80:163])


def test_auto_runs_the_artifact_it_measured_fastest(exported, photo) -> None:  # type: ignore[no-untyped-def]
    model, root = exported
    reference = Restorer(model, device="cpu").run(photo)
    auto = Restorer(root)
    choice = auto.auto_choice
    assert choice is not None and not choice.from_cache
    timed = {m.backend: m.ms for m in choice.measurements}
    assert set(timed) == {"onnxruntime", "openvino"} and None not in timed.values()
    assert auto.backend == min(timed, key=timed.__getitem__) == choice.chosen.backend
    assert "auto chose" in choice.summary() and "ms" in choice.summary()
    again = Restorer(root).auto_choice
    assert again is not None and again.from_cache and again.chosen == choice.chosen
    ort = Restorer(root, backend="onnxruntime")
    assert ort.backend == "onnxruntime"
    for restorer in (auto, ort):
        out = restorer.run(photo)
        assert out.dtype == np.uint8 and out.shape == photo.shape
        assert np.abs(out.astype(int) - reference.astype(int)).max() <= 1


def test_classify_from_an_artifact_matches_torch(exported, photo) -> None:  # type: ignore[no-untyped-def]
    model, root = exported
    want = Restorer(model, device="cpu").classify(photo)
    got = Restorer(root / "onnx-fp32").classify(photo)
    assert list(got) == ["derain", "denoise"]
    assert max(abs(got[k] - want[k]) for k in want) < 1e-4


def test_artifact_choice_errors(exported, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _, root = exported
    with pytest.raises(UnsupportedOptionError, match="available here: onnx/fp32, openvino/fp32"):
        Restorer(root, precision="int8")
    with pytest.raises(
        UnsupportedOptionError, match="no exported artifact matches backend='tensorrt'"
    ):
        Restorer(root, backend="tensorrt")
    import dcpt_sdk.runtimes.openvino_backend as ov

    monkeypatch.setattr(ov, "is_available", lambda: False)
    with pytest.raises(MissingDependencyError, match=r"pip install 'dcpt-sdk\[openvino\]'"):
        Restorer(root / "openvino-fp32")
    assert Restorer(root).backend == "onnxruntime"  # auto skips what cannot run here


def test_a_folder_that_is_no_artifact(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="neither an exported artifact"):
        Restorer(tmp_path)


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        Restorer(tmp_path / "exported")
