"""Fixtures for the runtime backend tests: small exported artifacts of a tiny NAFNet."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from dcpt_sdk.artifact import ArtifactInfo
from dcpt_sdk.models import create_model
from dcpt_sdk.spec import ClassifierSpec


def _network(classifier: bool) -> nn.Module:
    torch.manual_seed(0)
    network = create_model("nafnet-tiny")
    with torch.no_grad():
        for key, param in network.named_parameters():
            if key.endswith(("beta", "gamma")):  # upstream starts them at 0: identity blocks
                param.normal_(0.0, 0.5)
    if classifier:
        head = create_model(
            "dcpt-classifier-tiny", feature_dims=list(network.feature_channels), num_classes=2
        )
        network.attach_classifier(head)
        network.spec = network.spec.replace(
            classifier=ClassifierSpec(head.spec.arch, head.spec.hparams),
            degradation_classes=("noise", "rain"),
        )
    return network.eval()


@pytest.fixture(scope="session")
def runtime_network() -> nn.Module:
    return _network(classifier=True)


@pytest.fixture(scope="session")
def artifact(
    tmp_path_factory: pytest.TempPathFactory, runtime_network: nn.Module
) -> Callable[..., tuple[Path, ArtifactInfo]]:
    """(format, precision, classifier=True) -> an exported artifact, cached per session."""
    from dcpt_sdk.export import export

    cache: dict[tuple[str, str, bool], tuple[Path, ArtifactInfo]] = {}
    root = tmp_path_factory.mktemp("runtime-artifacts")

    def get(fmt: str, precision: str, classifier: bool = True) -> tuple[Path, ArtifactInfo]:
        key = (fmt, precision, classifier)
        if key not in cache:
            network = runtime_network if classifier else _network(classifier=False)
            directory = root / f"{fmt}-{precision}-{classifier}"
            cache[key] = (directory, export(network, fmt, precision, directory))
        return cache[key]

    return get
