from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from _models import randomised, with_light_classifier
from PIL import Image

from dcpt_sdk.errors import InvalidImageError, ModelLoadError, UnsupportedOptionError
from dcpt_sdk.models import create_model
from dcpt_sdk.restorer import Restorer


def identity_nafnet() -> torch.nn.Module:
    """A tiny NAFNet that returns its input exactly (fresh blocks are identities; zero ending)."""
    model = create_model("nafnet-tiny")
    with torch.no_grad():
        model.ending.weight.zero_()
        model.ending.bias.zero_()
    return model


def random_nafnet(seed: int = 0) -> torch.nn.Module:
    return randomised(create_model("nafnet-tiny"), seed=seed)


@pytest.fixture(scope="module")
def identity() -> Restorer:
    return Restorer(identity_nafnet(), device="cpu")


@pytest.mark.parametrize(
    ("shape", "dtype"),
    [
        ((21, 33, 3), np.uint8),
        ((21, 33, 3), np.uint16),
        ((21, 33, 3), np.float32),
        ((21, 33, 3), np.float16),
        ((21, 33), np.uint8),
        ((21, 33, 1), np.uint16),
        ((21, 33, 4), np.uint8),
        ((1, 1, 3), np.uint8),
    ],
)
def test_run_returns_the_same_kind_of_image(identity: Restorer, shape: tuple, dtype: type) -> None:
    rng = np.random.default_rng(0)
    if np.issubdtype(dtype, np.integer):
        img = rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True).astype(dtype)
    else:
        img = rng.random(shape).astype(dtype)
    out = identity.run(img)
    assert out.shape == img.shape and out.dtype == img.dtype
    if np.issubdtype(dtype, np.integer):
        np.testing.assert_array_equal(out, img)  # identity model: exact, 16-bit never 8-bit
    else:
        np.testing.assert_allclose(out, img, atol=1e-3)


def test_alpha_is_carried_through_untouched() -> None:
    restorer = Restorer(random_nafnet(), device="cpu")
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, size=(30, 40, 4), dtype=np.uint8)
    out = restorer.run(img)
    np.testing.assert_array_equal(out[..., 3], img[..., 3])
    colour_only = restorer.run(np.ascontiguousarray(img[..., :3]))
    np.testing.assert_array_equal(out[..., :3], colour_only)


def test_gray_input_comes_back_gray(identity: Restorer) -> None:
    gray = (np.arange(24 * 18) % 256).astype(np.uint8).reshape(24, 18)
    np.testing.assert_array_equal(identity.run(gray), gray)


def test_pil_and_path_inputs(identity: Restorer, tmp_path: Path) -> None:
    img = np.random.default_rng(2).integers(0, 256, size=(17, 29, 3), dtype=np.uint8)
    pil = Image.fromarray(img)
    out = identity.run(pil)
    assert isinstance(out, Image.Image) and out.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(out), img)
    pil.save(tmp_path / "x.png")
    np.testing.assert_array_equal(identity.run(tmp_path / "x.png"), img)


def test_tiled_output_matches_untiled_for_a_local_model() -> None:
    # Fresh NAFNet blocks are identities; with the upsampling convs zeroed the deep path adds
    # nothing, so only intro/ending (3x3 convs) act: a receptive field far smaller than the
    # overlap, so the tiles must agree with the whole image.
    model = create_model("nafnet-tiny")
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for param in model.ups.parameters():
            param.zero_()
        model.intro.weight.copy_(torch.randn(model.intro.weight.shape, generator=generator) * 0.1)
        model.ending.weight.copy_(torch.randn(model.ending.weight.shape, generator=generator) * 0.1)
    img = np.random.default_rng(3).random((150, 211, 3)).astype(np.float32) * 0.5 + 0.25
    whole = Restorer(model, device="cpu", tile=None).run(img)
    tiled = Restorer(model, device="cpu", tile=64, tile_overlap=16).run(img)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)


def test_threads_give_the_same_outputs_as_sequential_calls() -> None:
    restorer = Restorer(random_nafnet(4), device="cpu")
    rng = np.random.default_rng(4)
    images = [rng.integers(0, 256, size=(40 + i, 36, 3), dtype=np.uint8) for i in range(8)]
    expected = [restorer.run(img) for img in images]
    results: list[np.ndarray | None] = [None] * len(images)

    def work(index: int) -> None:
        results[index] = restorer.run(images[index])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)


def test_run_batch_matches_run(identity: Restorer) -> None:
    rng = np.random.default_rng(5)
    images = [rng.integers(0, 256, size=(20, 20, 3), dtype=np.uint8) for _ in range(3)]
    for got, img in zip(identity.run_batch(images), images, strict=True):
        np.testing.assert_array_equal(got, img)


def test_classify_returns_probabilities_in_class_order() -> None:
    model = with_light_classifier(random_nafnet(6), ("derain", "denoise", "dehaze"))
    probs = Restorer(model, device="cpu").classify(np.full((33, 45, 3), 128, np.uint8))
    assert list(probs) == ["derain", "denoise", "dehaze"]
    assert abs(sum(probs.values()) - 1.0) < 1e-6


def test_errors_say_what_and_how(identity: Restorer) -> None:
    with pytest.raises(UnsupportedOptionError, match="carries no degradation classifier"):
        identity.classify(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InvalidImageError):
        identity.run(np.zeros((8, 8, 3), np.int32))
    with pytest.raises(InvalidImageError):
        identity.run(np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(InvalidImageError, match="cannot restore a list"):
        identity.run([1, 2, 3])  # type: ignore[arg-type]
    with pytest.raises(UnsupportedOptionError, match="valid: auto, torch, onnxruntime"):
        Restorer(identity_nafnet(), backend="tflite")
    with pytest.raises(UnsupportedOptionError, match="export it first"):
        Restorer(identity_nafnet(), backend="openvino")
    with pytest.raises(ModelLoadError, match="not a built-in model"):
        Restorer("no-such-model")
    with pytest.raises(UnsupportedOptionError, match="tile must be"):
        Restorer(identity_nafnet(), tile=3)


def test_image_over_budget_without_tiling_is_a_clear_error() -> None:
    restorer = Restorer(identity_nafnet(), device="cpu", tile=None, memory_budget_mb=8)
    with pytest.raises(InvalidImageError, match="tiling is off"):
        restorer.run(np.zeros((256, 256, 3), np.uint8))
    tiled = Restorer(identity_nafnet(), device="cpu", tile="auto", memory_budget_mb=8)
    img = np.random.default_rng(7).integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tiled.run(img), img)


class _OutOfMemoryAbove(torch.nn.Module):
    """Identity that fails like a full GPU for inputs above `limit` pixels (retry-logic double)."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.sizes: list[tuple[int, int]] = []
        self.spec = create_model("nafnet-tiny").spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.sizes.append((x.shape[2], x.shape[3]))
        if x.shape[2] * x.shape[3] > self.limit:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return x


def test_out_of_memory_halves_the_tile_and_retries(caplog: pytest.LogCaptureFixture) -> None:
    net = _OutOfMemoryAbove(limit=130 * 130)
    restorer = Restorer(net, device="cpu", tile=256, tile_overlap=16)
    img = np.random.default_rng(8).integers(0, 256, size=(300, 280, 3), dtype=np.uint8)
    out = restorer.run(img)
    assert "retrying with tile=128" in caplog.text
    np.testing.assert_array_equal(out, img)
    assert max(h * w for h, w in net.sizes) > net.limit  # it did fail first
    assert net.sizes[-1][0] <= 128


def test_out_of_memory_at_the_smallest_tile_says_what_to_do() -> None:
    from dcpt_sdk.errors import BackendError

    restorer = Restorer(_OutOfMemoryAbove(limit=10), device="cpu", tile=128, tile_overlap=16)
    with pytest.raises(BackendError, match="smaller"):
        restorer.run(np.zeros((200, 200, 3), np.uint8))


def test_run_and_classify_equals_run_and_classify_from_one_pass() -> None:
    model = with_light_classifier(random_nafnet(7), ("derain", "denoise", "dehaze"))
    restorer = Restorer(model, device="cpu")
    image = np.random.default_rng(3).integers(0, 256, (33, 45, 3), dtype=np.uint8)
    calls = []
    original = model.forward_features
    model.forward_features = lambda x: calls.append(1) or original(x)  # type: ignore[method-assign]
    restored, probs = restorer.run_and_classify(image)
    assert len(calls) == 1, "restore + classify must share one pass through the network"
    model.forward_features = original  # type: ignore[method-assign]
    np.testing.assert_array_equal(restored, restorer.run(image))
    expected = restorer.classify(image)
    assert list(probs) == list(expected)
    np.testing.assert_allclose(list(probs.values()), list(expected.values()), atol=1e-6)


def test_run_and_classify_on_a_tiled_image_classifies_the_whole_image() -> None:
    model = with_light_classifier(random_nafnet(8), ("derain", "denoise"))
    restorer = Restorer(model, device="cpu", tile=64, tile_overlap=16)
    image = np.random.default_rng(4).integers(0, 256, (150, 170, 3), dtype=np.uint8)
    restored, probs = restorer.run_and_classify(image)
    np.testing.assert_array_equal(restored, restorer.run(image))
    assert probs == restorer.classify(image)


def test_run_reports_tile_progress() -> None:
    restorer = Restorer(random_nafnet(9), device="cpu", tile=64, tile_overlap=16)
    seen: list[tuple[int, int]] = []
    restorer.run(np.zeros((150, 170, 3), np.uint8), on_tile=lambda d, t: seen.append((d, t)))
    total = seen[-1][1]
    assert total > 1 and [d for d, _ in seen] == list(range(1, total + 1))


def test_a_float_image_on_the_0_255_scale_is_an_error_not_a_silent_clip(identity: Restorer) -> None:
    with pytest.raises(InvalidImageError, match=r"values up to 200.*divide a 0-255 image by 255"):
        identity.run(np.full((8, 8, 3), 200.0, np.float32))
    slightly_over = np.full((8, 8, 3), 1.2, np.float32)  # unclipped noise: accepted
    assert identity.run(slightly_over).max() <= 1.0
