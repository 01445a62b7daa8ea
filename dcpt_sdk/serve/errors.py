"""The service's error answers: one exception type carrying status, kind and message, and the one
JSON shape every error response has: ``{"error": {"kind": "<snake_case>", "message": "..."}}``.

Status codes, chosen once and used everywhere:

* 413 ``body_too_large``: the request body is over ``max_body_bytes``.
* 415 ``not_an_image`` / ``empty_body``: the bytes are no PNG, JPEG, TIFF, WebP or BMP file at
  all (the container is not recognised), so the media type is what is wrong.
* 422 ``too_many_pixels``, ``corrupt_image``, ``unprocessable_image``, ``bad_query``,
  ``format_cannot_hold``: a request in a form we accept (a recognised image, a query string)
  whose content cannot be processed: over the pixel limit, truncated or corrupt data inside a
  recognised container, pixels the model cannot take, a bad ``format=``, or an output format
  that cannot hold this image's depth or alpha.
* 400 ``client_disconnected`` (nobody reads it); 404 ``not_found`` / ``no_web_page``, 405
  ``method_not_allowed``; 501 ``no_classifier``: /v1/classify on a model without a classifier.
* 503 ``queue_full`` (with Retry-After) / ``shutting_down``; 504 ``timeout``.
* 500 ``backend_error`` (the backend failed, e.g. out of memory at the smallest tile) and
  ``internal_error`` (a bug: logged with its traceback on the server, never sent to the client).
"""

from __future__ import annotations

from collections.abc import Mapping

from dcpt_sdk.errors import BackendError, DcptError

__all__ = ["ServeError", "error_body", "from_dcpt_error"]


class ServeError(Exception):
    """A request the service answers with an error status and a one-line JSON message."""

    def __init__(
        self, status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        # One line, whatever the underlying library put into it (clients show it as is).
        self.message = " ".join(message.split())
        self.headers = dict(headers or {})


def error_body(kind: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"kind": kind, "message": message}}


def from_dcpt_error(exc: DcptError) -> ServeError:
    """What the Restorer raised about one image, as the answer to that request."""
    if isinstance(exc, BackendError):
        return ServeError(500, "backend_error", f"the model's backend failed: {exc}")
    return ServeError(422, "unprocessable_image", f"the model cannot take this image: {exc}")
