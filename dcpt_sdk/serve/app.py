"""dcpt-serve's ASGI app: one Restorer behind a small HTTP API, its metrics and its web page.

FastAPI on Starlette, because that is the well-kept ASGI stack (routing, request streaming,
static files, exception handlers, a test client) and leaves the process model to uvicorn and the
concurrency to us. LitServe was the other candidate: it brings its own worker processes and
batching loop, which fight our backends' own threading (each backend already spreads one call
over every core) and would load one model per worker. Here one process holds one Restorer; a
bounded queue with one inference thread (batcher.py) shares it among requests, and image
decoding and encoding run in Starlette's thread pool, beside the model, never in its thread.

The API (the web page in static/ is written against it):

    POST /v1/restore[?format=png|jpeg|webp|tiff]   image bytes -> restored image bytes + headers
    POST /v1/classify                              image bytes -> JSON degradation probabilities
    GET  /healthz                                  JSON: model, backend, precision, classes
    GET  /metrics                                  Prometheus text
    GET  / and /static/...                         the web page

Every error is JSON ``{"error": {"kind", "message"}}``; statuses in serve/errors.py.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.staticfiles import StaticFiles

from dcpt_sdk.errors import DcptError
from dcpt_sdk.restorer import Restorer
from dcpt_sdk.serve import codec
from dcpt_sdk.serve.batcher import Batcher, QueueFullError, ShuttingDownError
from dcpt_sdk.serve.errors import ServeError, error_body, from_dcpt_error
from dcpt_sdk.serve.inference import Job, RestorerWorker, Result
from dcpt_sdk.serve.metrics import RequestMetrics, ServeMetrics
from dcpt_sdk.serve.settings import ServeSettings

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).parent / "static"
_API = "POST /v1/restore, POST /v1/classify, GET /healthz, GET /metrics, GET /"
# A full queue clears in about one model call per queued request; a second is a fair first
# back-off for a client (Retry-After takes whole seconds).
_RETRY_AFTER_S = "1"


def create_app(
    restorer: Restorer,
    settings: ServeSettings | None = None,
    *,
    model_name: str | None = None,
    static_dir: Path = STATIC_DIR,
) -> FastAPI:
    """The dcpt-serve ASGI app over ``restorer`` (which the caller opens and closes).

    The inference thread starts and stops with the app's lifespan (uvicorn, or
    ``with TestClient(app)``); requests wait for the model in a queue of
    ``settings.queue_size``.

    Args:
        restorer: the model every request runs on.
        settings: limits (ServeSettings() when None).
        model_name: what /healthz calls the model (default: its spec name or architecture).
        static_dir: the web page's files, served at / and /static/.

    Example:
        >>> app = create_app(Restorer("default"), ServeSettings(queue_size=8))
        >>> uvicorn.run(app, host="127.0.0.1", port=8000)
    """
    settings = settings or ServeSettings()
    worker = RestorerWorker(restorer)
    metrics: ServeMetrics  # the batcher reports batch sizes to it, it reads the batcher's depth
    batcher: Batcher[Job, Result] = Batcher(
        worker,
        queue_size=settings.queue_size,
        max_batch=settings.max_batch,
        window_s=settings.batch_window_ms / 1000 if worker.gains_from_batching else 0.0,
        on_batch=lambda size: metrics.batch_size.observe(size),
    )
    metrics = ServeMetrics(settings.max_batch, lambda: batcher.depth)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        batcher.start()
        try:
            yield
        finally:  # uvicorn gets here after in-flight requests have finished (SIGTERM)
            await run_in_threadpool(batcher.stop, settings.timeout_s)

    app = FastAPI(
        title="dcpt-serve",
        lifespan=lifespan,
        docs_url=None,  # the interactive docs would fetch their scripts from a CDN
        redoc_url=None,
        openapi_url=None,
    )
    app.add_middleware(RequestMetrics, metrics=metrics)
    _add_error_handlers(app, metrics)
    service = _Service(restorer, worker, batcher, settings)
    name = model_name or restorer.spec.name or restorer.spec.arch

    @app.post("/v1/restore")
    async def restore(request: Request, format: str | None = None) -> Response:
        return await service.within_timeout(service.restore(request, format))

    @app.post("/v1/classify")
    async def classify(request: Request) -> Response:
        return await service.within_timeout(service.classify(request))

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {
            "status": "ok",
            "model": name,
            "backend": restorer.backend,
            "precision": restorer.precision,
            "classes": list(restorer.spec.degradation_classes),
        }

    @app.get("/metrics")
    async def prometheus() -> Response:
        body, content_type = metrics.exposition()
        return Response(body, headers={"Content-Type": content_type})

    @app.get("/")
    async def index() -> Response:
        page = static_dir / "index.html"
        if not page.is_file():
            raise ServeError(
                404,
                "no_web_page",
                f"the web page is not installed ({page} is missing); the API still answers: {_API}",
            )
        return FileResponse(page)

    if static_dir.is_dir():  # StaticFiles would answer 500 for a folder that does not exist
        app.mount("/static", StaticFiles(directory=static_dir), name="static")
    return app


class _Service:
    """The two model endpoints: body -> decode (thread pool) -> queue -> encode (thread pool)."""

    def __init__(
        self,
        restorer: Restorer,
        worker: RestorerWorker,
        batcher: Batcher[Job, Result],
        settings: ServeSettings,
    ) -> None:
        self.worker = worker
        self.batcher = batcher
        self.settings = settings
        self.backend_label = f"{restorer.backend} {restorer.precision}"

    async def within_timeout(self, answer: Awaitable[Response]) -> Response:
        """The whole request, from reading its body to its encoded answer, within timeout_s."""
        try:
            return await asyncio.wait_for(answer, self.settings.timeout_s)
        except asyncio.TimeoutError:
            raise ServeError(
                504,
                "timeout",
                f"the request took longer than this service's {self.settings.timeout_s:g} s "
                "limit (the model is busy or the image is large); retry later or send a "
                "smaller image",
            ) from None

    async def restore(self, request: Request, format_query: str | None) -> Response:
        started = time.perf_counter()
        asked = codec.parse_format(format_query)
        loaded = await run_in_threadpool(
            codec.decode_body, await self._body(request), self.settings.max_pixels
        )
        fmt = asked or codec.output_format_of(loaded)
        if asked is not None:  # refuse before the model runs, not after
            codec.check_output_format(loaded.pixels, fmt)
        result = await self._infer(Job("restore", loaded.pixels))
        if result.pixels is None:
            raise RuntimeError("the inference worker returned no pixels for a restore job")
        body = await run_in_threadpool(codec.encode_pixels, result.pixels, fmt, loaded.icc_profile)
        headers = {"X-Backend": self.backend_label}
        if result.probabilities is not None:
            headers.update(_degradation_headers(result.probabilities))
        headers["X-Elapsed-Ms"] = f"{_elapsed_ms(started):.1f}"
        return Response(body, media_type=codec.CONTENT_TYPES[fmt], headers=headers)

    async def classify(self, request: Request) -> Response:
        started = time.perf_counter()
        if not self.worker.classifies:
            raise ServeError(
                501,
                "no_classifier",
                "this model carries no degradation classifier; start dcpt-serve with a DCPT "
                "model that has one (the built-in default model does)",
            )
        loaded = await run_in_threadpool(
            codec.decode_body, await self._body(request), self.settings.max_pixels
        )
        result = await self._infer(Job("classify", loaded.pixels))
        probabilities = result.probabilities or {}
        ranked = dict(sorted(probabilities.items(), key=lambda item: item[1], reverse=True))
        top = next(iter(ranked))
        return JSONResponse(
            {
                "top": top,
                "probability": ranked[top],
                "probabilities": ranked,
                "elapsed_ms": round(_elapsed_ms(started), 1),
            }
        )

    async def _body(self, request: Request) -> bytes:
        """The request body, refused with 413 as soon as it is known to be over the limit: from
        Content-Length before reading, else while the chunks arrive."""
        limit = self.settings.max_body_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _too_large(f"{int(declared)} bytes", limit)
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise _too_large(f"more than {limit} bytes", limit)
                chunks.append(chunk)
        except ClientDisconnect:
            raise ServeError(
                400, "client_disconnected", "the client closed the connection mid-body"
            ) from None
        return b"".join(chunks)

    async def _infer(self, job: Job) -> Result:
        try:
            return await self.batcher.submit(job)
        except QueueFullError as exc:
            raise ServeError(
                503,
                "queue_full",
                f"the service is at capacity ({exc}); retry after {_RETRY_AFTER_S} s",
                headers={"Retry-After": _RETRY_AFTER_S},
            ) from None
        except ShuttingDownError:
            raise ServeError(
                503,
                "shutting_down",
                "the service is shutting down; retry on another instance or after a restart",
                headers={"Retry-After": _RETRY_AFTER_S},
            ) from None
        except DcptError as exc:
            raise from_dcpt_error(exc) from exc


def _too_large(size: str, limit: int) -> ServeError:
    return ServeError(
        413,
        "body_too_large",
        f"the request body is {size}, over this service's limit of {limit} bytes "
        f"({limit / 2**20:g} MiB); send a smaller file, or start dcpt-serve with a larger "
        "--max-body-bytes",
    )


def _degradation_headers(probabilities: dict[str, float]) -> dict[str, str]:
    top = max(probabilities, key=lambda name: probabilities[name])
    compact = {name: round(value, 4) for name, value in probabilities.items()}
    return {
        "X-Degradation": top,
        "X-Degradation-Probability": f"{probabilities[top]:.4f}",
        "X-Degradation-Probabilities": json.dumps(compact, separators=(",", ":")),
    }


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _add_error_handlers(app: FastAPI, metrics: ServeMetrics) -> None:
    """Every error answer in the one JSON shape, counted by kind."""

    def answer(
        status: int, kind: str, message: str, headers: dict[str, str] | None = None
    ) -> JSONResponse:
        metrics.errors.labels(kind).inc()
        return JSONResponse(error_body(kind, message), status_code=status, headers=headers)

    async def serve_error(_: Request, exc: Exception) -> Response:
        error = cast(ServeError, exc)  # Starlette routes only ServeError here
        return answer(error.status, error.kind, error.message, error.headers)

    async def http_error(request: Request, raised: Exception) -> Response:
        exc = cast(StarletteHTTPException, raised)
        if exc.status_code == 404:
            return answer(404, "not_found", f"no such page: {request.url.path}; the API: {_API}")
        if exc.status_code == 405:
            return answer(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.url.path}; the API: {_API}",
                dict(exc.headers or {}),
            )
        return answer(exc.status_code, f"http_{exc.status_code}", str(exc.detail))

    async def bad_request(_: Request, exc: Exception) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in cast(RequestValidationError, exc).errors()
        )
        return answer(422, "bad_query", f"the request is not valid: {problems}")

    async def bug(_: Request, exc: Exception) -> Response:
        # Starlette re-raises after this answer, so the server log gets the traceback.
        return answer(
            500,
            "internal_error",
            f"unexpected server error ({type(exc).__name__}), logged on the server; please "
            "report it with the request that caused it",
        )

    app.add_exception_handler(ServeError, serve_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, bad_request)
    app.add_exception_handler(Exception, bug)
