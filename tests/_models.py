"""Model builders the tests share (importable because tests/conftest.py's folder is on sys.path)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from dcpt_sdk.models import create_model


def randomised(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> torch.nn.Module:
    """Seeded random weights. Fresh NAFNet blocks start as identities (beta = gamma = 0), which
    would make many checks pass trivially."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * scale)
    return model


def with_light_classifier(model: torch.nn.Module, classes: Sequence[str]) -> torch.nn.Module:
    """Attach a (fresh) light DCPT classifier over the model's features, naming its classes."""
    classifier = create_model(
        "dcpt-classifier-light", feature_dims=list(model.feature_channels), num_classes=len(classes)
    )
    model.attach_classifier(classifier)
    model.spec = model.spec.replace(degradation_classes=tuple(classes))
    return model
