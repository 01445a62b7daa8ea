"""Fixtures for the export tests: tiny networks with non-trivial weights, cached artifacts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.models import create_model
from dcpt_sdk.spec import ClassifierSpec

CLASSES = ("noise", "rain", "haze")


def tiny_network(name: str, *, classifier: bool = True, seed: int = 0) -> nn.Module:
    """A tiny preset whose blocks all contribute, optionally carrying a DCPT classifier.

    NAFNet starts every block as the identity (zero beta/gamma, as upstream); parity on such a
    network would test little, so those scales are drawn at random here.
    """
    torch.manual_seed(seed)
    network = create_model(name)
    with torch.no_grad():
        for key, param in network.named_parameters():
            if key.endswith(("beta", "gamma")):
                param.normal_(0.0, 0.5)
    if classifier:
        head = create_model(
            "dcpt-classifier-tiny",
            feature_dims=list(network.feature_channels),
            num_classes=len(CLASSES),
        )
        network.attach_classifier(head)
        network.spec = network.spec.replace(
            classifier=ClassifierSpec(head.spec.arch, head.spec.hparams),
            degradation_classes=CLASSES,
        )
    return network.eval()


@pytest.fixture(scope="session")
def nafnet() -> nn.Module:
    return tiny_network("nafnet-tiny")


@pytest.fixture(scope="session")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., tuple[Path, ArtifactInfo]]:
    """export() with a per-session cache: (name, format, precision) -> (directory, info)."""
    from dcpt_sdk.export import export

    cache: dict[tuple[str, str, str], tuple[Path, ArtifactInfo]] = {}
    root = tmp_path_factory.mktemp("artifacts")

    def get(name: str, fmt: str, precision: str) -> tuple[Path, ArtifactInfo]:
        key = (name, fmt, precision)
        if key not in cache:
            directory = root / f"{name}-{fmt}-{precision}"
            cache[key] = (directory, export(tiny_network(name), fmt, precision, directory))
        return cache[key]

    return get
