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
give the same files for the same inputs; dcpt_sdk.ray_inputs lists what is read. Ray is
imported only when a run starts, through ``_optional.require`` (the ``ray`` extra).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dcpt_sdk import imaging
from dcpt_sdk._optional import require
from dcpt_sdk.autotune import DEFAULT_MIN_PSNR_DB
from dcpt_sdk.cli.common import Progress
from dcpt_sdk.cli.jobs import (
    Summary,
    local_output,
    report_classes,
    skip_done,
)
from dcpt_sdk.errors import BackendError, DcptError, UnsupportedOptionError
from dcpt_sdk.formats import Precision
from dcpt_sdk.ray_inputs import Group, plan
from dcpt_sdk.restorer import TileOption

__all__ = ["restore_folder"]

_PURPOSE = "--engine ray"


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
    num_cpus: float | None = None,
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
        concurrency: the number of actors (default: the cluster's CPUs / ``num_cpus``, or
            its GPUs / ``num_gpus`` when actors take GPUs).
        num_cpus: CPUs per actor (default 1), which is also its torch thread count (set in
            each actor, whatever OMP_NUM_THREADS the environment carries). Outputs equal the
            local command's bit for bit at the same thread count; at another one, large images can differ by one grey level in a few
            pixels (torch splits its sums differently).
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
    _check_pool(concurrency, num_cpus, num_gpus)
    if isinstance(inputs, str | os.PathLike):  # one input, not its characters
        inputs = [inputs]
    groups, folder = plan([str(item) for item in inputs], local_output(output), in_place)
    jobs = [(source.shown, source.relative) for group in groups for source in group.sources]
    summary = Summary()
    progress = Progress(len(jobs), "restoring")
    todo = set(skip_done(jobs, folder, overwrite=overwrite, summary=summary, progress=progress))
    groups = [
        Group(g.filesystem, [s for s in g.sources if (s.shown, s.relative) in todo]) for g in groups
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
            pool = _pool(ray, concurrency, num_cpus, num_gpus)
            print(f"ray: {pool}", file=sys.stderr)
            dataset = _map(ray_data, groups, folder, options, classify, pool)
            _collect(dataset, groups, summary, classes, progress)
    progress.close()
    if classify:
        report_classes({str(rel): classes[rel] for _, rel in jobs if rel in classes}, folder)
    return summary


def _check_pool(concurrency: int | None, num_cpus: float | None, num_gpus: float | None) -> None:
    if concurrency is not None and (isinstance(concurrency, bool) or concurrency < 1):
        raise UnsupportedOptionError(
            f"concurrency (--concurrency) must be a number of actors >= 1, got {concurrency}"
        )
    if num_cpus is not None and num_cpus <= 0:
        raise UnsupportedOptionError(
            f"num_cpus (--num-cpus) must be > 0 CPUs per actor, got {num_cpus}"
        )
    if num_gpus is not None and num_gpus < 0:
        raise UnsupportedOptionError(
            f"num_gpus (--num-gpus) must be >= 0 GPUs per actor (0.5: two actors share one), "
            f"got {num_gpus}"
        )


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
        reason = " ".join(str(error).split())[:300].rstrip(".")
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


@dataclass(frozen=True)
class _Pool:
    """The actor pool: how many, and what each holds (its CPUs are its torch threads)."""

    actors: int
    cpus: float
    gpus: float

    def __str__(self) -> str:
        actors = f"{self.actors} Restorer actor{'s' if self.actors != 1 else ''}"
        return f"{actors}, {self.cpus:g} CPU and {self.gpus:g} GPU each"


def _pool(
    ray: Any, concurrency: int | None, num_cpus: float | None, num_gpus: float | None
) -> _Pool:
    """By default one actor per GPU where the cluster has GPUs, else one per CPU."""
    resources = ray.cluster_resources()
    cpus = 1.0 if num_cpus is None else float(num_cpus)
    gpus = num_gpus if num_gpus is not None else (1.0 if resources.get("GPU", 0) >= 1 else 0.0)
    if concurrency is None:
        share = resources.get("GPU", 0) / gpus if gpus > 0 else resources.get("CPU", 1) / cpus
        concurrency = max(1, int(share))
    return _Pool(concurrency, cpus, float(gpus))


def _map(
    ray_data: Any,
    groups: list[Group],
    folder: Path,
    options: dict[str, Any],
    classify: bool,
    pool: _Pool,
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
            # ...but capped: with no CPU reserved nothing else limits them, and Ray started one
            # worker process per file (58 Python processes, load 35 on 2 cores, for 64 images).
            concurrency=pool.actors,
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
        compute=ray_data.ActorPoolStrategy(size=pool.actors),
        num_cpus=pool.cpus,
        num_gpus=pool.gpus or None,
        fn_constructor_kwargs={
            "options": options,
            "targets": targets,
            "classify": classify,
            "threads": max(1, int(pool.cpus)),
        },
    )


def _collect(
    dataset: Any,
    groups: list[Group],
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
        self,
        options: dict[str, Any],
        targets: dict[str, tuple[str, str]],
        classify: bool,
        threads: int,
    ) -> None:
        import torch

        from dcpt_sdk.restorer import Restorer

        # Set, not left to Ray's OMP_NUM_THREADS: a value the driver's environment already
        # carries (OMP_NUM_THREADS=1 in a shell) reaches the workers and would win over --num-cpus.
        torch.set_num_threads(threads)

        self._targets = targets
        self._classify = classify
        self._fatal = ""
        self._restorer: Restorer | None = None
        self._described = ""
        try:
            self._restorer = Restorer(**options)
        except DcptError as error:
            self._fatal = " ".join(str(error).split())
        else:
            self._described = f"{self._restorer!r}, {torch.get_num_threads()} torch threads"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        rows: dict[str, list[str]] = {
            key: [] for key in ("path", "error", "classes", "restorer", "fatal")
        }
        for data, path in zip(batch["bytes"], batch["path"], strict=True):
            error, classes = self._restore(bytes(data), str(path))
            rows["path"].append(str(path))
            rows["error"].append(error)
            rows["classes"].append(classes)
            rows["restorer"].append(self._described)
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
