"""The built-in default model: shipped inside the package, usable with no argument and offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import dcpt_sdk
from dcpt_sdk import zoo
from dcpt_sdk.cli.restore import main as restore_main
from dcpt_sdk.degradations import get_preset

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_default_model_ships_with_its_card_and_spec() -> None:
    path = zoo.model_path("default")
    assert path.name == f"{zoo.DEFAULT_MODEL}.safetensors"
    assert path.stat().st_size < 20 * 2**20
    assert path.with_suffix(".md").is_file()
    model = dcpt_sdk.load_model(path)
    spec = model.spec
    assert spec.name == zoo.DEFAULT_MODEL and spec.arch == "nafnet"
    assert spec.degradation_classes == get_preset("synthetic-7d").classes
    assert spec.classifier is not None and "Apache-2.0" in spec.weights_license


def test_restorer_without_arguments_restores_and_classifies() -> None:
    restorer = dcpt_sdk.Restorer()
    assert restorer.spec.name == zoo.DEFAULT_MODEL
    assert dcpt_sdk.Restorer("default").spec == restorer.spec
    image = dcpt_sdk.read_image(EXAMPLES / "degraded" / "low-light.png").pixels
    restored = restorer.run(image)
    assert restored.shape == image.shape and restored.dtype == np.uint8
    probabilities = restorer.classify(image)
    assert list(probabilities) == list(restorer.spec.degradation_classes)
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-6)


def test_the_default_model_lifts_a_held_out_example() -> None:
    """A real-use smoke check on one committed example (the full figures: make quality)."""
    from dcpt_sdk.metrics import psnr

    record = next(
        r for r in json.loads((EXAMPLES / "examples.json").read_text()) if r["class"] == "low-light"
    )
    degraded = dcpt_sdk.read_image(EXAMPLES / record["file"]).pixels
    clean = dcpt_sdk.read_image(EXAMPLES / record["clean"]).pixels
    restored, probabilities = dcpt_sdk.Restorer().run_and_classify(degraded)
    assert psnr(restored, clean) > psnr(degraded, clean) + 3.0
    assert max(probabilities, key=probabilities.__getitem__) == "low-light"


def test_dcpt_restore_needs_no_model_argument(tmp_path: Path) -> None:
    source = EXAMPLES / "degraded" / "denoise.png"
    assert restore_main([str(source), "-o", str(tmp_path / "out.png")]) == 0
    assert (tmp_path / "out.png").is_file()
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.png").write_bytes(source.read_bytes())
    assert restore_main([str(folder), "-o", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "a.png").is_file()
