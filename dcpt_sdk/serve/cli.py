"""dcpt-serve: restore images over HTTP with one DCPT model (FastAPI on uvicorn).

Binds 127.0.0.1 unless --host says otherwise: the service has no authentication, so exposing it
(--host 0.0.0.0) is a choice to make on purpose, behind a proxy that adds what it lacks. SIGTERM
or Ctrl-C stops it gracefully: no new connections, requests in flight answered, then exit.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import socket
import sys

from dcpt_sdk._optional import require
from dcpt_sdk.cli.common import run_command
from dcpt_sdk.cli.model_options import add_model_arguments, open_restorer, parse_tile
from dcpt_sdk.errors import UnsupportedOptionError
from dcpt_sdk.serve.settings import ServeSettings, flag_of

__all__ = ["build_parser", "main", "settings_of"]

_DEFAULTS = ServeSettings()
_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
# Every ServeSettings field is a flag (settings.flag_of) with the field's default and type, so a
# new limit needs only its field and its help line here.
_LIMIT_HELP = {
    "max_body_bytes": "413 above",
    "max_pixels": "width x height; 422 above",
    "timeout_s": "per request; 504 after",
    "queue_size": "requests waiting for the model; 503 + Retry-After beyond",
    "max_batch": "jobs per inference round",
    "batch_window_ms": "wait for same-size requests to batch (only where the backend gains: GPUs)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dcpt-serve",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0: all)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    # The model flags of dcpt-restore, same names and meanings.
    add_model_arguments(parser)
    limits = parser.add_argument_group("limits")
    for field in dataclasses.fields(ServeSettings):
        default = getattr(_DEFAULTS, field.name)
        limits.add_argument(
            flag_of(field.name), type=type(default), default=default, help=_LIMIT_HELP[field.name]
        )
    parser.add_argument("--log-level", default="info", choices=_LOG_LEVELS)
    return parser


def settings_of(args: argparse.Namespace) -> ServeSettings:
    """The limits flags as ServeSettings, which checks them (a bad one is a one-line error)."""
    return ServeSettings(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(ServeSettings)}
    )


def serve(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    parse_tile(args.tile)  # a bad --tile answers now, not after the model has loaded
    _check_can_listen(args.host, args.port)  # before the model loads, which can take 20 s
    for module in ("fastapi", "uvicorn", "prometheus_client"):
        require(module, "dcpt-serve")
    # Only now the heavy imports: a bad flag or a missing extra answers in a blink.
    import uvicorn

    from dcpt_sdk.serve.app import create_app

    restorer = open_restorer(args)
    config = uvicorn.Config(
        create_app(restorer, settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        # Requests in flight end within their own timeout; a shutdown waits that long, no more.
        timeout_graceful_shutdown=math.ceil(settings.timeout_s) + 5,
    )
    try:
        # uvicorn handles SIGTERM/SIGINT: stop accepting, finish requests, run the app's
        # shutdown, then end by the signal's default action.
        uvicorn.Server(config).run()
    finally:
        restorer.close()
    return 0


def _check_can_listen(host: str, port: int) -> None:
    """Bind the address once, as uvicorn will (SO_REUSEADDR, like asyncio's server), so a taken
    port or a bad host is a one-line error now rather than a log line after the model loads."""
    if not 1 <= port <= 65535:
        raise UnsupportedOptionError(f"--port must be in 1..65535, got {port}")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except OSError as exc:
        raise UnsupportedOptionError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; choose another --port "
            "(or --host), or stop the process that holds it"
        ) from None


def main(argv: list[str] | None = None) -> int:
    """Run the service until SIGTERM or Ctrl-C; returns the exit status (1: a bad option)."""
    args = build_parser().parse_args(argv)
    return run_command(lambda: serve(args))


if __name__ == "__main__":
    sys.exit(main())
