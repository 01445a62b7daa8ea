"""What ``dcpt-restore --engine ray`` reads: the local command's jobs, or pyarrow URI listings.

Local inputs go through the local command's own rules (dcpt_sdk.cli.jobs: folder walk, output
names, the output folder never walked); a URI (s3://bucket/prefix, gs://..., file:///...) is
listed through the pyarrow filesystem it names, a folder or prefix recursively, with the same
output names (its path relative to the URI). Each group of sources is read by Ray Data through
one filesystem.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from dcpt_sdk import imaging
from dcpt_sdk._optional import require
from dcpt_sdk.cli.jobs import check_found, check_output_folder, is_uri, plan_jobs, sweep_output
from dcpt_sdk.errors import UnsupportedOptionError

__all__ = ["Group", "Source", "plan"]

_PURPOSE = "--engine ray"


@dataclass(frozen=True)
class Source:
    """One input file: where Ray Data reads it, how messages name it, where its output goes."""

    read_path: str  # as passed to read_binary_files (and reported back in its "path" column)
    shown: Path | str  # a local path as the user named it, or the URI
    relative: Path  # output path relative to the output folder


@dataclass(frozen=True)
class Group:
    """Sources read through one filesystem (None: Ray Data's local filesystem)."""

    filesystem: Any
    sources: list[Source]


def plan(inputs: list[str], output: Path, in_place: bool) -> tuple[list[Group], Path]:
    """The local command's jobs for local inputs; a listing through pyarrow for URIs."""
    uris = [item for item in inputs if is_uri(item)]
    if not uris:
        jobs, folder = plan_jobs([Path(item) for item in inputs], output, in_place=in_place)
        # Absolute, since Ray's workers run in their own folder.
        sources = [Source(os.path.abspath(src), src, rel) for src, rel in jobs]
        return [Group(None, sources)], folder
    if len(uris) != len(inputs):
        raise UnsupportedOptionError(
            f"inputs mix URIs and local paths ({uris[0]!r} and "
            f"{next(i for i in inputs if not is_uri(i))!r}); restore them in two runs"
        )
    check_output_folder(output)
    groups = [_list_uri(uri, output) for uri in uris]
    check_found([s for group in groups for s in group.sources], uris)
    sweep_output(output)
    return groups, output


def _list_uri(uri: str, output: Path) -> Group:
    """The image files at ``uri`` (a file, or a folder/prefix walked recursively)."""
    fs = require("pyarrow.fs", _PURPOSE)
    try:
        filesystem, root = fs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(root)
        if info.type == fs.FileType.Directory:
            entries = filesystem.get_file_info(fs.FileSelector(root, recursive=True))
        else:
            entries = [info]
    except (OSError, ValueError) as error:  # pyarrow's ArrowInvalid is a ValueError
        raise UnsupportedOptionError(
            f"cannot open input '{uri}': {error}; give a URI pyarrow can open "
            "(s3://bucket/prefix, gs://..., file:///path) with its credentials set"
        ) from None
    if info.type == fs.FileType.NotFound:
        raise UnsupportedOptionError(f"input '{uri}' does not exist")
    local = isinstance(filesystem, fs.LocalFileSystem)
    sources = []
    for entry in sorted(entries, key=lambda e: e.path):
        path = PurePosixPath(entry.path)
        if entry.type != fs.FileType.File or path.suffix.lower() not in imaging.IMAGE_SUFFIXES:
            continue
        if local and Path(entry.path).resolve().is_relative_to(output.resolve()):
            continue  # never restore the output folder's own files again (as the local walk)
        if info.type == fs.FileType.Directory:
            relative = path.relative_to(root)
            shown = f"{uri.rstrip('/')}/{relative.as_posix()}"
        else:
            relative, shown = PurePosixPath(path.name), uri
        sources.append(Source(entry.path, shown, Path(relative)))
    return Group(filesystem, sources)
