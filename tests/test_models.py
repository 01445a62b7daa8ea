from __future__ import annotations

import pytest

from dcpt_sdk.archs import ARCHITECTURES
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.models import create_model, list_models

PAPER_PARAMETER_COUNTS = {
    "nafnet-w64-paper": 67_888_835,
    "restormer-paper": 26_126_644,
    "restormer-dcpt-paper": 26_111_668,
    "promptir-paper": 35_376_967,
}


@pytest.mark.parametrize("name", sorted(PAPER_PARAMETER_COUNTS))
def test_paper_presets_have_the_reference_parameter_counts(name: str) -> None:
    model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == PAPER_PARAMETER_COUNTS[name]
    assert model.spec.name == name


def test_every_architecture_has_a_tiny_preset() -> None:
    names = list_models()
    for arch in ARCHITECTURES:
        assert f"{arch.name}-tiny" in names
    assert set(PAPER_PARAMETER_COUNTS) <= set(names)


def test_overrides_and_errors() -> None:
    model = create_model("nafnet", width=8, enc_blk_nums=[1], dec_blk_nums=[1], middle_blk_num=1)
    assert model.spec.hparams["width"] == 8
    assert model.spec.pad_multiple == 2
    with pytest.raises(UnsupportedOptionError, match="valid presets and architectures"):
        create_model("nafnet-w128")
    with pytest.raises(UnsupportedOptionError, match="has no hyper-parameter \\['widht'\\]"):
        create_model("nafnet", widht=8)
