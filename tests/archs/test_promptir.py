"""PromptIR (decoder prompts): reference layout, forward, DCPT taps, prompts, detection, ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from _models import check_odd_size_restore, randomised
from _shared import (
    UNET_VARIANTS,
    assert_reference_layout,
    layout,
    onnx_max_errors,
    reference_state_dict,
    taps_and_restored,
)

from dcpt_sdk.archs import detect_architecture
from dcpt_sdk.archs.promptir import ARCH, detect_promptir
from dcpt_sdk.archs.promptir.network import PromptGenBlock, PromptIR
from dcpt_sdk.archs.restormer import ARCH as RESTORMER
from dcpt_sdk.archs.restormer import DCPT_ARCH as RESTORMER_DCPT
from dcpt_sdk.errors import UnsupportedOptionError

TINY = dict(ARCH.tiny)
PAPER = dict(ARCH.defaults)

# Restormer's variants with prompt banks that fit their widths (the noise-level blocks' widths,
# level width + prompt_dim, must divide by heads[2]); the tiny preset and the paper size.
VARIANTS: dict[str, dict[str, Any]] = {
    "tiny": TINY,
    "dim16": {
        **UNET_VARIANTS["dim16"],
        "prompt_dims": [16, 32, 64],
        "prompt_sizes": [32, 16, 8],
        "prompt_len": 5,
    },
    "gray-dim24": {
        **UNET_VARIANTS["gray-dim24"],
        "prompt_dims": [12, 24, 40],
        "prompt_sizes": [8, 8, 8],
        "prompt_len": 2,
    },
    "paper": PAPER,
}

# The official model's extra, unused convs (shapes at the paper size, for dim 48).
OFFICIAL_UNUSED = {
    "chnl_reduce1.weight": (64, 64, 1, 1),
    "chnl_reduce2.weight": (128, 128, 1, 1),
    "chnl_reduce3.weight": (256, 320, 1, 1),
    "reduce_noise_channel_1.weight": (48, 112, 1, 1),
    "reduce_noise_channel_2.weight": (96, 224, 1, 1),
    "reduce_noise_channel_3.weight": (192, 448, 1, 1),
}


def tiny(**changes: Any) -> PromptIR:
    return randomised(PromptIR(**{**TINY, **changes})).eval()


# --- reference layout ------------------------------------------------------------------------


def test_paper_config_matches_reference_layout():
    with torch.device("meta"):
        net = PromptIR(**PAPER)
    assert_reference_layout(net, "dcpt-promptir-paper.txt", 35_376_967)
    # the reference file holds none of the official code's unused convs
    assert not any(key.startswith(ARCH.ignored_key_prefixes) for key, _ in layout(net))


# --- forward ---------------------------------------------------------------------------------


def test_forward_restores_odd_size_after_reflect_padding():
    net = tiny()
    multiple = ARCH.pad_multiple(TINY)
    assert multiple == net.pad_multiple == 8
    check_odd_size_restore(net, "promptir", TINY)


def test_output_is_a_residual_on_the_input():
    net = tiny()
    with torch.no_grad():
        net.output.weight.zero_()
        x = torch.rand(2, 3, 16, 24)
        torch.testing.assert_close(net(x), x, rtol=0, atol=0)


def test_forward_features_are_reduce_noise_levels_highest_resolution_first():
    net = tiny()
    x = torch.rand(2, 3, 32, 48)
    taps, restored = taps_and_restored(net, x)
    with torch.no_grad():
        enc1 = net.encoder_level1(net.patch_embed(x))
        dec1 = net.decoder_level1(torch.cat([net.up2_1(taps[0]), enc1], 1))
    assert net.feature_channels == (16, 32, 32)
    assert [tuple(t.shape) for t in taps] == [(2, 16, 16, 24), (2, 32, 8, 12), (2, 32, 4, 6)]
    # The highest-resolution tap is what decoder level 1 is built on.
    torch.testing.assert_close(net.output(net.refinement(dec1)) + x, restored)


def test_paper_feature_channels_match_the_method_table():
    with torch.device("meta"):
        assert PromptIR().feature_channels == (96, 192, 192)


def test_prompt_mixes_the_bank_by_content_and_resizes_to_the_feature():
    torch.manual_seed(0)
    block = PromptGenBlock(prompt_dim=4, prompt_len=3, prompt_size=5, lin_dim=6).eval()
    x = torch.randn(2, 6, 7, 9)
    with torch.no_grad():
        got = block(x)
        # The definition: softmax weights over the bank, summed, bilinear resize, 3x3 conv.
        weights = F.softmax(block.linear_layer(x.mean(dim=(-2, -1))), dim=1)
        mixed = (weights[:, :, None, None, None] * block.prompt_param).sum(dim=1)
        resized = F.interpolate(mixed, size=(7, 9), mode="bilinear", align_corners=False)
        expected = block.conv3x3(resized)
    assert got.shape == (2, 4, 7, 9)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"prompt_dims": [8, 16]}, "must each list 3 positive integers"),
        ({"prompt_len": 0}, "must be a positive integer"),
        ({"heads": [1, 1, 3, 1]}, "not divisible by its 3 attention heads"),
    ],
)
def test_invalid_hyper_parameters_raise_with_the_fix(changes: dict[str, Any], message: str):
    with pytest.raises(UnsupportedOptionError, match=message):
        PromptIR(**{**TINY, **changes})


# --- detection -------------------------------------------------------------------------------


@pytest.mark.parametrize("hparams", VARIANTS.values(), ids=VARIANTS)
def test_detect_recovers_hyper_parameters(hparams: dict[str, Any]):
    with torch.device("meta"):
        net = PromptIR(**hparams)
        state = net.state_dict()
        assert detect_promptir(state) == hparams
        assert layout(PromptIR(**detect_promptir(state))) == layout(net)  # type: ignore[arg-type]
    assert RESTORMER.detect(state) is None
    assert RESTORMER_DCPT.detect(state) is None
    found = detect_architecture(state)
    assert found is not None and found[0] is ARCH


def test_reference_layout_file_is_detected_as_paper_config():
    state = reference_state_dict("dcpt-promptir-paper.txt")
    assert detect_promptir(state) == PAPER


def test_official_checkpoint_with_unused_convs_is_detected_and_loads():
    with torch.device("meta"):
        state = dict(PromptIR(**PAPER).state_dict())
    state.update({k: torch.empty(s, device="meta") for k, s in OFFICIAL_UNUSED.items()})
    assert detect_promptir(state) == PAPER
    assert RESTORMER.detect(state) is None and RESTORMER_DCPT.detect(state) is None
    kept = {k: v for k, v in state.items() if not k.startswith(ARCH.ignored_key_prefixes)}
    assert set(state) - set(kept) == set(OFFICIAL_UNUSED)
    with torch.device("meta"):
        PromptIR(**PAPER).load_state_dict(kept, strict=True)


def test_restormer_state_dicts_are_not_promptir():
    with torch.device("meta"):
        for arch in (RESTORMER, RESTORMER_DCPT):
            assert detect_promptir(arch.build(**arch.defaults).state_dict()) is None


def test_safetensors_round_trip_rebuilds_an_identical_network(tmp_path: Path):
    safetensors = pytest.importorskip("safetensors.torch")
    net = tiny()
    path = tmp_path / "weights.safetensors"
    safetensors.save_file(net.state_dict(), str(path))
    state = safetensors.load_file(str(path))
    hparams = detect_promptir(state)
    assert hparams == TINY
    rebuilt = PromptIR(**hparams)
    rebuilt.load_state_dict(state, strict=True)
    rebuilt.eval()
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x), rtol=0, atol=0)


# --- export ----------------------------------------------------------------------------------


def test_onnx_export_runs_at_other_sizes_within_1e_4(tmp_path: Path):
    errors = onnx_max_errors(tiny(), tmp_path / "promptir.onnx")
    assert max(errors) <= 1e-4, errors
