"""The micro-batcher on its own: bounded queue, batches, per-job errors, dropped jobs, stop.

The worker is held at a gate (a threading.Event) where a test needs jobs to pile up, so what
ends up in which batch is decided by the test, never by timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from dcpt_sdk.serve.batcher import Batcher, Process, QueueFullError, ShuttingDownError

WAIT_S = 30.0  # generous bounds on waits that end at once unless something is broken


class Recorder:
    """A process function that squares numbers, fails on negative ones, and can be held: the
    first call waits at the gate until the test opens it."""

    def __init__(self, hold_first: bool = False) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.gate = threading.Event()
        if not hold_first:
            self.gate.set()

    def __call__(self, jobs: list[int]) -> Sequence[int | BaseException]:
        self.batches.append(list(jobs))
        self.entered.set()
        assert self.gate.wait(WAIT_S), "the test never opened the gate"
        return [ValueError(f"negative {job}") if job < 0 else job * job for job in jobs]


async def _wait_until(condition, what: str) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(WAIT_S / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"timed out waiting until {what}")


Scenario = Callable[[Recorder, Batcher[int, int], "asyncio.Future[int]"], Awaitable[None]]


def _run_held(
    scenario: Scenario,
    *,
    first: int,
    process: Callable[[Recorder], Process[int, int]] | None = None,
    **options: Any,
) -> None:
    """Run ``scenario(recorder, batcher, first_result)`` in a fresh event loop once the worker
    has taken job ``first`` and waits at the recorder's gate, so every job the scenario submits
    queues up until it opens the gate. The gate opens and the batcher stops when it ends.

    process: builds the batcher's process function around the recorder (default: the recorder).
    """

    async def main() -> None:
        recorder = Recorder(hold_first=True)
        batcher: Batcher[int, int] = Batcher(process(recorder) if process else recorder, **options)
        batcher.start()
        first_result = asyncio.ensure_future(batcher.submit(first))
        try:
            await asyncio.to_thread(recorder.entered.wait, WAIT_S)
            await scenario(recorder, batcher, first_result)
        finally:
            recorder.gate.set()
            batcher.stop(WAIT_S)

    asyncio.run(main())


def test_jobs_queued_while_the_worker_runs_go_in_batches_of_max_batch() -> None:
    async def scenario(
        recorder: Recorder, batcher: Batcher[int, int], first: asyncio.Future[int]
    ) -> None:
        rest = [asyncio.ensure_future(batcher.submit(n)) for n in range(2, 7)]
        await _wait_until(lambda: batcher.depth == 5, "five jobs wait")
        recorder.gate.set()
        assert await asyncio.gather(first, *rest) == [1, 4, 9, 16, 25, 36]
        assert recorder.batches == [[1], [2, 3, 4], [5, 6]]

    _run_held(scenario, first=1, queue_size=10, max_batch=3)


def test_a_full_queue_refuses_at_once_and_a_failing_job_fails_alone() -> None:
    async def scenario(
        recorder: Recorder, batcher: Batcher[int, int], first: asyncio.Future[int]
    ) -> None:
        queued = [asyncio.ensure_future(batcher.submit(n)) for n in (-1, 5)]
        await _wait_until(lambda: batcher.depth == 2, "two jobs wait")
        with pytest.raises(QueueFullError, match="2 requests are waiting already"):
            await batcher.submit(7)
        recorder.gate.set()
        assert await first == 9
        with pytest.raises(ValueError, match="negative -1"):
            await queued[0]
        assert await queued[1] == 25  # same batch as the failing job
        assert recorder.batches == [[3], [-1, 5]]

    _run_held(scenario, first=3, queue_size=2, max_batch=4)


def test_a_job_whose_caller_gave_up_is_dropped_unrun() -> None:
    async def scenario(
        recorder: Recorder, batcher: Batcher[int, int], first: asyncio.Future[int]
    ) -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.submit(4), timeout=0.05)  # a request timing out
        kept = asyncio.ensure_future(batcher.submit(6))
        await _wait_until(lambda: batcher.depth == 2, "the dropped and the kept job wait")
        recorder.gate.set()
        assert await first == 4 and await kept == 36
        assert recorder.batches == [[2], [6]]

    _run_held(scenario, first=2, queue_size=4, max_batch=4)


def test_a_bug_in_process_fails_every_job_of_its_batch() -> None:
    sizes: list[int] = []

    def broken_after_the_first(recorder: Recorder) -> Process[int, int]:
        def process(jobs: list[int]) -> Sequence[int | BaseException]:
            return recorder(jobs) if jobs == [0] else [1]  # one result for several jobs

        return process

    async def scenario(
        recorder: Recorder, batcher: Batcher[int, int], first: asyncio.Future[int]
    ) -> None:
        pair = [asyncio.ensure_future(batcher.submit(n)) for n in (1, 2)]
        await _wait_until(lambda: batcher.depth == 2, "two jobs wait")
        recorder.gate.set()
        assert await first == 0
        for job in pair:
            with pytest.raises(RuntimeError, match="process returned 1 results for 2 jobs"):
                await job

    _run_held(
        scenario,
        first=0,
        process=broken_after_the_first,
        queue_size=4,
        max_batch=4,
        on_batch=sizes.append,
    )
    assert sizes == [1, 2]


def test_stop_finishes_the_queued_jobs_then_refuses_new_ones() -> None:
    async def scenario(
        recorder: Recorder, batcher: Batcher[int, int], first: asyncio.Future[int]
    ) -> None:
        jobs = [first, *(asyncio.ensure_future(batcher.submit(n)) for n in (2, 3))]
        stopper = asyncio.ensure_future(asyncio.to_thread(batcher.stop, WAIT_S))
        await _wait_until(lambda: batcher.depth == 3, "the stop sentinel queued behind two jobs")
        with pytest.raises(ShuttingDownError):
            await batcher.submit(4)
        recorder.gate.set()
        assert await asyncio.gather(*jobs) == [1, 4, 9]
        await stopper
        assert recorder.batches == [[1], [2], [3]]

    _run_held(scenario, first=1, queue_size=4, max_batch=1)


def test_submit_before_start_is_refused() -> None:
    batcher: Batcher[int, int] = Batcher(Recorder(), queue_size=1, max_batch=1)
    with pytest.raises(ShuttingDownError):
        asyncio.run(batcher.submit(1))
