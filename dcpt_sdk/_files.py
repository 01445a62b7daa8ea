"""File-mode helpers for the atomic writers (temp file, then rename)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["chmod_like_new"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def chmod_like_new(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the mode a plainly created file or folder gets under the current umask.

    tempfile.mkstemp/mkdtemp make 0600 files and 0700 folders; renamed into place they would
    stay unreadable to other users (a server running as another user, a Triton container).
    """
    mode = 0o777 if Path(path).is_dir() else 0o666
    os.chmod(path, mode & ~_umask())
