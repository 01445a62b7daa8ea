"""A bounded queue in front of one model, drained by one inference thread in micro-batches.

Requests (asyncio, on the server's event loop) put jobs into the queue and await their result;
one worker thread takes up to ``max_batch`` queued jobs at a time, waiting at most ``window_s``
for more to arrive, and hands them to ``process`` in one call. One thread, because the backends
parallelise inside each call (torch/OpenVINO/ORT intra-op threads): two calls at once on a CPU
would only fight over the same cores. The queue is bounded so that overload answers at once
(503) instead of piling up work no client is still waiting for; a job whose request already
gave up (timeout, disconnect) is dropped when the worker reaches it.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Generic, TypeVar

__all__ = ["Batcher", "QueueFullError", "ShuttingDownError"]

J = TypeVar("J")
R = TypeVar("R")

#: process(jobs) -> one result per job, in order; an exception in the list fails only that job.
Process = Callable[[list[J]], Sequence[R | BaseException]]


class QueueFullError(Exception):
    """The queue holds ``queue_size`` jobs already; the caller should retry later."""


class ShuttingDownError(Exception):
    """The batcher was stopped before this job ran."""


@dataclass(frozen=True)
class _Item(Generic[J, R]):
    job: J
    future: Future[R]


class Batcher(Generic[J, R]):
    """Micro-batching in front of ``process``, run in one worker thread.

    Args:
        process: runs a batch; called only from the worker thread.
        queue_size: jobs that may wait; one more raises QueueFullError from :meth:`submit`.
        max_batch: most jobs per ``process`` call.
        window_s: how long to wait for more jobs after the first of a batch (0: take only what
            is already queued).
        on_batch: told the size of every batch taken (for the batch size histogram).
    """

    def __init__(
        self,
        process: Process[J, R],
        *,
        queue_size: int,
        max_batch: int,
        window_s: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._process = process
        self._queue_size = queue_size
        self._max_batch = max_batch
        self._window_s = window_s
        self._on_batch = on_batch
        # Unbounded underneath so stop()'s sentinel (None, behind the remaining jobs) always
        # fits; the bound is checked in submit.
        self._queue: queue.Queue[_Item[J, R] | None] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def depth(self) -> int:
        """Jobs waiting for the worker (not counting the batch it is running)."""
        return self._queue.qsize()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("this Batcher was started already")
        self._thread = threading.Thread(target=self._work, name="dcpt-serve-inference", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Finish the jobs queued so far, then end the worker; later submits are refused."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout_s)

    async def submit(self, job: J) -> R:
        """Queue ``job`` and wait for its result (cancelling the wait drops a job not yet run).

        Raises:
            QueueFullError: ``queue_size`` jobs are waiting already.
            ShuttingDownError: the batcher is stopping.
        """
        future: Future[R] = Future()
        with self._lock:
            if self._stopping or self._thread is None:
                raise ShuttingDownError("the service is shutting down")
            if self._queue.qsize() >= self._queue_size:
                raise QueueFullError(f"{self._queue_size} requests are waiting already")
            self._queue.put(_Item(job, future))
        return await asyncio.wrap_future(future)

    # -- the worker thread ---------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            batch, stop = self._take()
            if batch:
                if self._on_batch is not None:
                    self._on_batch(len(batch))
                self._run(batch)
            if stop:
                return

    def _take(self) -> tuple[list[_Item[J, R]], bool]:
        """The next batch of live jobs and whether the stop sentinel was reached."""
        batch: list[_Item[J, R]] = []
        item = self._queue.get()
        deadline = time.monotonic() + self._window_s
        while True:
            if item is None:
                return batch, True
            # False when the request stopped waiting (timeout, disconnect): skip its job.
            if item.future.set_running_or_notify_cancel():
                batch.append(item)
            if len(batch) >= self._max_batch:
                return batch, False
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                return batch, False

    def _run(self, batch: list[_Item[J, R]]) -> None:
        try:
            results = self._process([item.job for item in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"process returned {len(results)} results for {len(batch)} jobs")
        except Exception as exc:  # a bug in process: every job of the batch gets it
            for item in batch:
                item.future.set_exception(exc)
            return
        for item, result in zip(batch, results, strict=True):
            if isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
