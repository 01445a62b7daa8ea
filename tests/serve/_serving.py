"""What the dcpt-serve tests share: a tiny real model with a classifier, a gate to hold it, PNGs."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from dcpt_sdk.imaging import encode_image
from dcpt_sdk.models import create_model
from dcpt_sdk.restorer import Restorer

CLASSES = ("derain", "denoise", "dehaze")
WAIT_S = 60.0  # bounds on waits that end at once unless something is broken; nothing is timed


def tiny_network(seed: int = 0) -> Any:
    from _models import randomised, with_light_classifier

    return with_light_classifier(randomised(create_model("nafnet-tiny"), seed=seed), CLASSES)


def tiny_restorer(seed: int = 0) -> Restorer:
    return Restorer(tiny_network(seed), backend="torch", device="cpu")


class Gate:
    """Holds the model's one-pass restore-and-classify until the test opens it, so a test
    decides what is queued and what is running, never a clock."""

    def __init__(self, network: Any) -> None:
        self.entered = threading.Event()
        self.opened = threading.Event()
        run = network.restore_and_classify

        def held(batch: Any) -> Any:
            self.entered.set()
            if not self.opened.wait(WAIT_S):
                raise RuntimeError("the test never opened the gate")
            return run(batch)

        network.restore_and_classify = held


def photo(height: int = 24, width: int = 32, channels: int = 3, seed: int = 0) -> np.ndarray:
    """A crop of a shipped sample photo (uint8), so the model sees natural image statistics."""
    from dcpt_sdk.zoo.samples import sample_images

    picture = sample_images()[seed % 3][100 : 100 + height, 120 : 120 + width]
    if channels == 4:
        alpha = np.linspace(0, 255, height * width).reshape(height, width, 1).astype(np.uint8)
        return np.concatenate([picture, alpha], axis=2)
    if channels == 1:
        return np.ascontiguousarray(picture[:, :, 1])
    return np.ascontiguousarray(picture)


def png(pixels: np.ndarray) -> bytes:
    return encode_image(pixels, "png")


def metric(text: str, line_start: str) -> float:
    """The value of the first exposition line that starts with ``line_start``."""
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric line starting with {line_start!r} in:\n{text}")
