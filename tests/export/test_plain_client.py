"""The artifact contract: a client that never imports dcpt-sdk, following dcpt.json's ``io``
section alone, gets exactly what ``Restorer(dir).run()`` gives, and the classifier's
probabilities to 1e-6, reading the logits by name or as output 0, and the classifier file's own
restored image. A client that ignores the pad rule does not (the test can fail)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dcpt_sdk
from dcpt_sdk.formats import get_format

CLIENT = Path(__file__).parent / "clients" / "plain_client.py"
CASES = [
    ("onnx", "fp32"),
    ("onnx", "fp16"),
    ("onnx", "int8"),
    ("openvino", "fp32"),
    ("openvino", "fp16"),
    ("openvino", "int8"),
]


def _image() -> np.ndarray:
    """A natural crop with an odd size, so both sides need padding (37 x 53 -> 48 x 64)."""
    from dcpt_sdk.zoo.samples import SAMPLES_DIR

    pixels = dcpt_sdk.read_image(SAMPLES_DIR / "chelsea.png").pixels
    return np.ascontiguousarray(pixels[100:137, 150:203, :3])


def _plain_client(directory: Path, tmp_path: Path, *extra: str) -> dict[str, np.ndarray]:
    image_file, out_file = tmp_path / "image.npy", tmp_path / "out.npz"
    np.save(image_file, _image())
    done = subprocess.run(
        [sys.executable, str(CLIENT), str(directory), str(image_file), str(out_file), *extra],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(out_file) as data:
        return dict(data)


@pytest.mark.parametrize(("fmt", "precision"), CASES)
def test_plain_client_reproduces_restorer_exactly(
    exported, tmp_path: Path, fmt: str, precision: str
) -> None:
    pytest.importorskip(fmt if fmt == "openvino" else "onnxruntime")
    directory, _ = exported("nafnet-tiny", fmt, precision)
    client = _plain_client(directory, tmp_path)
    restorer = dcpt_sdk.Restorer(directory, backend=get_format(fmt).backend)
    image = _image()
    expected = restorer.run(image)
    assert client["restored"].dtype == expected.dtype == np.uint8
    np.testing.assert_array_equal(client["restored"], expected)
    probabilities = restorer.classify(image)
    assert list(client["classes"]) == list(probabilities)
    np.testing.assert_allclose(client["probabilities"], list(probabilities.values()), atol=1e-6)
    # Output 0 of the classifier file is still the logits (a client reading by position).
    np.testing.assert_array_equal(client["probabilities_index0"], client["probabilities"])
    # Its second output is the restored image of the same pass: the restorer's, to rounding,
    # where the two files share a precision (an int8 artifact's classifier file is fp32).
    assert client["one_pass"].shape == expected.shape
    if precision != "int8":
        assert np.abs(client["one_pass"].astype(int) - expected.astype(int)).max() <= 1


def test_a_client_ignoring_the_pad_rule_does_not_match(exported, tmp_path: Path) -> None:
    directory, _ = exported("nafnet-tiny", "onnx", "fp32")
    client = _plain_client(directory, tmp_path, "--ignore-pad-rule")
    expected = dcpt_sdk.Restorer(directory, backend="onnxruntime").run(_image())
    assert np.abs(client["restored"].astype(int) - expected.astype(int)).max() > 0
