from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dcpt_sdk.errors import BackendError, UnsupportedOptionError
from dcpt_sdk.tiling import (
    AxisLayout,
    choose_tile_size,
    crop,
    is_out_of_memory,
    pad_to_multiple,
    reflect_index,
    run_padded,
    run_tiled,
    run_with_oom_retry,
)

SIZES = [(1, 1), (1, 9), (5, 3), (8, 8), (37, 53), (70, 41)]


def _box_blur(x: torch.Tensor) -> torch.Tensor:
    """3x3 average per channel: receptive field radius 1, far below overlap // 4 below."""
    weight = torch.full((x.shape[1], 1, 3, 3), 1 / 9)
    return F.conv2d(x, weight, padding=1, groups=x.shape[1])


# -- padding ---------------------------------------------------------------------------------


def test_reflect_index_mirrors_and_repeats():
    assert reflect_index(3, 8).tolist() == [0, 1, 2, 1, 0, 1, 2, 1]
    assert reflect_index(1, 4).tolist() == [0, 0, 0, 0]
    assert reflect_index(5, 5).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("height", "width"), [(5, 7), (13, 9), (16, 17)])
def test_pad_matches_torch_reflect_where_torch_can(height, width):
    x = torch.rand(2, 3, height, width)
    padded, size = pad_to_multiple(x, 8)
    assert size == (height, width) and padded.shape[-2:] == (
        -(-height // 8) * 8,
        -(-width // 8) * 8,
    )
    pad = (0, padded.shape[-1] - width, 0, padded.shape[-2] - height)
    torch.testing.assert_close(padded, F.pad(x, pad, mode="reflect"), rtol=0, atol=0)
    torch.testing.assert_close(crop(padded, *size), x, rtol=0, atol=0)


@pytest.mark.parametrize(("height", "width"), [(1, 1), (1, 2), (2, 3), (3, 1)])
def test_pad_works_where_plain_reflect_cannot(height, width):
    x = torch.rand(1, 3, height, width)
    padded, size = pad_to_multiple(x, 16)
    assert padded.shape == (1, 3, 16, 16) and size == (height, width)
    torch.testing.assert_close(crop(padded, height, width), x, rtol=0, atol=0)
    if height == 1:  # a single row can only be repeated
        assert bool((padded == padded[:, :, :1]).all())


def test_pad_returns_input_when_already_a_multiple():
    x = torch.rand(1, 3, 16, 24)
    assert pad_to_multiple(x, 8)[0] is x


# -- layout and weights ----------------------------------------------------------------------


@pytest.mark.parametrize("multiple", [1, 8])
@pytest.mark.parametrize(
    ("tile", "overlap"), [(16, 0), (16, 4), (32, 8), (32, 16), (64, 32), (24, 20)]
)
def test_weights_sum_to_one_and_tiles_cover_the_axis(multiple, tile, overlap):
    if tile % multiple:
        pytest.skip("tile must be a multiple")
    for size in [1, 7, 16, 17, 31, 33, 50, 64, 65, 100, 127, 250]:
        layout = AxisLayout.build(size, tile, overlap, multiple)
        assert layout.padded % multiple == 0 and layout.padded >= size
        assert layout.starts[0] == 0 and layout.starts[-1] + layout.length == layout.padded
        total = torch.zeros(layout.padded)
        for start, weight in zip(layout.starts, layout.weights, strict=True):
            assert weight.shape == (layout.length,) and bool((weight >= 0).all())
            total[start : start + layout.length] += weight
        torch.testing.assert_close(total, torch.ones_like(total))
        for left, right in zip(layout.starts, layout.starts[1:], strict=False):
            assert left + layout.length - right >= overlap


def test_inner_edges_carry_no_weight():
    layout = AxisLayout.build(100, 32, 16, 8)
    margin = 16 // 4
    for index, weight in enumerate(layout.weights):
        if index > 0:
            assert bool((weight[:margin] == 0).all())
        if index < len(layout.weights) - 1:
            assert bool((weight[-margin:] == 0).all())
    assert layout.weights[0][0] == 1 and layout.weights[-1][-1] == 1  # image borders keep weight


def test_blended_weights_sum_to_one_in_2d():
    ones = run_tiled(lambda t: torch.ones_like(t), torch.rand(1, 3, 77, 91), 32, 12, 4)
    torch.testing.assert_close(ones, torch.ones(1, 3, 77, 91))


# -- tiled runs ------------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize("tiles_per_call", [1, 3])
def test_identity_is_exact(height, width, tiles_per_call):
    x = torch.rand(2, 3, height, width)
    out = run_tiled(lambda t: t, x, 16, 4, 8, tiles_per_call=tiles_per_call)
    assert out.shape == x.shape and out.dtype == torch.float32
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("height", "width"), SIZES)
@pytest.mark.parametrize(("tile", "overlap"), [(16, 8), (32, 8), (24, 12)])
def test_small_convolution_tiled_equals_untiled(height, width, tile, overlap):
    x = torch.rand(1, 3, height, width)
    with torch.no_grad():
        whole = run_padded(_box_blur, x, 8)
        tiled = run_tiled(_box_blur, x, tile, overlap, 8, tiles_per_call=2)
    torch.testing.assert_close(tiled, whole, rtol=0, atol=1e-5)


def test_wide_receptive_field_blends_without_jumps():
    """A 9x9 blur sees the tile border inside the overlap: still close, no step at tile seams."""
    blur = torch.full((3, 1, 9, 9), 1 / 81)
    fn = lambda t: F.conv2d(t, blur, padding=4, groups=3)  # noqa: E731
    x = torch.linspace(0, 1, 96 * 96).reshape(1, 1, 96, 96).expand(1, 3, 96, 96).contiguous()
    tiled = run_tiled(fn, x, 32, 16, 8)
    whole = run_padded(fn, x, 8)
    interior = (tiled - whole)[..., 8:-8, 8:-8].abs()
    assert interior.max() < 0.02


def test_fn_gets_multiples_and_output_is_on_cpu():
    seen: list[tuple[int, ...]] = []

    def fn(t: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(t.shape))
        return t[:, :1] * 2  # fewer output channels is fine

    out = run_tiled(fn, torch.rand(2, 3, 45, 20), 16, 4, 8, tiles_per_call=2)
    assert out.shape == (2, 1, 45, 20) and out.device.type == "cpu"
    assert all(h % 8 == 0 and w % 8 == 0 and h <= 16 and w <= 16 for _, _, h, w in seen)
    assert {shape[0] for shape in seen} <= {2, 4}  # N=2 times up to 2 tiles per call


def test_fn_returning_another_size_is_a_backend_error():
    with pytest.raises(BackendError, match=r"same batch and height/width.*\(scale 1\)"):
        run_tiled(lambda t: t[..., ::2, ::2], torch.rand(1, 3, 40, 40), 16, 4, 8)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"tile": 20, "overlap": 4, "multiple": 8},
            "multiple of the model's size multiple 8.*16 or 24",
        ),
        ({"tile": 16, "overlap": 16, "multiple": 8}, "larger than the overlap"),
        ({"tile": 16, "overlap": -1, "multiple": 8}, "overlap must be an int >= 0"),
        ({"tile": 16, "overlap": 4, "multiple": 0}, "multiple must be an int >= 1"),
        ({"tile": 16, "overlap": 4, "multiple": 8, "tiles_per_call": 0}, "tiles_per_call"),
    ],
)
def test_bad_tiling_options(kwargs, match):
    with pytest.raises(UnsupportedOptionError, match=match):
        run_tiled(lambda t: t, torch.rand(1, 3, 40, 40), **kwargs)


# -- memory ----------------------------------------------------------------------------------


def test_choose_tile_size_none_when_the_image_fits():
    per_pixel = 1000.0 + 8 * 3
    assert choose_tile_size(100, 100, 3, 1000.0, per_pixel * 104 * 104, 8) is None


@pytest.mark.parametrize(("height", "width"), [(1000, 1000), (999, 1501), (4096, 4096)])
def test_choose_tile_size_fits_the_budget(height, width):
    budget = 64 * 2**20
    tile = choose_tile_size(height, width, 3, 2000.0, budget, 16)
    assert tile is not None and tile % 16 == 0 and tile >= 16
    assert tile * tile * (2000.0 + 24) <= budget
    assert (tile + 16) ** 2 * (2000.0 + 24) > budget  # the largest multiple that fits


def test_choose_tile_size_grows_along_a_thin_image():
    tile = choose_tile_size(40, 100_000, 3, 1000.0, 1024 * 40 * 1000, 8)
    assert tile == 1000  # 40 x 1000 px: the whole budget, far beyond the square root (200)


def test_choose_tile_size_too_small_budget():
    with pytest.raises(BackendError, match="does not fit even a 16x16 tile"):
        choose_tile_size(1000, 1000, 3, 1000.0, 1000.0, 16)


@pytest.mark.parametrize(
    "error",
    [
        RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"),
        MemoryError(),
        torch.cuda.OutOfMemoryError("CUDA out of memory"),
        Exception("[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Failed to allocate memory"),
    ],
)
def test_out_of_memory_is_recognised(error):
    assert is_out_of_memory(error)


def test_other_errors_are_not_out_of_memory():
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("bad value"))


def test_oom_retry_halves_until_it_fits():
    calls: list[int | None] = []
    retries: list[tuple[int | None, int]] = []

    def run(tile: int | None) -> torch.Tensor:
        calls.append(tile)
        if tile is None or tile > 100:
            raise RuntimeError("CUDA out of memory. Tried to allocate 1.5 GiB")
        return torch.full((1,), float(tile))

    out = run_with_oom_retry(
        run,
        start_tile=None,
        min_tile=32,
        image_size=(700, 1000),
        multiple=8,
        on_retry=lambda failed, tile: retries.append((failed, tile)),
    )
    assert calls == [None, 496, 248, 120, 56] and out.item() == 56
    assert retries == [(None, 496), (496, 248), (248, 120), (120, 56)]


def test_oom_retry_starts_from_a_given_tile():
    calls: list[int | None] = []

    def run(tile: int | None) -> torch.Tensor:
        calls.append(tile)
        if tile is not None and tile > 200:
            raise MemoryError
        return torch.zeros(1)

    run_with_oom_retry(run, start_tile=512, min_tile=64, image_size=(2000, 2000), multiple=16)
    assert calls == [512, 256, 128]


def test_oom_retry_gives_up_with_advice():
    def run(tile: int | None) -> torch.Tensor:
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(BackendError, match=r"1000x700 image even with 64-px tiles.*smaller image"):
        run_with_oom_retry(run, start_tile=None, min_tile=60, image_size=(700, 1000), multiple=8)
    calls: list[int | None] = []

    def record(tile: int | None) -> torch.Tensor:
        calls.append(tile)
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(BackendError, match="even with the whole image"):
        run_with_oom_retry(record, start_tile=None, min_tile=64, image_size=(50, 50), multiple=8)
    assert calls == [None]  # a 64-px tile would be the whole 56 x 56 padded image again


def test_oom_retry_lets_other_errors_through():
    calls: list[int | None] = []

    def run(tile: int | None) -> torch.Tensor:
        calls.append(tile)
        raise ValueError("not a memory problem")

    with pytest.raises(ValueError, match="not a memory problem"):
        run_with_oom_retry(run, start_tile=256, min_tile=64, image_size=(500, 500), multiple=8)
    assert calls == [256]
