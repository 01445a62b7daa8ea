"""Model builders the tests share (importable because tests/conftest.py's folder is on sys.path)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch

from dcpt_sdk.models import create_model

Model = TypeVar("Model", bound=torch.nn.Module)


def randomised(model: Model, seed: int = 0, scale: float = 0.05) -> Model:
    """Every parameter drawn from N(0, scale^2), seeded: the one model-randomising helper of the
    tests. Fresh networks would make many checks pass trivially: NAFNet blocks start as identities
    (beta = gamma = 0), norms at weight 1 and bias 0, attention temperatures at 1."""
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


def check_odd_size_restore(
    model: torch.nn.Module, arch: str, hparams: dict, height: int = 37, width: int = 53
) -> None:
    """Restorer on an odd-sized image equals the documented client rule, computed here by hand:
    numpy's reflect pad on the bottom/right to the pad multiple, one forward pass, crop from the
    top-left, clip. A wrong pad mode, pad side or crop corner changes the pixels and fails."""
    import numpy as np

    from dcpt_sdk.archs import get_architecture
    from dcpt_sdk.models import spec_for
    from dcpt_sdk.restorer import Restorer

    model.spec = spec_for(get_architecture(arch), hparams)
    multiple = model.spec.pad_multiple
    image = np.random.default_rng(11).random((height, width, 3)).astype(np.float32)
    x = image.transpose(2, 0, 1)[None]
    padded = np.pad(x, ((0, 0), (0, 0), (0, -height % multiple), (0, -width % multiple)), "reflect")
    assert padded.shape[2] % multiple == 0 and padded.shape[3] % multiple == 0
    with torch.no_grad():
        y = model(torch.from_numpy(np.ascontiguousarray(padded))).numpy()
    expected = np.clip(y[0, :, :height, :width].transpose(1, 2, 0), 0.0, 1.0)
    restored = Restorer(model, backend="torch", device="cpu", tile=None).run(image)
    assert restored.shape == image.shape
    # 1e-5: the torch backend runs channels_last on the CPU, whose convolutions sum in another
    # order (differences ~3e-6); a wrong pad or crop moves pixels by far more.
    np.testing.assert_allclose(restored, expected, atol=1e-5, rtol=0)
    # and the model does something: a constant pad or an identity would not reach here unnoticed
    assert float(np.abs(restored - image).max()) > 1e-3
