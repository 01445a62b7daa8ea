"""All-or-nothing file writes (a same-folder temp file, fsync, then rename) and their file modes.

Every writer of the project goes through here, so an interrupted run never leaves a
half-written output under its final name, and a later run can sweep the temp files a killed one
left behind."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "TEMP_PREFIX",
    "atomic_write",
    "chmod_like_new",
    "sweep_stale_temp_files",
    "temp_name_for",
    "write_bytes_atomic",
    "write_text_atomic",
]


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


TEMP_PREFIX = ".dcpt-tmp-"
_MAX_NAME_BYTES = 255  # the usual file-system limit on one path component


def temp_name_for(path: Path) -> Path:
    """A recognisable same-folder temp name: ``.dcpt-tmp-<pid>-<random>-<name>.tmp``.

    The writer's PID lets a later run tell a temp file left by a killed process (SIGKILL runs no
    cleanup) from one a live process is still writing (:func:`sweep_stale_temp_files`). The
    original name is shortened when needed, so a legal 255-byte name still gets a legal temp name.
    """
    head = f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-"
    room = _MAX_NAME_BYTES - len(head.encode()) - len(b".tmp")
    stem = path.name.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return path.with_name(f"{head}{stem}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def sweep_stale_temp_files(folder: Path) -> list[Path]:
    """Remove the temp files that killed writers left under ``folder``; returns them.

    Only files named by :func:`temp_name_for` whose writer process no longer exists are removed;
    a concurrent run's files in progress are left alone.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for path in folder.rglob(f"{TEMP_PREFIX}*.tmp"):
        pid_text = path.name[len(TEMP_PREFIX) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)) and path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
                removed.append(path)
    return removed


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write through a same-folder temp file, fsync, then os.replace; remove the temp on failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = temp_name_for(path)
    # os.open with 0o666 lets the umask decide the final permissions (mkstemp would force 0600).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(temp, flags, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as fp:
            write(fp)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 text the same all-or-nothing way as dcpt_sdk.imaging.write_image."""
    atomic_write(Path(path), lambda fp: fp.write(text.encode("utf-8")))


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write bytes (a TensorRT plan) the same all-or-nothing way as dcpt_sdk.imaging.write_image."""
    atomic_write(Path(path), lambda fp: fp.write(data))
