"""Fixtures for the export tests: tiny networks with non-trivial weights, cached artifacts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _export_nets import tiny_network
from torch import nn

from dcpt_sdk.artifact import ArtifactInfo


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
