"""Tiny networks for the export tests (a helper module, not collected)."""

from __future__ import annotations

import torch
from torch import nn

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
