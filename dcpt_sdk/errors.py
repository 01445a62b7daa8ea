"""The exceptions dcpt-sdk raises for user-facing problems.

Every message says what was given, what is valid, and how to fix it. The command-line tools print
``DcptError`` messages without a traceback and exit with status 1; anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "DcptError",
    "InvalidImageError",
    "ModelLoadError",
    "UnsupportedOptionError",
    "MissingDependencyError",
    "BackendError",
    "VerificationError",
    "AmbiguousArchitectureWarning",
]


class DcptError(Exception):
    """Base class of every error caused by user input or the environment (not by a bug)."""


class InvalidImageError(DcptError, ValueError):
    """An image that cannot be read or has an unsupported shape, dtype or channel count."""


class ModelLoadError(DcptError):
    """A file that is not a model, or whose keys/shapes fit no known architecture."""


class UnsupportedOptionError(DcptError, ValueError):
    """An option value (backend, precision, format option, ...) that is not one of the valid ones."""


class MissingDependencyError(DcptError, ImportError):
    """An optional package is not installed; the message names the pip extra that brings it."""


class BackendError(DcptError, RuntimeError):
    """A backend failed at run time (out of memory after every retry, provider not loadable, ...)."""


class VerificationError(DcptError):
    """An exported model does not match torch within its precision's threshold."""


class AmbiguousArchitectureWarning(UserWarning):
    """A checkpoint's keys fit more than one architecture; the warning names the one chosen and
    how to choose the other (``arch=...``)."""
