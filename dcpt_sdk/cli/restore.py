"""dcpt-restore: restore image files and folders with a DCPT model.

Outputs mirror the inputs' relative paths under -o, are written atomically (never half-written),
and existing outputs are skipped unless --overwrite, so an interrupted run resumes where it
stopped. A bad file is reported and skipped; the exit status is 1 when any file failed.
"""

from __future__ import annotations

import argparse
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from dcpt_sdk import imaging
from dcpt_sdk.cli.common import Progress, run_command
from dcpt_sdk.cli.jobs import (
    Summary,
    local_inputs,
    local_output,
    plan_jobs,
    print_summary,
    report_classes,
    skip_done,
)
from dcpt_sdk.cli.model_options import add_model_arguments, open_restorer, restorer_options
from dcpt_sdk.errors import DcptError, UnsupportedOptionError

T = TypeVar("T")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcpt-restore",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="INPUT",
        help="image files or folders (with --engine ray also URIs: s3://, gs://, file://, ...)",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output folder (outputs mirror the inputs' relative paths), or an image file name "
        "when the input is one image",
    )
    add_model_arguments(parser)
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
    parser.add_argument(
        "--engine",
        default="local",
        choices=["local", "ray"],
        help="local: this process; ray: a pool of Restorer actors on Ray Data, on a local Ray "
        "instance or a cluster (pip install 'dcpt-sdk[ray]')",
    )
    ray = parser.add_argument_group("--engine ray")
    ray.add_argument(
        "--ray-address",
        default=None,
        help="the Ray cluster to join ('auto': the one started on this machine with ray start; "
        "default: $RAY_ADDRESS when set, as under ray job submit, else a new local instance "
        "with this machine's CPUs)",
    )
    ray.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="Restorer actors (default: the cluster's CPUs / --num-cpus, or its GPUs / "
        "--num-gpus with GPUs)",
    )
    ray.add_argument(
        "--num-cpus",
        type=float,
        default=None,
        help="CPUs per actor, also its torch threads (default 1); outputs equal the local "
        "command's bit for bit at the same thread count",
    )
    ray.add_argument(
        "--num-gpus",
        type=float,
        default=None,
        help="GPUs per actor (default: 1 when the cluster has GPUs, else 0)",
    )
    return parser


def _check_engine_options(args: argparse.Namespace) -> None:
    """Refuse flags the chosen engine would ignore (never silently drop an option)."""
    if args.engine == "local":
        for flag in ("ray_address", "concurrency", "num_cpus", "num_gpus"):
            if getattr(args, flag) is not None:
                name = "--" + flag.replace("_", "-")
                raise UnsupportedOptionError(
                    f"{name} applies to --engine ray only; add --engine ray or drop {name}"
                )
    elif args.no_pipeline:
        raise UnsupportedOptionError(
            "--no-pipeline applies to --engine local only (each Ray actor decodes, restores "
            "and encodes its images in turn); drop --no-pipeline"
        )


def restore_all(args: argparse.Namespace) -> int:
    _check_engine_options(args)
    if args.engine == "ray":
        from dcpt_sdk.ray_restore import restore_folder

        summary = restore_folder(
            args.inputs,
            args.output,
            **restorer_options(args),
            classify=args.classify,
            overwrite=args.overwrite,
            in_place=args.in_place,
            concurrency=args.concurrency,
            num_cpus=args.num_cpus,
            num_gpus=args.num_gpus,
            address=args.ray_address,
        )
        return print_summary(summary)
    return _restore_locally(args)


def _restore_locally(args: argparse.Namespace) -> int:

    inputs, output = local_inputs(args.inputs), local_output(args.output)
    jobs, output = plan_jobs(inputs, output, in_place=args.in_place)
    restorer = open_restorer(args)
    summary = Summary()
    classes: dict[str, dict[str, float]] = {}
    progress = Progress(len(jobs), "restoring")
    todo = skip_done(jobs, output, overwrite=args.overwrite, summary=summary, progress=progress)
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
        report_classes(classes, output)
    return print_summary(summary)


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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: restore_all(args))


if __name__ == "__main__":
    sys.exit(main())
