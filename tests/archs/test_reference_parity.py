"""Our networks against the DCPT reference code's own outputs (tests/data/reference_parity/).

Each fixture was made by the reference implementation (MILab-PKU/dcpt at edd4c7a, architecture
files verbatim) from seeded weights and a seeded input; its README lists the semantics. Here the
weights go through the SDK's real loading path (a BasicSR ``{"params": ...}`` .pth with the
reference key names), and output, every feature map and the logits must agree to 1e-5.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from dcpt_sdk.archs.classifier.network import DegradationClassifier
from dcpt_sdk.checkpoint import load_model

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "reference_parity"
TOLERANCE = 1e-5


def _read(name: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    with safe_open(FIXTURES / f"{name}.safetensors", "pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata())


def _group(tensors: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}


def _features(tensors: dict[str, torch.Tensor], prefix: str = "feature.") -> list[torch.Tensor]:
    count = len([k for k in tensors if k.startswith(prefix)])
    return [tensors[f"{prefix}{i}"] for i in range(count)]


def _as_reference_pth(tmp_path: Path, state_dict: dict[str, torch.Tensor]) -> Path:
    """The weights as BasicSR saves them: a .pth of {"params": state_dict}, reference key names."""
    path = tmp_path / "reference.pth"
    torch.save({"params": state_dict}, path)
    return path


def _max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != reference {tuple(b.shape)}"
    return float((a - b).abs().max())


RESTORER_CASES = {
    # fixture: (load_model arch=, TLC train size or None)
    "nafnet_baseline": (None, None),
    "nafnet_baseline_dec2": (None, None),
    "nafnet_tlc": (None, 32),
    "restormer_dcpt": (None, None),
    "restormer_dcpt_withbias": (None, None),
    "restormer_origin": ("restormer-origin", None),
}


@pytest.mark.parametrize("name", sorted(RESTORER_CASES))
def test_restorer_matches_reference_output_and_features(name: str, tmp_path: Path) -> None:
    tensors, meta = _read(name)
    arch, tlc = RESTORER_CASES[name]
    model = load_model(_as_reference_pth(tmp_path, _group(tensors, "params.")), arch=arch)
    if tlc is not None:
        model.set_local_pooling(tlc)
    x = tensors["input"]
    with torch.no_grad():
        output = model(x)
        features = model.forward_features(x)
    reference = _features(tensors)
    assert len(features) == len(reference), meta.get("feature_rule")
    assert _max_abs(output, tensors["output"]) <= TOLERANCE
    for i, (ours, theirs) in enumerate(zip(features, reference, strict=True)):
        assert _max_abs(ours, theirs) <= TOLERANCE, f"feature {i} ({meta['feature_modules']})"


@pytest.mark.parametrize("name", ["restormer_dcpt", "restormer_dcpt_withbias"])
def test_paired_classifier_matches_reference_logits(name: str) -> None:
    tensors, meta = _read(name)
    kwargs = json.loads(meta["classifier_kwargs"])
    head = DegradationClassifier(kwargs["feature_dims"], kwargs["num_classes"])
    head.load_state_dict(_group(tensors, "params_dc."), strict=True)
    with torch.no_grad():
        logits = head(_features(tensors))
    assert _max_abs(logits, tensors["logits"]) <= TOLERANCE


@pytest.mark.parametrize(
    "features,logits", [("feature.", "logits"), ("feature_oddmap.", "logits_oddmap")]
)
def test_classifier_matches_reference_on_even_and_odd_maps(features: str, logits: str) -> None:
    """The odd-map set (last map 9x5) pins the max-pool's floor rounding."""
    tensors, meta = _read("classifier_nafnet")
    kwargs = json.loads(meta["constructor_kwargs"])
    head = DegradationClassifier(kwargs["feature_dims"], kwargs["num_classes"])
    head.load_state_dict(_group(tensors, "params."), strict=True)
    with torch.no_grad():
        ours = head(_features(tensors, features))
    assert _max_abs(ours, tensors[logits]) <= TOLERANCE


def test_restormer_origin_keys_load_as_official_with_a_warning(tmp_path: Path) -> None:
    """Keys cannot tell Restormer_origin from the official Restormer: detection picks the official
    one, says so, and the output then differs from the reference (why arch= exists)."""
    from dcpt_sdk.errors import AmbiguousArchitectureWarning

    tensors, _ = _read("restormer_origin")
    path = _as_reference_pth(tmp_path, _group(tensors, "params."))
    with pytest.warns(AmbiguousArchitectureWarning, match="arch='restormer-origin'"):
        model = load_model(path)
    assert model.spec.arch == "restormer"
    with torch.no_grad():
        assert _max_abs(model(tensors["input"]), tensors["output"]) > 1e-2


def test_named_arch_that_does_not_fit_the_keys_is_a_clear_error(tmp_path: Path) -> None:
    from dcpt_sdk.errors import ModelLoadError

    tensors, _ = _read("nafnet_baseline")
    path = _as_reference_pth(tmp_path, _group(tensors, "params."))
    with pytest.raises(ModelLoadError, match="does not hold a restormer-origin state dict"):
        load_model(path, arch="restormer-origin")
