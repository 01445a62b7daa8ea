"""The service's Prometheus metrics, in a registry of each app's own (not the process-global one,
so two apps in one process, as in the tests, never share or collide on counters).

    dcpt_serve_requests_total{endpoint, status}     requests answered
    dcpt_serve_request_duration_seconds{endpoint}   latency histogram, first byte to last
    dcpt_serve_requests_in_progress{endpoint}       requests being served now
    dcpt_serve_queue_depth                          jobs waiting for the inference thread
    dcpt_serve_errors_total{kind}                   error answers by their "kind"
    dcpt_serve_batch_size                           jobs per inference round (histogram)

``endpoint`` is the route, never the raw path: /static/<anything> is one label, other paths
"other", so a scanner probing random URLs cannot blow up the number of series.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ENDPOINTS", "RequestMetrics", "ServeMetrics", "endpoint_label"]

ENDPOINTS = ("/", "/v1/restore", "/v1/classify", "/healthz", "/metrics")
# Seconds; from a tiny image on a GPU to a 16-megapixel photo on two CPU cores.
_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


def endpoint_label(path: str) -> str:
    if path in ENDPOINTS:
        return path
    if path.startswith("/static/"):
        return "/static"
    return "other"


class ServeMetrics:
    """The counters, gauges and histograms of one app, and their text exposition."""

    def __init__(self, max_batch: int, queue_depth: Callable[[], float]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "dcpt_serve_requests",
            "Requests answered, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dcpt_serve_request_duration_seconds",
            "Time from a request's start to its last response byte.",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_progress = Gauge(
            "dcpt_serve_requests_in_progress",
            "Requests being served now.",
            ["endpoint"],
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "dcpt_serve_queue_depth",
            "Jobs waiting for the inference thread (not counting the batch it runs).",
            registry=self.registry,
        )
        self.queue_depth.set_function(queue_depth)
        self.errors = Counter(
            "dcpt_serve_errors",
            "Error answers, by kind (the error body's error.kind).",
            ["kind"],
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "dcpt_serve_batch_size",
            "Jobs the inference thread took in one round.",
            buckets=tuple(float(size) for size in range(1, max_batch + 1)),
            registry=self.registry,
        )

    def exposition(self) -> tuple[bytes, str]:
        """(the text format body, its Content-Type)."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class RequestMetrics:
    """ASGI middleware: counts, times and tracks every HTTP request by endpoint and status.

    A request that fails with an exception before its response starts counts as status 500,
    which is what Starlette's outermost error middleware then answers.
    """

    def __init__(self, app: ASGIApp, metrics: ServeMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        endpoint = endpoint_label(scope["path"])
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        in_progress = self.metrics.in_progress.labels(endpoint)
        in_progress.inc()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            in_progress.dec()
            self.metrics.requests.labels(endpoint, str(status)).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - started)
