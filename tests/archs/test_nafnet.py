"""NAFNet: reference layout, DCPT feature taps, local (TLC) pooling, detection, ONNX export."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from _models import check_odd_size_restore, randomised
from _shared import (
    assert_reference_layout,
    hparams_row,
    onnx_max_errors,
    reference_state_dict,
    taps_and_restored,
)

from dcpt_sdk.archs.classifier.network import DegradationClassifier
from dcpt_sdk.archs.nafnet import ARCH, detect
from dcpt_sdk.archs.nafnet.network import ChannelStatPool, NAFNet
from dcpt_sdk.errors import UnsupportedOptionError

PAPER = dict(ARCH.defaults)
TINY = dict(ARCH.tiny)


def map_dcpt_decoders(key: str) -> str:
    """What the checkpoint loader does: DCPT's "decoder{i}." -> official "decoders.{i}."."""
    return re.sub(r"^decoder(\d+)\.", r"decoders.\1.", key)


def tiny_net(**changes: object) -> NAFNet:
    """The tiny preset with random weights everywhere (the official zero beta/gamma would make
    every block the identity), large enough (0.2) for the pooling tests to see a difference."""
    return randomised(NAFNet(**{**TINY, **changes}), scale=0.2).eval()


def test_paper_config_matches_reference_layout_and_parameter_count() -> None:
    with torch.device("meta"):
        net = NAFNet(**PAPER)
    assert_reference_layout(net, "dcpt-nafnet-w64-paper.txt", 67_888_835, map_dcpt_decoders)


def test_reference_layout_is_detected_as_paper_config() -> None:
    state = reference_state_dict("dcpt-nafnet-w64-paper.txt", map_dcpt_decoders)
    assert detect(state) == PAPER


def test_forward_restores_odd_size_after_reflect_padding() -> None:
    net = tiny_net()
    multiple = ARCH.pad_multiple(TINY)
    assert multiple == net.pad_multiple == 4
    check_odd_size_restore(net, "nafnet", TINY)


def test_forward_features_are_first_decoder_blocks_highest_resolution_first() -> None:
    net = tiny_net(enc_blk_nums=[1, 1, 1], dec_blk_nums=[1, 1, 1])
    x = torch.rand(2, 3, 24, 40)
    taps, restored = taps_and_restored(net, x)
    assert net.feature_channels == (8, 16, 32)
    assert [tuple(t.shape) for t in taps] == [(2, 8, 24, 40), (2, 16, 12, 20), (2, 32, 6, 10)]
    # With one block per decoder level the highest-resolution tap IS the decoder output.
    torch.testing.assert_close(net.ending(taps[0]) + x, restored)


def test_forward_features_tap_whole_decoder_levels_not_their_first_block() -> None:
    """The paper's DDP runs hook ``module.decoder{i}``: a level's output, after all its blocks."""
    net = tiny_net(dec_blk_nums=[2, 3])
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        taps = net.forward_features(x)
        x0, skips = net._encode(x)
        first_block = net.decoders[0][0](net.ups[0](x0) + skips[1])
        level = net.decoders[0](net.ups[0](x0) + skips[1])
    torch.testing.assert_close(taps[1], level)
    assert float((taps[1] - first_block).abs().max()) > 1e-3


# Rows in the preset's key order: img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums.
DETECT_VARIANTS = {
    "tiny": TINY,
    "w16-mid2": hparams_row(ARCH.defaults, 3, 16, 2, [1, 1, 1, 2], [1, 1, 1, 1]),
    "w32-2222": hparams_row(ARCH.defaults, 3, 32, 1, [2, 2, 2, 2], [2, 2, 2, 2]),
    "gray-mid0": hparams_row(ARCH.defaults, 1, 8, 0, [0, 3, 1], [2, 1, 1]),
}


@pytest.mark.parametrize("hparams", DETECT_VARIANTS.values(), ids=DETECT_VARIANTS)
def test_detect_recovers_hyperparameters(hparams: dict) -> None:
    with torch.device("meta"):
        net = NAFNet(**hparams)
    assert detect(net.state_dict()) == hparams


def test_detected_hparams_round_trip_through_safetensors(tmp_path: Path) -> None:
    safetensors_torch = pytest.importorskip("safetensors.torch")
    net = tiny_net(img_channel=1, middle_blk_num=2)
    path = tmp_path / "nafnet.safetensors"
    safetensors_torch.save_file(net.state_dict(), path)
    state = safetensors_torch.load_file(path)
    rebuilt = ARCH.build(**detect(state))
    rebuilt.load_state_dict(state, strict=True)
    x = torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), net(x))


@pytest.mark.parametrize(
    "layout",
    ["dcpt-restormer-paper.txt", "dcpt-promptir-paper.txt", "dcpt-classifier-nafnet-5d.txt"],
)
def test_detect_rejects_other_architectures(layout: str) -> None:
    assert detect(reference_state_dict(layout)) is None


def test_detect_rejects_nafnet_keys_mixed_with_foreign_ones() -> None:
    state = dict(NAFNet(**TINY).state_dict())
    state["patch_embed.proj.weight"] = torch.zeros(8, 3, 3, 3)
    assert detect(state) is None
    assert detect({}) is None


def test_invalid_hyperparameters_raise_with_valid_range() -> None:
    with pytest.raises(UnsupportedOptionError, match="as many decoder levels"):
        NAFNet(width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1])
    with pytest.raises(UnsupportedOptionError, match=">= 1 per decoder level"):
        NAFNet(width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1, 0])


def brute_force_tlc(x: torch.Tensor, window: tuple[int, int]) -> torch.Tensor:
    """TLC as published: valid stride-1 window means, replicate-padded back to the input size."""
    h, w = x.shape[2:]
    if window[0] >= h and window[1] >= w:
        return x.mean(dim=(2, 3), keepdim=True)
    out = F.avg_pool2d(x, (min(h, window[0]), min(w, window[1])), stride=1)
    dh, dw = h - out.shape[2], w - out.shape[3]
    return F.pad(out, (dw // 2, (dw + 1) // 2, dh // 2, (dh + 1) // 2), mode="replicate")


@pytest.mark.parametrize("window", [(3, 5), (4, 4), (13, 2), (1, 1), (12, 16), (20, 30)])
def test_local_pool_equals_published_tlc(window: tuple[int, int]) -> None:
    pool = ChannelStatPool()
    pool.window = window
    x = torch.randn(2, 3, 13, 17, dtype=torch.float64)
    expected = brute_force_tlc(x, window).expand_as(x)
    torch.testing.assert_close(pool(x).expand_as(x), expected)


def test_local_pooling_at_image_size_equals_global() -> None:
    net = tiny_net()
    x = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        global_out = net(x)
        net.set_local_pooling(48)
        local_out = net(x)
    assert net.local_pooling == (48, 48)
    torch.testing.assert_close(local_out, global_out)


def test_local_pooling_as_a_hyperparameter_matches_the_method() -> None:
    by_method = tiny_net()
    by_method.set_local_pooling(8)
    by_hparam = NAFNet(**TINY, tlc_train_size=[8, 8]).eval()
    by_hparam.load_state_dict(by_method.state_dict())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(by_hparam(x), by_method(x))
    assert by_hparam.local_pooling == (8, 8)


def test_local_pooling_makes_a_crop_behave_like_the_full_image() -> None:
    net = tiny_net()
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    # A flat colour on the left, noise on the right: the global channel statistics of a crop
    # differ from the whole image's (a brightness change would not: LayerNorm removes it).
    x[:, :, :, :48] = torch.tensor([0.9, 0.1, 0.4]).view(1, 3, 1, 1)
    crop = (slice(None), slice(None), slice(16, 80), slice(16, 80))
    # Far enough from the crop's border for the convolutions and the local windows.
    centre = (slice(None), slice(None), slice(16, 48), slice(16, 48))

    def crop_error() -> float:
        with torch.no_grad():
            full, part = net(x)[crop], net(x[crop])
        return (full[centre] - part[centre]).abs().mean().item()

    global_error = crop_error()
    net.set_local_pooling(8)
    local_error = crop_error()
    assert local_error < 0.1 * global_error
    with torch.no_grad():
        first, second = net(x), net(x)
        net.set_local_pooling(None)
        restored_global = net(x)
    assert torch.equal(first, second)
    assert not torch.allclose(first, restored_global)
    assert net.local_pooling is None


@pytest.mark.parametrize("bad", [0, -3, (8,), (8, 0), "256", 2.5, True])
def test_set_local_pooling_rejects_bad_sizes(bad: object) -> None:
    with pytest.raises(UnsupportedOptionError, match=r"train_size \(tlc_train_size\) must be"):
        NAFNet(**TINY).set_local_pooling(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("train_size", [None, 16])
def test_onnx_export_has_dynamic_height_and_width(train_size: int | None, tmp_path: Path) -> None:
    net = tiny_net()
    net.set_local_pooling(train_size)
    assert max(onnx_max_errors(net, tmp_path / "nafnet.onnx")) <= 1e-4


def test_attached_classifier_keys_do_not_hide_the_restorer() -> None:
    net = tiny_net()
    net.attach_classifier(DegradationClassifier(list(net.feature_channels)).eval())
    state = net.state_dict()
    assert "classifier.mixing_weights" in state
    assert detect(state) == TINY
    with torch.no_grad():
        assert net.classify_logits(torch.rand(1, 3, 16, 16)).shape == (1, 5)
