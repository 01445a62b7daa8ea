"""What dcpt-restore restores, whatever the engine: inputs -> jobs, resume, the report.

A job is (source, output path relative to the output folder). Outputs mirror the inputs'
relative paths; an output that exists is done, so a rerun resumes where a run stopped
(``overwrite`` redoes it). The local engine (dcpt_sdk.cli.restore) and the Ray engine
(dcpt_sdk.ray_restore) share every rule here, so the two cannot drift apart.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dcpt_sdk import imaging
from dcpt_sdk.cli.common import Progress
from dcpt_sdk.errors import UnsupportedOptionError

# A job's source: a local path, or a URI (--engine ray reads those).
S = TypeVar("S", bound=Path | str)


@dataclass
class Summary:
    """What a run did with each input (a local path, or a URI read by ``--engine ray``)."""

    restored: list[Path | str] = field(default_factory=list)
    skipped: list[Path | str] = field(default_factory=list)
    failed: list[tuple[Path | str, str]] = field(default_factory=list)


def is_uri(value: str | os.PathLike[str]) -> bool:
    """True for 's3://bucket/key'-style names (a Path would fold the '//' and lose the scheme)."""
    return "://" in str(value)


def local_output(output: str | os.PathLike[str]) -> Path:
    """-o as a path; a URI is refused (every engine writes to a local or mounted folder)."""
    if is_uri(output):
        raise UnsupportedOptionError(
            f"-o '{output}' is a URI: outputs are written to a local or mounted (NFS) folder; "
            "write there, then copy the folder to the object store with its own tool"
        )
    return Path(output)


def local_inputs(inputs: list[str]) -> list[Path]:
    """The command's inputs as paths; a URI is refused (only --engine ray reads URIs)."""
    for item in inputs:
        if is_uri(item):
            raise UnsupportedOptionError(
                f"input '{item}' is a URI: only --engine ray reads URIs (through pyarrow "
                "filesystems); add --engine ray, or copy the files to a local folder"
            )
    return [Path(item) for item in inputs]


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def collect_inputs(
    inputs: list[Path], output: Path | None = None, *, in_place: bool = False
) -> list[tuple[Path, Path]]:
    """(file, output path relative to -o) for every image file named or found in a folder.

    The output tree is never walked (an output folder inside an input folder would otherwise
    restore the previous run's outputs again on every rerun), and an input folder that IS the
    output folder is refused unless ``in_place``. Symlinked folders are followed, each real
    folder once (a link loop ends); an image-named entry that is no regular file (a FIFO, a
    device, a socket) is skipped with a note on stderr rather than read (a FIFO would block).
    """
    found: list[tuple[Path, Path]] = []
    for item in inputs:
        if item.is_dir():
            if output is not None and item.resolve() == output.resolve() and not in_place:
                raise UnsupportedOptionError(
                    f"-o '{output}' is the input folder itself: outputs would replace or be "
                    "confused with the originals; choose another -o, or pass --in-place if you "
                    "mean it (with --overwrite it replaces the originals)"
                )
            skip = output if output is not None and output.resolve() != item.resolve() else None
            for path in _walk(item, skip):
                found.append((path, path.relative_to(item)))
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            raise UnsupportedOptionError(f"input '{item}' does not exist")
    return found


def _walk(folder: Path, skip: Path | None) -> list[Path]:
    """Image files under ``folder`` in sorted order, following symlinked folders once each."""
    seen: set[tuple[int, int]] = set()
    pending = [folder]
    files: list[Path] = []
    while pending:
        directory = pending.pop()
        try:
            info = directory.stat()
            entries = sorted(directory.iterdir())
        except OSError as error:
            print(f"skipped {directory}: {error.strerror or error}", file=sys.stderr)
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue  # a folder reached again through a link (or a link loop)
        seen.add((info.st_dev, info.st_ino))
        for path in entries:
            if skip is not None and _inside(path, skip):
                continue
            if path.is_dir():
                pending.append(path)
            elif path.suffix.lower() in imaging.IMAGE_SUFFIXES:
                if path.is_file():
                    files.append(path)
                elif path.exists():
                    print(f"skipped {path}: not a regular file ({_kind(path)})", file=sys.stderr)
    return sorted(files)


def _kind(path: Path) -> str:
    mode = path.stat().st_mode
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def plan_jobs(
    inputs: list[Path], output: Path, *, in_place: bool
) -> tuple[list[tuple[Path, Path]], Path]:
    """(jobs, output folder) for local inputs: ``in.png -o out.png`` names one output file,
    otherwise -o is a folder the inputs' relative paths are mirrored under. Temp files that
    killed writers left in the output folder are removed."""
    single_file = (
        len(inputs) == 1
        and inputs[0].is_file()
        and output.suffix.lower() in imaging.IMAGE_SUFFIXES
        and not output.is_dir()
    )
    if single_file:  # dcpt-restore in.png -o out.png
        jobs = [(inputs[0], Path(output.name))]
        output = output.parent
    else:
        check_output_folder(output)
        jobs = collect_inputs(inputs, output, in_place=in_place)
    check_found(jobs, inputs)
    sweep_output(output)
    return jobs, output


def check_output_folder(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise UnsupportedOptionError(
            f"-o '{output}' is a file; give a folder (or an image file name for one input)"
        )


def check_found(jobs: list[Any], inputs: list[Any]) -> None:
    if not jobs:
        raise UnsupportedOptionError(
            f"no image files found in {[str(p) for p in inputs]} "
            f"(looked for {', '.join(imaging.IMAGE_SUFFIXES)})"
        )


def sweep_output(output: Path) -> None:
    for stale in imaging.sweep_stale_temp_files(output):
        print(f"removed {stale} (left by an interrupted run)", file=sys.stderr)


def skip_done(
    jobs: list[tuple[S, Path]],
    output: Path,
    *,
    overwrite: bool,
    summary: Summary,
    progress: Progress,
) -> list[tuple[S, Path]]:
    """The jobs still to do: an existing output is done (a rerun resumes) unless ``overwrite``."""
    todo = []
    for source, relative in jobs:
        if (output / relative).exists() and not overwrite:
            summary.skipped.append(source)
            progress.advance(f"skip {relative}")
        else:
            todo.append((source, relative))
    return todo


def report_classes(classes: dict[str, dict[str, float]], output: Path) -> None:
    lines = []
    for name, probs in classes.items():
        top = max(probs, key=probs.__getitem__)
        print(f"{name}: {top} ({probs[top]:.2f})")
        lines.append(json.dumps({"file": name, "degradation": top, "probabilities": probs}))
    if lines:
        output.mkdir(parents=True, exist_ok=True)
        imaging.write_text_atomic(output / "degradations.jsonl", "\n".join(lines) + "\n")


def print_summary(summary: Summary) -> int:
    print(
        f"restored {len(summary.restored)}, skipped {len(summary.skipped)} (output exists; "
        f"--overwrite replaces), failed {len(summary.failed)}",
        file=sys.stderr,
    )
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if summary.failed else 0
