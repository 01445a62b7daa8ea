"""dcpt-restore: restore image files and folders with a DCPT model.

Outputs mirror the inputs' relative paths under -o, are written atomically (never half-written),
and existing outputs are skipped unless --overwrite, so an interrupted run resumes where it
stopped. A bad file is reported and skipped; the exit status is 1 when any file failed.
"""

from __future__ import annotations

import argparse
import json
import stat
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dcpt_sdk import imaging
from dcpt_sdk.autotune import DEFAULT_MIN_PSNR_DB
from dcpt_sdk.cli.common import Progress, run_command
from dcpt_sdk.errors import DcptError, UnsupportedOptionError
from dcpt_sdk.formats import FORMATS, PRECISIONS
from dcpt_sdk.restorer import TileOption

T = TypeVar("T")


@dataclass
class Summary:
    restored: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcpt-restore",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        type=Path,
        help="output folder (outputs mirror the inputs' relative paths), or an image file name "
        "when the input is one image",
    )
    parser.add_argument("--model", default="default", help="zoo name, checkpoint or artifact dir")
    parser.add_argument(
        "--backend", default="auto", choices=["auto", *(f.backend for f in FORMATS)]
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or GPU")
    parser.add_argument("--precision", default=None, choices=PRECISIONS)
    parser.add_argument(
        "--min-psnr-db",
        type=float,
        default=DEFAULT_MIN_PSNR_DB,
        help="quality floor of --backend auto: PSNR against torch fp32 a backend must reach "
        "(about 38 admits int8)",
    )
    parser.add_argument("--tile", default="auto", help="tile size in pixels, 'auto' or 'none'")
    parser.add_argument("--tile-overlap", type=int, default=None)
    parser.add_argument("--classify", action="store_true", help="print and save the degradation")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument(
        "--no-pipeline",
        action="store_true",
        help="decode, restore and encode one image after the other (default: decode and "
        "encode in threads beside the model)",
    )
    parser.add_argument(
        "--in-place",
        action="store_true",
        help="allow -o to be the input folder itself (with --overwrite, REPLACES the originals)",
    )
    return parser


def parse_tile(value: str) -> TileOption:
    if value == "auto":
        return "auto"
    if value == "none":
        return None
    if value.isdigit():
        return int(value)
    raise UnsupportedOptionError(
        f"--tile must be a number of pixels, 'auto' or 'none'; got '{value}'"
    )


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


def restore_all(args: argparse.Namespace) -> int:
    from dcpt_sdk.restorer import Restorer

    output = args.output
    single_file = (
        len(args.inputs) == 1
        and args.inputs[0].is_file()
        and output.suffix.lower() in imaging.IMAGE_SUFFIXES
        and not output.is_dir()
    )
    if single_file:  # dcpt-restore in.png -o out.png
        jobs = [(args.inputs[0], Path(output.name))]
        output = output.parent
    else:
        if output.exists() and not output.is_dir():
            raise UnsupportedOptionError(
                f"-o '{output}' is a file; give a folder (or an image file name for one input)"
            )
        jobs = collect_inputs(args.inputs, output, in_place=args.in_place)
    if not jobs:
        raise UnsupportedOptionError(
            f"no image files found in {[str(p) for p in args.inputs]} "
            f"(looked for {', '.join(imaging.IMAGE_SUFFIXES)})"
        )
    for stale in imaging.sweep_stale_temp_files(output):
        print(f"removed {stale} (left by an interrupted run)", file=sys.stderr)
    restorer = Restorer(
        args.model,
        backend=args.backend,
        device=args.device,
        precision=args.precision,
        tile=parse_tile(args.tile),
        tile_overlap=args.tile_overlap,
        min_psnr_db=args.min_psnr_db,
    )
    print(f"{restorer}", file=sys.stderr)
    if restorer.auto_choice is not None:
        print(restorer.auto_choice.summary(), file=sys.stderr)
    summary = Summary()
    classes: dict[str, dict[str, float]] = {}
    progress = Progress(len(jobs), "restoring")
    todo = []
    for source, relative in jobs:
        if (output / relative).exists() and not args.overwrite:
            summary.skipped.append(source)
            progress.advance(f"skip {relative}")
        else:
            todo.append((source, relative))
    with Pipeline(enabled=not args.no_pipeline) as pipeline:
        for (source, relative), loading in pipeline.read_ahead(todo):
            try:
                loaded = loading.result()
                if args.classify:
                    restored, classes[str(relative)] = restorer.run_and_classify(
                        loaded.pixels, on_tile=progress.within(str(relative))
                    )
                else:
                    restored = restorer.run(loaded.pixels, on_tile=progress.within(str(relative)))
                pipeline.write(source, output / relative, restored, loaded.icc_profile)
            except DcptError as exc:
                summary.failed.append((source, str(exc)))
            progress.advance(str(relative))
            pipeline.collect(summary)
        pipeline.collect(summary, wait=True)
    progress.close()
    if args.classify:
        _report_classes(classes, output)
    return _print_summary(summary)


class Pipeline:
    """Decode the next image and encode the last one in threads while the model runs.

    Image codecs and every backend release the GIL, so with one reader and one writer thread
    the model never waits for PNG/TIFF coding. At most one image is read ahead and two writes
    are outstanding, so memory stays at a few images whatever the folder size. With
    ``enabled=False`` (--no-pipeline) each step runs in the caller's thread, in order.
    """

    _MAX_WRITES = 2

    def __init__(self, *, enabled: bool) -> None:
        self._reader = ThreadPoolExecutor(1, "dcpt-read") if enabled else None
        self._writer = ThreadPoolExecutor(1, "dcpt-write") if enabled else None
        self._writes: deque[tuple[Path, Future[None]]] = deque()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        for pool in (self._reader, self._writer):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def read_ahead(
        self, todo: list[tuple[Path, Path]]
    ) -> Iterator[tuple[tuple[Path, Path], Future[imaging.LoadedImage]]]:
        """(job, future of its decoded image), the next job's decode already started."""
        queued: deque[tuple[tuple[Path, Path], Future[imaging.LoadedImage]]] = deque()
        for job in todo:
            queued.append((job, _submit(self._reader, imaging.read_image, job[0])))
            if len(queued) > 1:
                yield queued.popleft()
        while queued:
            yield queued.popleft()

    def write(self, source: Path, target: Path, pixels: Any, icc_profile: bytes | None) -> None:
        if len(self._writes) >= self._MAX_WRITES:
            self._writes[0][1].exception()  # wait for the oldest write (collect() takes it)
        self._writes.append(
            (
                source,
                _submit(self._writer, imaging.write_image, target, pixels, icc_profile=icc_profile),
            )
        )

    def collect(self, summary: Summary, *, wait: bool = False) -> None:
        """Move finished writes into ``summary`` (all of them, waiting, with ``wait``)."""
        while self._writes and (wait or self._writes[0][1].done()):
            source, done = self._writes.popleft()
            error = done.exception()
            if error is None:
                summary.restored.append(source)
            elif isinstance(error, DcptError):
                summary.failed.append((source, str(error)))
            else:
                raise error


def _submit(
    pool: ThreadPoolExecutor | None, fn: Callable[..., T], *args: Any, **kwargs: Any
) -> Future[T]:
    """``pool.submit``, or without a pool a future already resolved in this thread."""
    if pool is not None:
        return pool.submit(fn, *args, **kwargs)
    future: Future[T] = Future()
    try:
        future.set_result(fn(*args, **kwargs))
    except Exception as error:  # delivered through the future, as a pool would
        future.set_exception(error)
    return future


def _report_classes(classes: dict[str, dict[str, float]], output: Path) -> None:
    lines = []
    for name, probs in classes.items():
        top = max(probs, key=probs.__getitem__)
        print(f"{name}: {top} ({probs[top]:.2f})")
        lines.append(json.dumps({"file": name, "degradation": top, "probabilities": probs}))
    if lines:
        output.mkdir(parents=True, exist_ok=True)
        imaging.write_text_atomic(output / "degradations.jsonl", "\n".join(lines) + "\n")


def _print_summary(summary: Summary) -> int:
    print(
        f"restored {len(summary.restored)}, skipped {len(summary.skipped)} (output exists; "
        f"--overwrite replaces), failed {len(summary.failed)}",
        file=sys.stderr,
    )
    for path, reason in summary.failed:
        print(f"  failed: {path}: {reason}", file=sys.stderr)
    return 1 if summary.failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: restore_all(args))


if __name__ == "__main__":
    sys.exit(main())
