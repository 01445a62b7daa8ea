"""The micro-batcher on its own: bounded queue, batches, per-job errors, dropped jobs, stop.

The worker is held at a gate (a threading.Event) where a test needs jobs to pile up, so what
ends up in which batch is decided by the test, never by timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

import pytest

from dcpt_sdk.serve.batcher import Batcher, QueueFullError, ShuttingDownError

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


def _held(recorder: Recorder, **options: object) -> Batcher[int, int]:
    batcher: Batcher[int, int] = Batcher(recorder, **options)  # type: ignore[arg-type]
    batcher.start()
    return batcher


def test_jobs_queued_while_the_worker_runs_go_in_batches_of_max_batch() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold_first=True)
        batcher = _held(recorder, queue_size=10, max_batch=3)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.to_thread(recorder.entered.wait, WAIT_S)
        rest = [asyncio.ensure_future(batcher.submit(n)) for n in range(2, 7)]
        await _wait_until(lambda: batcher.depth == 5, "five jobs wait")
        recorder.gate.set()
        assert await asyncio.gather(first, *rest) == [1, 4, 9, 16, 25, 36]
        assert recorder.batches == [[1], [2, 3, 4], [5, 6]]
        batcher.stop(WAIT_S)

    asyncio.run(scenario())


def test_a_full_queue_refuses_at_once_and_a_failing_job_fails_alone() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold_first=True)
        batcher = _held(recorder, queue_size=2, max_batch=4)
        first = asyncio.ensure_future(batcher.submit(3))
        await asyncio.to_thread(recorder.entered.wait, WAIT_S)
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
        batcher.stop(WAIT_S)

    asyncio.run(scenario())


def test_a_job_whose_caller_gave_up_is_dropped_unrun() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold_first=True)
        batcher = _held(recorder, queue_size=4, max_batch=4)
        first = asyncio.ensure_future(batcher.submit(2))
        await asyncio.to_thread(recorder.entered.wait, WAIT_S)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(batcher.submit(4), timeout=0.05)  # a request timing out
        kept = asyncio.ensure_future(batcher.submit(6))
        await _wait_until(lambda: batcher.depth == 2, "the dropped and the kept job wait")
        recorder.gate.set()
        assert await first == 4 and await kept == 36
        assert recorder.batches == [[2], [6]]
        batcher.stop(WAIT_S)

    asyncio.run(scenario())


def test_a_bug_in_process_fails_every_job_of_its_batch() -> None:
    def broken(jobs: list[int]) -> list[int]:
        return [1]  # one result for several jobs

    async def scenario() -> None:
        recorder = Recorder(hold_first=True)
        sizes: list[int] = []

        def process(jobs: list[int]) -> Sequence[int | BaseException]:
            return recorder(jobs) if jobs == [0] else broken(jobs)

        batcher: Batcher[int, int] = Batcher(
            process, queue_size=4, max_batch=4, on_batch=sizes.append
        )
        batcher.start()
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.to_thread(recorder.entered.wait, WAIT_S)
        pair = [asyncio.ensure_future(batcher.submit(n)) for n in (1, 2)]
        await _wait_until(lambda: batcher.depth == 2, "two jobs wait")
        recorder.gate.set()
        assert await first == 0
        for job in pair:
            with pytest.raises(RuntimeError, match="process returned 1 results for 2 jobs"):
                await job
        assert sizes == [1, 2]
        batcher.stop(WAIT_S)

    asyncio.run(scenario())


def test_stop_finishes_the_queued_jobs_then_refuses_new_ones() -> None:
    async def scenario() -> None:
        recorder = Recorder(hold_first=True)
        batcher = _held(recorder, queue_size=4, max_batch=1)
        jobs = [asyncio.ensure_future(batcher.submit(n)) for n in (1, 2, 3)]
        await asyncio.to_thread(recorder.entered.wait, WAIT_S)
        stopper = asyncio.ensure_future(asyncio.to_thread(batcher.stop, WAIT_S))
        await _wait_until(lambda: batcher.depth == 3, "the stop sentinel queued behind two jobs")
        with pytest.raises(ShuttingDownError):
            await batcher.submit(4)
        recorder.gate.set()
        assert await asyncio.gather(*jobs) == [1, 4, 9]
        await stopper
        assert recorder.batches == [[1], [2], [3]]

    asyncio.run(scenario())


def test_submit_before_start_is_refused() -> None:
    batcher: Batcher[int, int] = Batcher(Recorder(), queue_size=1, max_batch=1)
    with pytest.raises(ShuttingDownError):
        asyncio.run(batcher.submit(1))
