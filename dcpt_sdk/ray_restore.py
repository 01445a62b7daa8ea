"""dcpt-restore --engine ray: restore many images with a pool of Restorer actors on Ray Data.

Ray Data reads the files' bytes (``read_binary_files``: local paths, or any URI a pyarrow
filesystem opens: s3://, gs://, abfs://, hdfs://, file://). A fixed pool of actors, each holding
one :class:`~dcpt_sdk.restorer.Restorer` opened once, decodes them with the SDK's own reader
(``imaging.decode_image``, so the pixels are exactly what the local command reads), restores
them and writes each output atomically with ``imaging.write_image``. The outputs therefore go to
a folder every actor can write: on one machine any local folder, on a cluster a shared
filesystem (NFS) mounted at the same path on every node. Writing to object-store URIs is not
implemented.

What is restored, where each output goes, resuming (an existing output is skipped unless
``overwrite``) and the report are the local command's rules (dcpt_sdk.cli.jobs), so both engines
give the same files for the same inputs. Ray is imported only here, through
``_optional.require`` (the ``ray`` extra).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from dcpt_sdk import imaging
from dcpt_sdk._optional import require
from dcpt_sdk.autotune import DEFAULT_MIN_PSNR_DB
from dcpt_sdk.cli.common import Progress
from dcpt_sdk.cli.jobs import (
    Summary,
    check_found,
    check_output_folder,
    is_uri,
    local_output,
    plan_jobs,
    report_classes,
    skip_done,
    sweep_output,
)
from dcpt_sdk.errors import BackendError, DcptError, UnsupportedOptionError
from dcpt_sdk.formats import Precision
from dcpt_sdk.restorer import TileOption

__all__ = ["restore_folder"]

_PURPOSE = "--engine ray"


@dataclass(frozen=True)
class _Source:
    """One input file: where Ray Data reads it, how messages name it, where its output goes."""

    read_path: str  # as passed to read_binary_files (and reported back in its "path" column)
    shown: Path | str  # a local path as the user named it, or the URI
    relative: Path  # output path relative to the output folder


@dataclass(frozen=True)
class _Group:
    """Sources read through one filesystem (None: Ray Data's local filesystem)."""

    filesystem: Any
    sources: list[_Source]


def restore_folder(
    inputs: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] = "default",
    backend: str = "auto",
    device: str = "auto",
    precision: Precision | None = None,
    tile: TileOption = "auto",
    tile_overlap: int | None = None,
    min_psnr_db: float = DEFAULT_MIN_PSNR_DB,
    classify: bool = False,
    overwrite: bool = False,
    in_place: bool = False,
    concurrency: int | None = None,
    num_gpus: float | None = None,
    address: str | None = None,
) -> Summary:
    """Restore image files and folders with Restorer actors on Ray; ``dcpt-restore --engine ray``.

    Inputs, output names, resuming and the report follow ``dcpt-restore``: outputs mirror the
    inputs' relative paths under ``output`` (or ``output`` is the file name for one input
    image), an existing output is skipped unless ``overwrite``, a bad file is reported in the
    summary and the others are restored. Progress and the summary go to stderr as the command
    prints them; with ``classify`` each image's degradation is printed and saved to
    ``output/degradations.jsonl``.

    Args:
        inputs: image files or folders, or URIs of a pyarrow filesystem (s3://bucket/photos,
            gs://..., file:///...); local paths and URIs are not mixed in one call.
        output: a local or mounted folder every actor can write (never a URI).
        model, backend, device, precision, tile, tile_overlap, min_psnr_db: as
            :class:`~dcpt_sdk.restorer.Restorer`; each actor opens its own (a local model path
            must exist at the same path on every node; built-in models always do).
        classify: restore and classify each image in one call.
        concurrency: the number of actors (default: one per CPU of the cluster, or one per
            ``num_gpus`` GPUs when actors take GPUs).
        num_gpus: GPUs per actor (default: 1 when the cluster has GPUs, else 0).
        address: the Ray cluster to join ("auto", "host:port", "ray://host:10001"); default:
            the instance this process already started, else $RAY_ADDRESS (set under ``ray job
            submit``), else a new local instance with this machine's CPUs, shut down at the end.

    Returns:
        The summary: restored, skipped and failed (with the reason) sources.

    Raises:
        UnsupportedOptionError: no images found, a URI as output, bad pool sizes.
        MissingDependencyError: Ray is not installed (pip install 'dcpt-sdk[ray]').
        BackendError: Ray cannot start or be reached, or an actor cannot open the model.

    Example:
        >>> summary = restore_folder(["photos/"], "restored/", concurrency=2)
        >>> len(summary.restored), len(summary.failed)
        (41, 1)
    """
    ray = require("ray", _PURPOSE)
    ray_data = require("ray.data", _PURPOSE)
    _check_pool(concurrency, num_gpus)
    groups, folder = _plan([str(item) for item in inputs], local_output(output), in_place)
    jobs = [(source.shown, source.relative) for group in groups for source in group.sources]
    summary = Summary()
    progress = Progress(len(jobs), "restoring")
    todo = set(skip_done(jobs, folder, overwrite=overwrite, summary=summary, progress=progress))
    groups = [
        _Group(g.filesystem, [s for s in g.sources if (s.shown, s.relative) in todo])
        for g in groups
    ]
    groups = [group for group in groups if group.sources]
    classes: dict[Path, dict[str, float]] = {}
    if groups:
        options = {
            "model": os.path.abspath(model) if Path(model).exists() else str(model),
            "backend": backend,
            "device": device,
            "precision": precision,
            "tile": tile,
            "tile_overlap": tile_overlap,
            "min_psnr_db": min_psnr_db,
        }
        with _ray_session(ray, address), _quiet_data(ray_data):
            pool, gpus = _pool_size(ray, concurrency, num_gpus)
            print(f"ray: {pool} Restorer actors, {gpus:g} GPU each", file=sys.stderr)
            dataset = _map(ray_data, groups, folder, options, classify, pool, gpus)
            _collect(dataset, groups, summary, classes, progress)
    progress.close()
    if classify:
        report_classes({str(rel): classes[rel] for _, rel in jobs if rel in classes}, folder)
    return summary


def _check_pool(concurrency: int | None, num_gpus: float | None) -> None:
    if concurrency is not None and (isinstance(concurrency, bool) or concurrency < 1):
        raise UnsupportedOptionError(
            f"concurrency (--concurrency) must be a number of actors >= 1, got {concurrency}"
        )
    if num_gpus is not None and num_gpus < 0:
        raise UnsupportedOptionError(
            f"num_gpus (--num-gpus) must be >= 0 GPUs per actor (0.5: two actors share one), "
            f"got {num_gpus}"
        )


def _plan(inputs: list[str], output: Path, in_place: bool) -> tuple[list[_Group], Path]:
    """The local command's jobs for local inputs; a listing through pyarrow for URIs."""
    uris = [item for item in inputs if is_uri(item)]
    if not uris:
        jobs, folder = plan_jobs([Path(item) for item in inputs], output, in_place=in_place)
        # Absolute, since Ray's workers run in their own folder.
        sources = [_Source(os.path.abspath(src), src, rel) for src, rel in jobs]
        return [_Group(None, sources)], folder
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


def _list_uri(uri: str, output: Path) -> _Group:
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
        sources.append(_Source(entry.path, shown, Path(relative)))
    return _Group(filesystem, sources)


@contextlib.contextmanager
def _ray_session(ray: Any, address: str | None) -> Iterator[None]:
    """Join or start Ray for the run; an instance this function started is shut down after."""
    if ray.is_initialized():  # the caller's own instance (a test, a notebook, a job's driver)
        yield
        return
    options: dict[str, Any] = {"address": address, "logging_level": logging.WARNING}
    if address is None and not os.environ.get("RAY_ADDRESS"):
        options["include_dashboard"] = False  # a throw-away local instance needs no web UI
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"join the Ray cluster at '{address}'" if address else "start or join Ray"
        reason = " ".join(str(error).split())[:300]
        raise BackendError(
            f"cannot {where}: {reason}; check --ray-address ('auto' needs a cluster started "
            "with 'ray start --head' on this machine), or leave it out for a local instance"
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


@contextlib.contextmanager
def _quiet_data(ray_data: Any) -> Iterator[None]:
    """Ray Data's progress bars and INFO lines off for the run (our progress counts images);
    its warnings stay."""
    context = ray_data.DataContext.get_current()
    logger = logging.getLogger("ray.data")
    before = (context.enable_progress_bars, context.print_on_execution_start, logger.level)
    context.enable_progress_bars, context.print_on_execution_start = False, False
    logger.setLevel(logging.WARNING)
    # Ray Data warns once per process that its bars are off, which reads like advice to a
    # user of this command; marking that warning as already given keeps it out.
    with contextlib.suppress(ImportError):
        from ray.util.debug import log_once

        log_once("ray_data_progress_manager_disabled")
    try:
        yield
    finally:
        context.enable_progress_bars, context.print_on_execution_start, level = before
        logger.setLevel(level)


def _pool_size(ray: Any, concurrency: int | None, num_gpus: float | None) -> tuple[int, float]:
    """(actors, GPUs per actor): by default one actor per GPU where the cluster has GPUs,
    else one per CPU (each actor runs one torch thread: Ray sets OMP_NUM_THREADS to the
    actor's one CPU)."""
    resources = ray.cluster_resources()
    gpus = num_gpus if num_gpus is not None else (1.0 if resources.get("GPU", 0) >= 1 else 0.0)
    if concurrency is None:
        share = resources.get("GPU", 0) / gpus if gpus > 0 else resources.get("CPU", 1)
        concurrency = max(1, int(share))
    return concurrency, gpus


def _map(
    ray_data: Any,
    groups: list[_Group],
    folder: Path,
    options: dict[str, Any],
    classify: bool,
    pool: int,
    gpus: float,
) -> Any:
    """The lazy dataset: read the bytes, restore and write in the actors, one row per image."""
    parts = [
        ray_data.read_binary_files(
            [source.read_path for source in group.sources],
            filesystem=group.filesystem,
            include_paths=True,
            # Ray Data gives one actor a whole block: a block per file keeps every actor busy
            # to the end. Reading is I/O: no CPU reserved, so the actors can hold them all.
            override_num_blocks=len(group.sources),
            num_cpus=0,
        )
        for group in groups
    ]
    dataset = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    targets = {
        source.read_path: (str(folder.absolute() / source.relative), str(source.shown))
        for group in groups
        for source in group.sources
    }
    return dataset.map_batches(
        _RestoreActor,
        batch_size=1,
        compute=ray_data.ActorPoolStrategy(size=pool),
        num_gpus=gpus or None,
        fn_constructor_kwargs={"options": options, "targets": targets, "classify": classify},
    )


def _collect(
    dataset: Any,
    groups: list[_Group],
    summary: Summary,
    classes: dict[Path, dict[str, float]],
    progress: Progress,
) -> None:
    """Run the dataset, moving each image's result into the summary as it arrives."""
    by_path = {source.read_path: source for group in groups for source in group.sources}
    restorers: set[str] = set()
    for row in dataset.iter_rows():
        if row["fatal"]:
            raise BackendError(f"a Ray actor could not open the Restorer: {row['fatal']}")
        if row["restorer"] not in restorers:  # what "auto" chose, per distinct choice
            restorers.add(row["restorer"])
            print(f"ray actor: {row['restorer']}", file=sys.stderr)
        source = by_path[row["path"]]
        if row["error"]:
            summary.failed.append((source.shown, row["error"]))
        else:
            summary.restored.append(source.shown)
            if row["classes"]:
                classes[source.relative] = json.loads(row["classes"])
        progress.advance(str(source.relative))


class _RestoreActor:
    """One Ray actor: a Restorer opened once, then decode -> restore -> atomic write per image.

    Rows come back as plain strings (an empty string for "none"), so Ray Data's Arrow blocks
    need no nullable or nested types. A Restorer that cannot be opened is reported in the
    ``fatal`` column rather than raised, so the driver prints one line instead of Ray
    retrying the actor and printing its traceback.
    """

    def __init__(
        self, options: dict[str, Any], targets: dict[str, tuple[str, str]], classify: bool
    ) -> None:
        from dcpt_sdk.restorer import Restorer

        self._targets = targets
        self._classify = classify
        self._fatal = ""
        self._restorer: Restorer | None = None
        try:
            self._restorer = Restorer(**options)
        except DcptError as error:
            self._fatal = " ".join(str(error).split())

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        rows: dict[str, list[str]] = {
            key: [] for key in ("path", "error", "classes", "restorer", "fatal")
        }
        for data, path in zip(batch["bytes"], batch["path"], strict=True):
            error, classes = self._restore(bytes(data), str(path))
            rows["path"].append(str(path))
            rows["error"].append(error)
            rows["classes"].append(classes)
            rows["restorer"].append(repr(self._restorer) if self._restorer else "")
            rows["fatal"].append(self._fatal)
        return rows

    def _restore(self, data: bytes, path: str) -> tuple[str, str]:
        """(error message or "", JSON of the class probabilities or "") for one image."""
        if self._restorer is None:
            return "", ""
        target, shown = self._targets[path]
        try:
            loaded = imaging.decode_image(data, shown)
            probabilities = None
            if self._classify:
                restored, probabilities = self._restorer.run_and_classify(loaded.pixels)
            else:
                restored = self._restorer.run(loaded.pixels)
            imaging.write_image(target, restored, icc_profile=loaded.icc_profile)
        except DcptError as error:  # a bad file is reported; anything else is a bug and raises
            return str(error), ""
        return "", json.dumps(probabilities) if probabilities is not None else ""
