"""Restormer (official and DCPT layouts): reference layouts, forward, DCPT taps, detection, ONNX."""

from __future__ import annotations

import re
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
    read_reference,
    reference_state_dict,
    taps_and_restored,
)

from dcpt_sdk.archs import detect_architecture
from dcpt_sdk.archs.base import Architecture
from dcpt_sdk.archs.promptir import ARCH as PROMPTIR
from dcpt_sdk.archs.restormer import ARCH, DCPT_ARCH
from dcpt_sdk.archs.restormer.detect import (
    detect_dcpt_restormer,
    detect_restormer,
    recover_ffn_factor,
)
from dcpt_sdk.archs.restormer.network import DcptRestormer, LayerNorm, Restormer
from dcpt_sdk.errors import UnsupportedOptionError

BOTH = pytest.mark.parametrize("arch", [ARCH, DCPT_ARCH], ids=lambda a: a.name)

# Hyper-parameter variants that detection must recover exactly (the last one is the paper size).
VARIANTS: dict[str, dict[str, Any]] = {
    "tiny": dict(ARCH.tiny),
    **UNET_VARIANTS,
    "paper": dict(ARCH.defaults),
}


def to_dcpt_key(key: str) -> str:
    """Official key -> DCPT key: every transformer level gains a ".body"."""
    return re.sub(r"^(encoder_level\d|latent|decoder_level\d|refinement)\.", r"\1.body.", key)


def tiny(arch: Architecture, **changes: Any) -> Restormer:
    return randomised(arch.build(**{**arch.tiny, **changes})).eval()


# --- reference layouts ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arch", "filename", "count"),
    [
        (ARCH, "official-restormer-paper.txt", 26_126_644),
        (DCPT_ARCH, "dcpt-restormer-paper.txt", 26_111_668),
    ],
    ids=["restormer", "restormer-dcpt"],
)
def test_paper_config_matches_reference_layout(arch: Architecture, filename: str, count: int):
    with torch.device("meta"):
        assert_reference_layout(arch.build(**arch.defaults), filename, count)


def test_dcpt_layout_is_official_layout_with_body_levels_and_no_norm_bias():
    _, official = read_reference("official-restormer-paper.txt")
    _, dcpt = read_reference("dcpt-restormer-paper.txt")
    expected = [(to_dcpt_key(k), s) for k, s in official if not k.endswith("body.bias")]
    assert dcpt == expected


# --- forward ---------------------------------------------------------------------------------


@BOTH
def test_forward_restores_odd_size_after_reflect_padding(arch: Architecture):
    net = tiny(arch)
    multiple = arch.pad_multiple(arch.tiny)
    assert multiple == net.pad_multiple == 8
    check_odd_size_restore(net, arch.name, dict(arch.tiny))


@BOTH
def test_output_is_a_residual_on_the_input(arch: Architecture):
    net = tiny(arch)
    with torch.no_grad():
        net.output.weight.zero_()
        x = torch.rand(2, 3, 16, 24)
        torch.testing.assert_close(net(x), x, rtol=0, atol=0)


@BOTH
def test_forward_features_are_decoder_levels_highest_resolution_first(arch: Architecture):
    net = tiny(arch)
    x = torch.rand(2, 3, 32, 48)
    taps, restored = taps_and_restored(net, x)
    assert net.feature_channels == (16, 16, 32)
    assert [tuple(t.shape) for t in taps] == [(2, 16, 32, 48), (2, 16, 16, 24), (2, 32, 8, 12)]
    # The highest-resolution tap is decoder_level1's output, before the refinement blocks.
    torch.testing.assert_close(net.output(net.refinement(taps[0])) + x, restored)


def test_paper_feature_channels_match_the_method_table():
    with torch.device("meta"):
        assert Restormer().feature_channels == DcptRestormer().feature_channels == (96, 96, 192)


def test_dcpt_variant_uses_relu_attention_on_the_same_weights():
    # Seeded: in 7 of 30 unseeded draws the tiny network's two outputs fell within 1e-4 of each
    # other, so the first check failed for lack of a difference to see.
    torch.manual_seed(0)
    official = tiny(ARCH, layernorm_type="BiasFree")
    dcpt = DcptRestormer(**DCPT_ARCH.tiny)
    state = {to_dcpt_key(k): v for k, v in official.state_dict().items()}
    dcpt.load_state_dict(state, strict=True)
    dcpt.eval()
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert not torch.allclose(official(x), dcpt(x), atol=1e-4)
        for module in (*official.modules(), *dcpt.modules()):
            if hasattr(module, "activation"):
                module.activation = "softmax"
            if hasattr(module, "eps"):
                module.eps = 1e-5  # the DCPT variant's LayerNorm adds 1e-6
        torch.testing.assert_close(official(x), dcpt(x))


@pytest.mark.parametrize("layernorm_type", ["WithBias", "BiasFree"])
def test_channel_layernorm_matches_the_channels_last_definition(layernorm_type: str):
    norm = randomised(LayerNorm(6, layernorm_type))  # type: ignore[arg-type]
    x = torch.randn(2, 6, 5, 7) * 3 + 1
    last = x.permute(0, 2, 3, 1)
    if layernorm_type == "WithBias":
        expected = F.layer_norm(last, (6,), norm.body.weight, norm.body.bias, eps=1e-5)
    else:  # the reference divides the uncentred input by the standard deviation
        var = last.var(-1, keepdim=True, unbiased=False)
        expected = last / torch.sqrt(var + 1e-5) * norm.body.weight
    torch.testing.assert_close(norm(x), expected.permute(0, 3, 1, 2))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"heads": [3, 1, 1, 1]}, "not divisible by its 3 attention heads"),
        ({"num_blocks": [1, 1, 1]}, "must each list 4 positive integers"),
        ({"layernorm_type": "Layer"}, "valid: WithBias, BiasFree"),
        ({"out_channels": 1}, "use the same channel count"),
        ({"num_refinement_blocks": -1}, "at least 0"),
    ],
)
def test_invalid_hyper_parameters_raise_with_the_fix(changes: dict[str, Any], message: str):
    with pytest.raises(UnsupportedOptionError, match=message):
        Restormer(**{**ARCH.tiny, **changes})


# --- detection -------------------------------------------------------------------------------


@BOTH
@pytest.mark.parametrize("hparams", VARIANTS.values(), ids=VARIANTS)
def test_detect_recovers_hyper_parameters(arch: Architecture, hparams: dict[str, Any]):
    with torch.device("meta"):
        net = arch.build(**hparams)
        state = net.state_dict()
        assert arch.detect(state) == hparams
        assert layout(arch.build(**arch.detect(state))) == layout(net)  # type: ignore[arg-type]
    other = DCPT_ARCH if arch is ARCH else ARCH
    assert other.detect(state) is None
    assert PROMPTIR.detect(state) is None
    found = detect_architecture(state)
    assert found is not None and found[0] is arch


@BOTH
def test_reference_layout_files_are_detected_as_paper_config(arch: Architecture):
    name = "official-restormer-paper.txt" if arch is ARCH else "dcpt-restormer-paper.txt"
    state = reference_state_dict(name)
    assert arch.detect(state) == dict(arch.defaults)


@pytest.mark.parametrize("hparams", [PROMPTIR.tiny, PROMPTIR.defaults], ids=["tiny", "paper"])
def test_promptir_state_dict_is_never_detected_as_restormer(hparams: dict[str, Any]):
    with torch.device("meta"):
        state = PROMPTIR.build(**hparams).state_dict()
    assert detect_restormer(state) is None
    assert detect_dcpt_restormer(state) is None
    # Even with the prompt banks stripped, the noise-level blocks give PromptIR away.
    stripped = {k: v for k, v in state.items() if not k.startswith("prompt")}
    assert detect_restormer(stripped) is None


def test_unrelated_or_truncated_state_dicts_are_refused():
    assert detect_restormer({"intro.weight": torch.empty(8, 3, 3, 3)}) is None
    with torch.device("meta"):
        state = Restormer(**ARCH.tiny).state_dict()
    del state["output.weight"]
    assert detect_restormer(state) is None


@pytest.mark.parametrize("factor", [2.66, 2.0, 1.5, 3.0, 2.5, 4.0, 1.25])
@pytest.mark.parametrize("dim", [8, 16, 48])
def test_recover_ffn_factor_rebuilds_the_same_hidden_widths(factor: float, dim: int):
    widths = [dim, dim * 2, dim * 4, dim * 8]
    pairs = [(w, int(w * factor)) for w in widths]
    recovered = recover_ffn_factor(pairs)
    assert recovered is not None
    assert [int(w * recovered) for w in widths] == [h for _, h in pairs]
    assert recovered == factor  # round factors come back as written


def test_recover_ffn_factor_refuses_inconsistent_widths():
    assert recover_ffn_factor([(8, 16), (16, 48)]) is None
    assert recover_ffn_factor([]) is None


@BOTH
def test_safetensors_round_trip_rebuilds_an_identical_network(arch: Architecture, tmp_path: Path):
    safetensors = pytest.importorskip("safetensors.torch")
    net = tiny(arch)
    path = tmp_path / "weights.safetensors"
    safetensors.save_file(net.state_dict(), str(path))
    state = safetensors.load_file(str(path))
    hparams = arch.detect(state)
    assert hparams == dict(arch.tiny)
    rebuilt = arch.build(**hparams)
    rebuilt.load_state_dict(state, strict=True)
    rebuilt.eval()
    x = torch.rand(1, 3, 16, 24)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), net(x), rtol=0, atol=0)


# --- export ----------------------------------------------------------------------------------


@BOTH
def test_onnx_export_runs_at_other_sizes_within_1e_4(arch: Architecture, tmp_path: Path):
    errors = onnx_max_errors(tiny(arch), tmp_path / f"{arch.name}.onnx")
    assert max(errors) <= 1e-4, errors
