"""The service's limits: one typed, validated place that the CLI flags and create_app share."""

from __future__ import annotations

from dataclasses import dataclass

from dcpt_sdk.errors import UnsupportedOptionError

__all__ = ["ServeSettings", "DEFAULT_MAX_PIXELS", "flag_of"]

# 4096 x 4096 = 16.8 megapixels, a large camera photo. Why this size: one such image restores in
# about 5 s on the default model's "auto" backend on a 2-core CPU (OpenVINO bf16: 48 ms per
# 512x512, x64) and in well under the 60 s timeout even on torch fp32 (190 ms, x64, plus tile
# overlap); the Restorer tiles it inside its 1 GB activation budget, so the peak of the one
# running job stays near 2 GB (float copies of the image + tile accumulators + activations). A
# larger image is a batch job for dcpt-restore, not a request that holds the queue for minutes.
DEFAULT_MAX_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class ServeSettings:
    """Limits of one dcpt-serve app; every field is also a dcpt-serve flag (``--max-body-bytes``).

    Attributes:
        max_body_bytes: largest request body; a bigger one is refused with 413, before it is
            read when Content-Length says so, else as soon as the stream passes the limit.
        max_pixels: largest width x height of an image, checked from the file header before the
            pixels are decoded (422).
        timeout_s: time one request may take from its first byte to its response (504).
        queue_size: requests waiting for the model beyond which new ones get 503 + Retry-After.
        max_batch: most queued requests the inference worker takes in one round.
        batch_window_ms: how long the worker waits for more same-size requests to fill a batch,
            used only when the backend gains from batching (a GPU); on a CPU backend it takes
            what is already queued and never waits.
    """

    max_body_bytes: int = 50 * 2**20
    max_pixels: int = DEFAULT_MAX_PIXELS
    timeout_s: float = 60.0
    queue_size: int = 32
    max_batch: int = 4
    batch_window_ms: float = 5.0

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_pixels", "queue_size", "max_batch"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UnsupportedOptionError(
                    f"{name} must be a whole number >= 1, got {value!r} (flag {flag_of(name)})"
                )
        if not self.timeout_s > 0:
            raise UnsupportedOptionError(
                f"timeout_s must be > 0 seconds, got {self.timeout_s!r} (flag --timeout-s)"
            )
        if not self.batch_window_ms >= 0:
            raise UnsupportedOptionError(
                f"batch_window_ms must be >= 0, got {self.batch_window_ms!r} "
                "(flag --batch-window-ms)"
            )


def flag_of(name: str) -> str:
    """The dcpt-serve flag of a ServeSettings field: max_body_bytes -> --max-body-bytes."""
    return "--" + name.replace("_", "-")
