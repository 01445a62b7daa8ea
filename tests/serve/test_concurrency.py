"""dcpt-serve under concurrent requests: 503 on a full queue, 504 on a timeout, micro-batches.

The requests run concurrently in one event loop (httpx's ASGI transport, the app's lifespan
entered by hand); the model is held at a Gate, so which request is running and which are queued
is decided by the test, and the only waits are for states the test asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np
import pytest

pytest.importorskip(
    "fastapi", reason="the service needs the serve extra: pip install 'dcpt-sdk[serve]'"
)
import httpx  # noqa: E402
from _serving import WAIT_S, Gate, metric, photo, png, tiny_network  # noqa: E402

from dcpt_sdk.imaging import decode_image  # noqa: E402
from dcpt_sdk.restorer import Restorer  # noqa: E402
from dcpt_sdk.serve import ServeSettings, create_app  # noqa: E402

Scenario = Callable[[httpx.AsyncClient, Gate], Awaitable[None]]


def _run(
    scenario: Scenario,
    settings: ServeSettings,
    batch_gain: bool = False,
    forward_batches: list[int] | None = None,
) -> Restorer:
    network = tiny_network()
    gate = Gate(network)
    if forward_batches is not None:  # note the batch size of every plain forward pass
        forward = network.forward

        def noted(batch: Any) -> Any:
            forward_batches.append(int(batch.shape[0]))
            return forward(batch)

        network.forward = noted
    restorer = Restorer(network, backend="torch", device="cpu")
    # The torch backend gains from batching on a GPU only; forcing the flag runs the stacked
    # path on the CPU, which computes the same thing.
    restorer._runtime.batch_gain = batch_gain
    app = create_app(restorer, settings)

    async def main() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://serve") as client:
                await scenario(client, gate)

    asyncio.run(main())
    return restorer


async def _until_metric(client: httpx.AsyncClient, line_start: str, value: float) -> None:
    for _ in range(int(WAIT_S / 0.01)):
        if metric((await client.get("/metrics")).text, line_start) == value:
            return
        await asyncio.sleep(0.01)
    pytest.fail(f"{line_start} never reached {value}")


async def _entered(gate: Gate) -> None:
    assert await asyncio.to_thread(gate.entered.wait, WAIT_S), "the model was never called"


def test_a_full_queue_answers_503_with_retry_after_and_the_rest_completes() -> None:
    async def scenario(client: httpx.AsyncClient, gate: Gate) -> None:
        body = png(photo())
        running = asyncio.ensure_future(client.post("/v1/restore", content=body))
        await _entered(gate)
        waiting = asyncio.ensure_future(client.post("/v1/restore", content=body))
        await _until_metric(client, "dcpt_serve_queue_depth", 1)
        refused = await client.post("/v1/classify", content=body)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error"]["kind"] == "queue_full"
        gate.opened.set()
        for answer in (await running, await waiting):
            assert answer.status_code == 200
            assert decode_image(answer.content).pixels.shape == photo().shape

    _run(scenario, ServeSettings(queue_size=1, max_batch=1))


def test_a_request_over_its_timeout_is_504_and_its_queued_job_never_runs() -> None:
    async def scenario(client: httpx.AsyncClient, gate: Gate) -> None:
        body = png(photo())
        running = asyncio.ensure_future(client.post("/v1/restore", content=body))
        await _entered(gate)
        queued = await client.post("/v1/restore", content=body)  # waits behind it: times out
        assert queued.status_code == 504
        assert "limit" in queued.json()["error"]["message"]
        assert (await running).status_code == 504
        gate.opened.set()
        assert (await client.post("/v1/restore", content=body)).status_code == 200
        text = (await client.get("/metrics")).text
        # Two rounds ran: the held request and the last one; the timed-out queued job was dropped.
        assert metric(text, "dcpt_serve_batch_size_count") == 2
        assert metric(text, 'dcpt_serve_errors_total{kind="timeout"}') == 2

    _run(scenario, ServeSettings(timeout_s=0.5))


def test_same_size_requests_queued_together_run_as_one_batch() -> None:
    sizes = [(24, 32), (24, 32), (24, 32), (16, 16)]
    answers: list[Any] = []

    async def scenario(client: httpx.AsyncClient, gate: Gate) -> None:
        first = asyncio.ensure_future(client.post("/v1/restore", content=png(photo())))
        await _entered(gate)
        rest = [
            asyncio.ensure_future(client.post("/v1/restore", content=png(photo(h, w, seed=i))))
            for i, (h, w) in enumerate(sizes)
        ]
        await _until_metric(client, "dcpt_serve_queue_depth", len(sizes))
        gate.opened.set()
        assert (await first).status_code == 200
        answers.extend([await answer for answer in rest])
        text = (await client.get("/metrics")).text
        assert metric(text, "dcpt_serve_batch_size_count") == 2  # the held one, then all four
        assert metric(text, "dcpt_serve_batch_size_sum") == 1 + len(sizes)

    forward_batches: list[int] = []
    settings = ServeSettings(max_batch=4, batch_window_ms=0)
    restorer = _run(scenario, settings, batch_gain=True, forward_batches=forward_batches)
    assert forward_batches == [3]  # the three same-size images in one call; the 16x16 alone
    restorer._runtime.batch_gain = False
    for (height, width), seed, answer in zip(sizes, range(len(sizes)), answers, strict=True):
        assert answer.status_code == 200, answer.text
        pixels = photo(height, width, seed=seed)
        alone, probabilities = restorer.run_and_classify(pixels)
        # The stacked pass may differ from a single one in the last float bit: 1 grey level.
        got = decode_image(answer.content).pixels.astype(int)
        assert np.abs(got - alone.astype(int)).max() <= 1
        top = max(probabilities, key=probabilities.__getitem__)
        assert answer.headers["x-degradation"] == top
