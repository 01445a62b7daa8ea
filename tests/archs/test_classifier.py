"""Degradation classifiers: reference layout, forward on NAFNet features, detection, ONNX export."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _models import randomised
from _shared import assert_reference_layout, onnx_max_errors, param_count, reference_state_dict
from torch import nn

from dcpt_sdk.archs.classifier import ARCH, LIGHT_ARCH, detect, detect_light
from dcpt_sdk.archs.classifier.network import DegradationClassifier, LightDegradationClassifier
from dcpt_sdk.archs.nafnet import ARCH as NAFNET_ARCH
from dcpt_sdk.archs.nafnet.network import NAFNet
from dcpt_sdk.errors import UnsupportedOptionError

REFERENCE_HEADS = {
    "dcpt-classifier-nafnet-5d.txt": ([64, 128, 256, 512], 49_290_505),
    "dcpt-classifier-restormer-5d.txt": ([96, 96, 192], 7_449_800),
    "dcpt-classifier-promptir-5d.txt": ([96, 192, 192], 9_691_208),
}


def tiny_features(batch: int = 2, height: int = 16, width: int = 24) -> list[torch.Tensor]:
    """Real decoder taps of the tiny NAFNet (channels 8, 16)."""
    net = randomised(NAFNet(**NAFNET_ARCH.tiny), scale=0.2)
    with torch.no_grad():
        return net.forward_features(torch.rand(batch, 3, height, width))


@pytest.mark.parametrize("layout", sorted(REFERENCE_HEADS))
def test_reference_head_matches_reference_layout_and_count(layout: str) -> None:
    dims, expected_count = REFERENCE_HEADS[layout]
    with torch.device("meta"):
        assert_reference_layout(DegradationClassifier(dims, num_classes=5), layout, expected_count)


@pytest.mark.parametrize("layout", sorted(REFERENCE_HEADS))
def test_reference_layouts_are_detected(layout: str) -> None:
    expected = {"feature_dims": REFERENCE_HEADS[layout][0], "num_classes": 5, "num_res_blocks": 2}
    assert detect(reference_state_dict(layout)) == expected
    assert detect_light(reference_state_dict(layout)) is None


@pytest.mark.parametrize(
    "hparams",
    [
        dict(ARCH.tiny),
        {"feature_dims": [32, 64, 128], "num_classes": 10, "num_res_blocks": 3},
        {"feature_dims": [180, 180, 180], "num_classes": 12, "num_res_blocks": 1},
    ],
)
def test_detect_recovers_reference_head_variants(hparams: dict) -> None:
    with torch.device("meta"):
        head = ARCH.build(**hparams)
    assert detect(head.state_dict()) == hparams


@pytest.mark.parametrize(
    "hparams",
    [
        dict(LIGHT_ARCH.tiny),
        dict(LIGHT_ARCH.defaults),
        {"feature_dims": [96, 192, 192], "num_classes": 12, "proj_dim": 32, "hidden_dim": 64},
    ],
)
def test_detect_recovers_light_head_variants(hparams: dict) -> None:
    head = LIGHT_ARCH.build(**hparams)
    state = head.state_dict()
    assert detect_light(state) == hparams
    assert detect(state) is None


def test_detectors_reject_restorer_keys() -> None:
    restorer = reference_state_dict("dcpt-nafnet-w64-paper.txt")
    assert detect(restorer) is None
    assert detect_light(restorer) is None
    # A restorer carrying its classifier is a restorer, not a head.
    with_head = {
        **restorer,
        **{f"classifier.{k}": v for k, v in DegradationClassifier([8]).state_dict().items()},
    }
    assert detect(with_head) is None
    assert detect({}) is None


@pytest.mark.parametrize("arch", [ARCH, LIGHT_ARCH], ids=lambda a: a.name)
def test_logits_from_tiny_nafnet_features(arch) -> None:
    head = randomised(arch.build(**arch.tiny), scale=0.2)
    with torch.no_grad():
        logits = head(tiny_features(batch=2))
    assert logits.shape == (2, 5)
    assert torch.isfinite(logits).all()
    assert arch.pad_multiple(arch.tiny) == 1


# The reference computation itself (floor max-pool included) is pinned by the reference code's
# own outputs: tests/archs/test_reference_parity.py.


@pytest.mark.parametrize(
    "sizes", [[(37, 53), (19, 27)], [(37, 53), (18, 26)]], ids=["ceil", "floor"]
)
def test_reference_head_accepts_features_rounded_either_way(sizes: list[tuple[int, int]]) -> None:
    head = randomised(DegradationClassifier([8, 16], num_classes=3), scale=0.2)
    features = [torch.rand(1, c, h, w) for c, (h, w) in zip([8, 16], sizes, strict=True)]
    with torch.no_grad():
        assert head(features).shape == (1, 3)


def test_light_head_is_genuinely_small() -> None:
    head = LIGHT_ARCH.build(**LIGHT_ARCH.defaults)  # on the paper NAFNet-w64's features
    assert param_count(head) < 1_000_000


def test_wrong_features_and_hparams_raise_clear_errors() -> None:
    head = DegradationClassifier([8, 16])
    with pytest.raises(ValueError, match=r"channels \[8, 16\].*got channels \[8\]"):
        head([torch.zeros(1, 8, 8, 8)])
    with pytest.raises(UnsupportedOptionError, match="num_res_blocks must be >= 1"):
        DegradationClassifier([8, 16], num_res_blocks=0)
    with pytest.raises(UnsupportedOptionError, match="at least one feature level"):
        LightDegradationClassifier([], num_classes=5)


class ImageToLogits(nn.Module):
    """What the exporter builds: restorer taps followed by the classifier, image in, logits out."""

    def __init__(self, restorer: NAFNet, head: nn.Module) -> None:
        super().__init__()
        self.restorer = restorer
        self.head = head

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.head(self.restorer.forward_features(image))


@pytest.mark.parametrize("arch", [ARCH, LIGHT_ARCH], ids=lambda a: a.name)
def test_onnx_export_of_features_to_logits(arch, tmp_path: Path) -> None:
    model = ImageToLogits(
        randomised(NAFNet(**NAFNET_ARCH.tiny), scale=0.2),
        randomised(arch.build(**arch.tiny), scale=0.2),
    ).eval()
    errors = onnx_max_errors(model, tmp_path / "classifier.onnx", batch=2, image_output=False)
    assert max(errors) <= 1e-4
