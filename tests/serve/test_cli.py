"""dcpt-serve as a command: bad options are one-line errors before the model loads, and a real
uvicorn server in a subprocess finishes the request in flight when it gets SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip(
    "uvicorn", reason="the service needs the serve extra: pip install 'dcpt-sdk[serve]'"
)
import httpx  # noqa: E402
from _serving import WAIT_S, metric, photo, png, tiny_network  # noqa: E402

from dcpt_sdk.checkpoint import save_model  # noqa: E402
from dcpt_sdk.imaging import decode_image  # noqa: E402
from dcpt_sdk.serve.cli import build_parser, main, settings_of  # noqa: E402
from dcpt_sdk.serve.settings import ServeSettings  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--port", "0"], "--port must be in 1..65535, got 0"),
        (["--max-batch", "0"], "max_batch must be a whole number >= 1, got 0 (flag --max-batch)"),
        (["--timeout-s", "-1"], "timeout_s must be > 0 seconds"),
        (["--tile", "big"], "--tile must be a number of pixels, 'auto' or 'none'"),
        (["--host", "no.such.host.invalid"], "cannot listen on no.such.host.invalid"),
    ],
)
def test_bad_options_are_one_line_errors(flags: list[str], message: str, capsys: Any) -> None:
    assert main(flags) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err


def test_every_limit_is_a_flag_that_reaches_the_settings() -> None:
    parser = build_parser()
    assert settings_of(parser.parse_args([])) == ServeSettings()
    given = parser.parse_args(
        ["--max-body-bytes", "7", "--max-pixels", "8", "--timeout-s", "1.5", "--queue-size", "2",
         "--max-batch", "3", "--batch-window-ms", "0"]
    )  # fmt: skip
    assert settings_of(given) == ServeSettings(7, 8, 1.5, 2, 3, 0.0)


def test_a_taken_port_is_refused_before_the_model_loads(capsys: Any) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert main(["--port", str(port), "--model", "no-such-model"]) == 1
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and "choose another --port" in err


def test_a_missing_extra_names_the_pip_extra(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what an environment without it imports
    assert main(["--port", str(_free_port())]) == 1
    assert "pip install 'dcpt-sdk[serve]'" in capsys.readouterr().err


@pytest.mark.slow  # a real server process: torch, FastAPI and uvicorn start in it
def test_sigterm_lets_the_request_in_flight_finish(tmp_path: Path) -> None:
    model = save_model(tiny_network(), tmp_path / "tiny.safetensors")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    command = [
        sys.executable,
        "-c",
        "import sys; from dcpt_sdk.serve.cli import main; sys.exit(main())",
    ]
    flags = ["--model", str(model), "--backend", "torch", "--device", "cpu", "--port", str(port)]
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [*command, *flags], stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        _wait_healthy(url, server, log)
        pixels = photo(768, 768)  # big enough for the tiny model to take a while
        answer: dict[str, httpx.Response] = {}
        request = threading.Thread(
            target=lambda: answer.update(
                r=httpx.post(f"{url}/v1/restore", content=png(pixels), timeout=WAIT_S)
            )
        )
        request.start()
        in_flight = 'dcpt_serve_requests_in_progress{endpoint="/v1/restore"}'
        while request.is_alive():
            try:
                if metric(httpx.get(f"{url}/metrics", timeout=WAIT_S).text, in_flight) == 1:
                    break
            except AssertionError:  # the series appears with the first restore request
                pass
            time.sleep(0.02)
        assert request.is_alive(), "the request ended before it was seen in flight"
        server.send_signal(signal.SIGTERM)
        request.join(WAIT_S)
        server.wait(WAIT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    output = log.read_text()
    response = answer["r"]
    assert response.status_code == 200, output
    assert decode_image(response.content).pixels.shape == pixels.shape
    assert "Waiting for connections to close" in output  # the shutdown did wait for it
    # uvicorn ends by re-raising the signal it handled, after the app's shutdown ran.
    assert server.returncode in (0, -signal.SIGTERM), output


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"dcpt-serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.2)
    pytest.fail(f"dcpt-serve did not answer /healthz:\n{log.read_text()}")
