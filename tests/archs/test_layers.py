"""conv_halves: the gate's two halves as two convolutions equal the chunk of one convolution."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dcpt_sdk.archs.layers import conv_halves


def _pair(bias: bool) -> tuple[nn.Conv2d, nn.Conv2d]:
    """A dense 1x1 (8 -> 12 channels) then a depthwise 3x3 over its 12 channels, seeded."""
    torch.manual_seed(0)
    dense = nn.Conv2d(8, 12, 1, bias=bias)
    depthwise = nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=bias)
    return dense, depthwise


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("channels_last", [False, True])
def test_halves_equal_the_chunk_of_one_convolution(bias: bool, channels_last: bool) -> None:
    dense, depthwise = _pair(bias)
    x = torch.randn(2, 8, 13, 10)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = depthwise(dense(x)).chunk(2, dim=1)
    got = conv_halves(depthwise, conv_halves(dense, x))
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape == (2, 6, 13, 10)
        torch.testing.assert_close(g, e, rtol=0, atol=1e-6)


def test_gradients_reach_the_same_weights() -> None:
    """Training goes through the halves too: the weight gradients equal the chunked form's."""
    dense, depthwise = _pair(bias=True)
    x = torch.randn(1, 8, 9, 9)
    a, b = depthwise(dense(x)).chunk(2, dim=1)
    (a * b).sum().backward()
    expected = [p.grad.clone() for p in (*dense.parameters(), *depthwise.parameters())]
    for p in (*dense.parameters(), *depthwise.parameters()):
        p.grad = None
    a, b = conv_halves(depthwise, conv_halves(dense, x))
    (a * b).sum().backward()
    got = [p.grad for p in (*dense.parameters(), *depthwise.parameters())]
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


def test_a_grouped_convolution_needs_both_input_halves() -> None:
    _, depthwise = _pair(bias=True)
    with pytest.raises(ValueError, match=r"pass \(first, second\)"):
        conv_halves(depthwise, torch.randn(1, 12, 4, 4))


def test_nafnet_export_form_is_the_same_function_with_the_same_state_dict() -> None:
    """use_export_form: gates by conv halves, upsamplers as transposed convolutions; output and
    keys unchanged."""
    import copy

    from dcpt_sdk.archs.nafnet.network import NAFNet

    torch.manual_seed(0)
    net = NAFNet(width=8, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1]).eval()
    with torch.no_grad():
        for key, param in net.named_parameters():
            if key.endswith(("beta", "gamma")):
                param.normal_(0.0, 0.5)  # zero-initialised scales would make every block identity
    exported = copy.deepcopy(net)
    exported.use_export_form()
    flags = [m.export_form for m in exported.modules() if hasattr(m, "export_form")]
    assert flags and all(flags)
    assert not any(m.export_form for m in net.modules() if hasattr(m, "export_form"))
    x = torch.rand(2, 3, 24, 40)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), net(x), rtol=0, atol=1e-5)
    assert list(exported.state_dict()) == list(net.state_dict())


@pytest.mark.parametrize("arch", ["restormer-tiny", "promptir-tiny"])
def test_transformer_export_forms_compute_the_same_function(arch: str) -> None:
    import copy

    from dcpt_sdk.models import create_model

    torch.manual_seed(0)
    net = create_model(arch).eval()
    exported = copy.deepcopy(net)
    exported.use_export_form()
    assert any(getattr(m, "export_form", False) for m in exported.modules())
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(exported(x), net(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("channels", [3, 16, 32, 48])
def test_layernorm_conv_statistics_equal_the_channel_reductions(channels: int) -> None:
    """LayerNorm2d.conv_statistics: the channel means as 1x1 convolutions, the same function (and
    the same gradients, though only exports use it)."""
    import copy

    from dcpt_sdk.archs.layers import LayerNorm2d

    torch.manual_seed(0)
    norm = LayerNorm2d(channels)
    with torch.no_grad():
        norm.weight.normal_()
        norm.bias.normal_()
    x = (torch.randn(2, channels, 7, 11) * 3 + 1).requires_grad_()
    expected = norm(x)
    (grad_expected,) = torch.autograd.grad(expected.square().sum(), x)
    for centre_by_conv in (False, True):  # the mean subtracted, or centred by a C x C conv
        by_conv = copy.deepcopy(norm)
        by_conv.conv_statistics, by_conv.centre_by_conv = True, centre_by_conv
        got = by_conv(x)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        (grad_got,) = torch.autograd.grad(got.square().sum(), x)
        torch.testing.assert_close(grad_got, grad_expected, rtol=1e-4, atol=1e-4)
        assert list(by_conv.state_dict()) == list(norm.state_dict())


def test_export_form_sets_conv_statistics_only_when_asked() -> None:
    from dcpt_sdk.archs.layers import CENTRE_BY_CONV_MAX_CHANNELS, LayerNorm2d
    from dcpt_sdk.models import create_model

    for asked in (False, True):
        net = create_model("nafnet", width=16, enc_blk_nums=[1, 1, 1], dec_blk_nums=[1, 1, 1])
        net.use_export_form(conv_statistics=asked)
        norms = [m for m in net.modules() if isinstance(m, LayerNorm2d)]
        assert norms and all(m.conv_statistics is asked for m in norms)
        # Centred by a C x C convolution up to 32 channels only (16 and 32 here; 64, 128 not).
        assert {m.channels for m in norms} == {16, 32, 64, 128}
        assert all(
            m.centre_by_conv is (asked and m.channels <= CENTRE_BY_CONV_MAX_CHANNELS) for m in norms
        )
