"""Every Restorer feature on every backend x precision installed here, against torch fp32.

One small NAFNet with a classifier, exported once per (format, precision); each case runs the
same feature through ``Restorer(artifact)`` and through ``Restorer(model, backend="torch")`` in
fp32 and compares: dtypes (uint8, uint16, float32), gray, alpha, tiling, run_batch with and
without stacking same-sized images into one call, classify, and concurrent calls from threads.
The tolerance is the precision's: fp32 within one 8-bit level, reduced precisions by PSNR.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch
from _models import randomised, with_light_classifier

from dcpt_sdk.formats import get_format
from dcpt_sdk.metrics import psnr
from dcpt_sdk.models import create_model
from dcpt_sdk.restorer import Restorer

# (backend, precision, format to export or None for torch, minimum PSNR dB vs torch fp32)
CASES = [
    ("torch", "fp32", None, 60.0),
    ("torch", "bf16", None, 30.0),
    ("onnxruntime", "fp32", "onnx", 60.0),
    ("onnxruntime", "fp16", "onnx", 35.0),
    ("onnxruntime", "int8", "onnx", 25.0),
    ("openvino", "fp32", "openvino", 60.0),
    ("openvino", "bf16", "openvino", 30.0),
    ("openvino", "int8", "openvino", 25.0),
]
IDS = [f"{b}-{p}" for b, p, _, _ in CASES]


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return with_light_classifier(randomised(create_model("nafnet-tiny")), ("derain", "denoise"))


@pytest.fixture(scope="module")
def reference(model: torch.nn.Module) -> Restorer:
    return Restorer(model, backend="torch", device="cpu", precision="fp32")


@pytest.fixture(scope="module")
def restorers(model: torch.nn.Module, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Lazily built Restorer per case (an export per artifact case, once per module)."""
    root = tmp_path_factory.mktemp("backends")
    built: dict[str, Any] = {}

    def get(case: tuple[str, str, str | None, float]) -> Restorer:
        backend, precision, fmt, _ = case
        key = f"{backend}-{precision}"
        if key not in built:
            if fmt is None:
                built[key] = Restorer(model, backend="torch", device="cpu", precision=precision)
            else:
                pytest.importorskip(get_format(fmt).python_module, reason=f"needs the {fmt} extra")
                if precision == "int8":
                    pytest.importorskip("nncf", reason="int8 export needs the quant extra")
                from dcpt_sdk.export import export

                export(model, fmt, precision, root / key)
                built[key] = Restorer(root / key, backend=backend)
        return built[key]

    return {"get": get}


def _photo(height: int = 45, width: int = 61) -> np.ndarray:
    from dcpt_sdk.zoo.samples import sample_images

    return np.ascontiguousarray(sample_images()[0][100 : 100 + height, 120 : 120 + width])


def _agree(got: np.ndarray, want: np.ndarray, floor_db: float) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype
    if floor_db >= 60:  # fp32: at most one level of the output's integer scale apart
        diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
        assert diff.max() <= (1e-4 if want.dtype.kind == "f" else 1), diff.max()
    else:
        assert psnr(got, want) >= floor_db


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "gray", "rgba"])
def test_image_kinds(restorers: dict, reference: Restorer, case: tuple, dtype: str) -> None:
    photo = _photo()
    image: np.ndarray
    if dtype == "uint16":
        image = photo.astype(np.uint16) * 257
    elif dtype == "float32":
        image = photo.astype(np.float32) / 255
    elif dtype == "gray":
        image = np.ascontiguousarray(photo[:, :, 1])
    elif dtype == "rgba":
        alpha = np.linspace(0, 255, photo.shape[1], dtype=np.uint8)[None, :, None]
        image = np.dstack([photo, np.broadcast_to(alpha, photo.shape[:2] + (1,))])
    else:
        image = photo
    got = restorers["get"](case).run(image)
    want = reference.run(image)
    if dtype == "rgba":
        np.testing.assert_array_equal(got[:, :, 3], image[:, :, 3])  # alpha carried untouched
    _agree(got, want, case[3])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tiled_run(restorers: dict, reference: Restorer, case: tuple) -> None:
    image = _photo(150, 130)
    runner = restorers["get"](case)
    runner.tile, reference.tile = 96, 96  # with the default 64 px overlap: several tiles
    try:
        got, want = runner.run(image), reference.run(image)
    finally:
        runner.tile = reference.tile = "auto"
    _agree(got, want, case[3])


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize("stacked", [False, True], ids=["one-by-one", "stacked"])
def test_run_batch(
    restorers: dict, reference: Restorer, case: tuple, stacked: bool, monkeypatch: Any
) -> None:
    """Stacked: same-sized images go through one call (the path GPUs take); unstacked: run()."""
    runner = restorers["get"](case)
    monkeypatch.setattr(runner._runtime, "batch_gain", stacked)
    images = [_photo(), _photo(), _photo(33, 47)]
    got = list(runner.run_batch(images))
    for out, image in zip(got, images, strict=True):
        _agree(out, reference.run(image), case[3])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_classify(restorers: dict, reference: Restorer, case: tuple) -> None:
    image = _photo()
    got, want = restorers["get"](case).classify(image), reference.classify(image)
    assert list(got) == list(want)
    tolerance = 1e-4 if case[3] >= 60 else 0.1
    assert max(abs(got[k] - want[k]) for k in want) <= tolerance
    runner = restorers["get"](case)
    restored, probabilities = runner.run_and_classify(image)
    _agree(restored, reference.run(image), case[3])
    assert max(abs(probabilities[k] - want[k]) for k in want) <= tolerance
    # Artifacts take one pass (the classifier file's image) except int8, whose fp32
    # classifier file would not give run()'s image: there the int8 model file restores.
    own = runner.run(image)
    if case[2] is not None:
        assert runner._runtime.one_pass == (case[1] != "int8")
    if case[1] == "int8":
        np.testing.assert_array_equal(restored, own)
    else:
        assert np.abs(restored.astype(int) - own.astype(int)).max() <= 1


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_threads(restorers: dict, case: tuple) -> None:
    """Concurrent run() calls on one Restorer give what sequential calls give."""
    runner = restorers["get"](case)
    images = [_photo(40 + 4 * i, 50) for i in range(6)]
    sequential = [runner.run(image) for image in images]
    with ThreadPoolExecutor(max_workers=3) as pool:
        parallel = list(pool.map(runner.run, images))
    for a, b in zip(sequential, parallel, strict=True):
        np.testing.assert_array_equal(a, b)


def test_every_case_is_a_distinct_runtime(restorers: dict) -> None:
    seen = set()
    for case in CASES:
        try:
            runner = restorers["get"](case)
        except pytest.skip.Exception:
            continue
        assert (runner.backend, runner.precision) == (case[0], case[1])
        seen.add(id(runner))
    assert len(seen) >= 2
