"""What the inference thread does with a batch of jobs: the Restorer calls, nothing else.

Every job is run on its own with ``Restorer.run_and_classify`` (one network pass for both on
the torch backend) or ``Restorer.classify``, except where the backend gains from batching (a
GPU: ``batch_gain``): there same-size restore jobs go through ``Restorer.run_batch`` as one
stacked call, and each is then classified on its own, since the Restorer offers no batched
run_and_classify. No CPU backend gains from batching, so on a CPU every job is one call.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Literal

import numpy as np

from dcpt_sdk.errors import DcptError
from dcpt_sdk.restorer import Restorer

__all__ = ["Job", "Result", "RestorerWorker"]

Task = Literal["restore", "classify"]


@dataclass(frozen=True, eq=False)
class Job:
    """One request's work: restore (and classify) or only classify decoded pixels."""

    task: Task
    pixels: np.ndarray


@dataclass(frozen=True, eq=False)
class Result:
    """``pixels``: the restored image (restore jobs); ``probabilities``: class -> probability in
    the model's class order (None when the model has no classifier)."""

    pixels: np.ndarray | None
    probabilities: dict[str, float] | None


class RestorerWorker:
    """The Batcher's ``process`` over one Restorer (called from one thread only)."""

    def __init__(self, restorer: Restorer) -> None:
        self.restorer = restorer
        self.classifies = bool(restorer.spec.degradation_classes)
        # The runtime's own verdict (True on GPU backends), the one Restorer.run_batch uses.
        self.gains_from_batching = restorer.batch_gain

    def __call__(self, jobs: list[Job]) -> list[Result | BaseException]:
        results: list[Result | BaseException | None] = [None] * len(jobs)
        if self.gains_from_batching:
            for indices in _same_size_restores(jobs):
                self._run_stacked(jobs, indices, results)
        done: list[Result | BaseException] = []
        for job, result in zip(jobs, results, strict=True):
            done.append(self._run_one(job) if result is None else result)
        return done

    def _run_one(self, job: Job) -> Result | BaseException:
        try:
            if job.task == "classify":
                return Result(None, self.restorer.classify(job.pixels))
            if not self.classifies:
                return Result(self.restorer.run(job.pixels), None)
            restored, probabilities = self.restorer.run_and_classify(job.pixels)
            return Result(restored, probabilities)
        except DcptError as exc:  # this image's problem; the other jobs go on
            return exc

    def _run_stacked(
        self, jobs: list[Job], indices: list[int], results: list[Result | BaseException | None]
    ) -> None:
        """One run_batch call for same-size restore jobs; on an error each runs alone instead,
        so one bad image cannot fail its neighbours."""
        try:
            restored = list(self.restorer.run_batch([jobs[i].pixels for i in indices]))
            for index, pixels in zip(indices, restored, strict=True):
                probabilities = (
                    self.restorer.classify(jobs[index].pixels) if self.classifies else None
                )
                results[index] = Result(pixels, probabilities)
        except DcptError:
            for index in indices:
                results[index] = None


def _same_size_restores(jobs: list[Job]) -> list[list[int]]:
    """Indices of restore jobs grouped by shape and dtype, groups of two or more only."""
    groups: dict[tuple[tuple[int, ...], str], list[int]] = defaultdict(list)
    for index, job in enumerate(jobs):
        if job.task == "restore":
            groups[(job.pixels.shape, job.pixels.dtype.str)].append(index)
    return [indices for indices in groups.values() if len(indices) > 1]
