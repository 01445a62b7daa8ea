"""Load test of dcpt-serve: the real service on the built-in default model, over loopback.

    python benchmarks/load_test.py                       # 64 requests at concurrency 1, 4, 16
    python benchmarks/load_test.py --requests 8          # a smoke run (figures mean nothing)

Starts ``dcpt-serve`` in a subprocess on a free 127.0.0.1 port, waits for /healthz, then sends
``--requests`` POST /v1/restore per concurrency level (httpx, asyncio): 256x256 crops of the
package's sample photos (degraded, as a user's photos would be), with 10% bad inputs mixed in
(bytes that are no image, a truncated PNG, a body over the size limit, an image over the pixel
limit). Per level: throughput, p50/p95/p99 latency of the good requests, answers by status and
error kind; the server's RSS (VmRSS in /proc/<pid>/status) before and after. Every bad input
must be a 4xx with the JSON error body, no answer may be a 5xx: otherwise the run exits 1.
After the service is stopped (SIGTERM), the same images go through ``Restorer.run`` (and
``run_and_classify``, what the service does per request) one after the other in this process:
the baseline. Everything is bounded (request count, per-request timeout), loopback only, and
stops by itself; the results go to benchmarks/results/load_test.{md,json} (atomically).

Figures are worth something only on a quiet machine: the load average at the start is written
next to them, with a warning when the machine was busy.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from dcpt_sdk.export.inputs import sample_crops
from dcpt_sdk.imaging import decode_image, encode_image, write_text_atomic
from dcpt_sdk.serve.settings import ServeSettings
from dcpt_sdk.user_cache import cpu_name

_WARMUP_REQUESTS = 3

RESULTS = Path(__file__).parent / "results" / "load_test"
SIDE = 256
POOL = 16  # distinct good images, cycled
BAD_KINDS = ("not_an_image", "truncated_png", "oversize_body", "huge_pixels")


@dataclass
class Answer:
    good: bool  # a good input (expects 200) or one of BAD_KINDS
    sent: str
    status: int
    kind: str  # "ok", the error body's kind, or what went wrong on the client side
    seconds: float
    json_error: bool


@dataclass
class Level:
    concurrency: int
    requests: int
    seconds: float
    answers: list[Answer] = field(repr=False)
    rss_mb_after: float

    def summary(self) -> dict[str, Any]:
        good = [a for a in self.answers if a.good and a.status == 200]
        latencies = np.array([a.seconds * 1000 for a in good]) if good else np.array([np.nan])
        return {
            "concurrency": self.concurrency,
            "requests": self.requests,
            "bad_inputs": sum(not a.good for a in self.answers),
            "seconds": round(self.seconds, 3),
            "good_images_per_s": round(len(good) / self.seconds, 3),
            "requests_per_s": round(len(self.answers) / self.seconds, 3),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1),
            "p95_ms": round(float(np.percentile(latencies, 95)), 1),
            "p99_ms": round(float(np.percentile(latencies, 99)), 1),
            "by_status_kind": dict(Counter(f"{a.status} {a.kind}" for a in self.answers)),
            "rss_mb_after": round(self.rss_mb_after, 1),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=64, help="per concurrency level")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--bad-fraction", type=float, default=0.10)
    parser.add_argument("--model", default="default")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--request-timeout-s", type=float, default=120.0)
    parser.add_argument("--startup-timeout-s", type=float, default=600.0)
    parser.add_argument("--output", type=Path, default=RESULTS, help="writes OUTPUT.md/.json")
    args = parser.parse_args(argv)
    load_at_start = os.getloadavg()[0]
    limits = ServeSettings()  # the service runs on its defaults; the bad inputs cross them
    good_pool = [encode_image(_to_uint8(crop), "png") for crop in _crops()]
    bad = _bad_inputs(good_pool[0], limits)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-c",
        "import sys; from dcpt_sdk.serve.cli import main; sys.exit(main())",
        *("--model", args.model, "--backend", args.backend, "--port", str(port)),
        "--log-level",
        "warning",
    ]
    print("starting:", " ".join(command[3:]), file=sys.stderr)
    started = time.perf_counter()
    server = subprocess.Popen(command)
    try:
        health = _wait_healthy(url, server, args.startup_timeout_s)
        startup_s = time.perf_counter() - started
        # Warm-up, not counted: OpenVINO compiles a static-shape model for an input size on its
        # SECOND call (runtimes/openvino_backend.py), so RSS "before" is taken after that one-time
        # growth and the before/after comparison shows what the load itself leaves behind.
        for _ in range(_WARMUP_REQUESTS):
            asyncio.run(_one(url, good_pool[0], args.request_timeout_s))
        rss_before = _rss_mb(server.pid)
        levels = []
        for concurrency in args.levels:
            plan = _plan(args.requests, args.bad_fraction, good_pool, bad, seed=concurrency)
            begin = time.perf_counter()
            answers = asyncio.run(_load(url, plan, concurrency, args.request_timeout_s))
            seconds = time.perf_counter() - begin
            levels.append(Level(concurrency, len(plan), seconds, answers, _rss_mb(server.pid)))
            print(json.dumps(levels[-1].summary()), file=sys.stderr)
        server_metrics = httpx.get(f"{url}/metrics", timeout=30).text
        peak_mb = _rss_mb(server.pid, "VmHWM")
    finally:
        _stop(server)
    baseline = _baseline(good_pool, args.model, args.backend)
    report = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "load_average_at_start": round(load_at_start, 2),
        "model": health["model"],
        "backend": f"{health['backend']} {health['precision']}",
        "image": f"{SIDE}x{SIDE} PNG",
        "bad_fraction": args.bad_fraction,
        "limits": asdict(limits),
        "startup_s": round(startup_s, 1),
        "rss_mb_before": round(rss_before, 1),
        "rss_mb_peak": round(peak_mb, 1),
        "mean_batch_size": _mean_batch(server_metrics),
        "levels": [level.summary() for level in levels],
        "baseline_images_per_s": baseline,
        "command": " ".join(["python", "benchmarks/load_test.py", *(argv or sys.argv[1:])]),
    }
    problems = _problems(levels)
    report["problems"] = problems
    output = args.output
    write_text_atomic(output.with_suffix(".json"), json.dumps(report, indent=2) + "\n")
    write_text_atomic(output.with_suffix(".md"), _markdown(report))
    print(f"wrote {output.with_suffix('.md')} and .json", file=sys.stderr)
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


# -- inputs ------------------------------------------------------------------------------------


def _crops() -> list[np.ndarray]:
    return sample_crops([(SIDE, SIDE)] * POOL, seed=13)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return (np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _bad_inputs(good: bytes, limits: ServeSettings) -> dict[str, bytes]:
    side = int(np.sqrt(limits.max_pixels)) + 64  # a few hundred KB of PNG, far over the limit
    return {
        "not_an_image": b"this is not an image\n" * 64,
        "truncated_png": good[: len(good) // 2],
        "oversize_body": bytes(limits.max_body_bytes + 1),
        "huge_pixels": encode_image(np.zeros((side, side), np.uint8), "png"),
    }


def _plan(
    count: int, bad_fraction: float, pool: list[bytes], bad: dict[str, bytes], seed: int
) -> list[tuple[str, bytes]]:
    """``count`` (name, body) pairs: good images cycled, bad ones spread at random positions."""
    bad_count = round(count * bad_fraction)
    plan = [(f"good-{i % len(pool)}", pool[i % len(pool)]) for i in range(count - bad_count)]
    plan += [
        (BAD_KINDS[i % len(BAD_KINDS)], bad[BAD_KINDS[i % len(BAD_KINDS)]])
        for i in range(bad_count)
    ]
    order = np.random.default_rng(seed).permutation(len(plan))
    return [plan[i] for i in order]


# -- the load ------------------------------------------------------------------------------------


async def _load(
    url: str, plan: list[tuple[str, bytes]], concurrency: int, timeout_s: float
) -> list[Answer]:
    """``concurrency`` clients working through the plan, each one request at a time."""
    pending = list(reversed(plan))
    answers: list[Answer] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s, limits=limits) as client:

        async def client_loop() -> None:
            while pending:
                name, body = pending.pop()
                answers.append(await _send(client, name, body))

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
    return answers


async def _send(client: httpx.AsyncClient, name: str, body: bytes) -> Answer:
    good = name.startswith("good")
    begin = time.perf_counter()
    try:
        response = await client.post("/v1/restore", content=body)
    except httpx.HTTPError as exc:  # a connection the server dropped: a finding, not a crash
        return Answer(
            good, name, 0, f"client {type(exc).__name__}", time.perf_counter() - begin, False
        )
    seconds = time.perf_counter() - begin
    if response.status_code == 200:
        shape = decode_image(response.content).pixels.shape
        kind = "ok" if shape == (SIDE, SIDE, 3) else f"wrong shape {shape}"
        return Answer(good, name, 200, kind, seconds, False)
    try:
        kind, json_error = str(response.json()["error"]["kind"]), True
    except (ValueError, KeyError, TypeError):
        kind, json_error = "no JSON error body", False
    return Answer(good, name, response.status_code, kind, seconds, json_error)


async def _one(url: str, body: bytes, timeout_s: float) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=timeout_s) as client:
        (await client.post("/v1/restore", content=body)).raise_for_status()


def _problems(levels: list[Level]) -> list[str]:
    found = []
    for level in levels:
        for answer in level.answers:
            where = f"concurrency {level.concurrency}, {answer.sent}"
            if answer.status >= 500 or answer.status == 0:
                found.append(f"{where}: {answer.status} {answer.kind}")
            elif not answer.good and not (400 <= answer.status < 500 and answer.json_error):
                found.append(f"{where}: bad input answered {answer.status} {answer.kind}")
            elif answer.good and (answer.status != 200 or answer.kind != "ok"):
                found.append(f"{where}: good input answered {answer.status} {answer.kind}")
    return found


# -- the server process ----------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, server: subprocess.Popen[bytes], limit_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"dcpt-serve exited with {server.returncode} before answering")
        try:
            response = httpx.get(f"{url}/healthz", timeout=5)
            if response.status_code == 200:
                return dict(response.json())
        except httpx.HTTPError:
            pass  # not listening yet (the first start exports the model: about 20 s)
        time.sleep(0.5)
    raise SystemExit(f"dcpt-serve did not answer /healthz within {limit_s:.0f} s")


def _rss_mb(pid: int, field_name: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) / 1024  # kB
    return float("nan")


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _mean_batch(metrics_text: str) -> float | None:
    values = {}
    for line in metrics_text.splitlines():
        if line.startswith(("dcpt_serve_batch_size_sum", "dcpt_serve_batch_size_count")):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    count = values.get("dcpt_serve_batch_size_count", 0.0)
    return round(values["dcpt_serve_batch_size_sum"] / count, 3) if count else None


# -- the baseline ----------------------------------------------------------------------------------


def _baseline(pool: list[bytes], model: str, backend: str) -> dict[str, float]:
    """Images per second of the same images through the Restorer, one after the other."""
    from dcpt_sdk.restorer import Restorer

    images = [decode_image(body).pixels for body in pool]
    restorer = Restorer(model, backend=backend)
    rates = {}
    for name, call in (("run", restorer.run), ("run_and_classify", restorer.run_and_classify)):
        call(images[0])  # warm-up
        begin = time.perf_counter()
        for image in images:
            call(image)
        rates[name] = round(len(images) / (time.perf_counter() - begin), 3)
    restorer.close()
    return rates


# -- the report ------------------------------------------------------------------------------------


def _markdown(report: dict[str, Any]) -> str:
    cores = report["cores"] or 1
    lines = [
        f"# dcpt-serve load test: {report['model']}, {report['image']} photo crops",
        "",
        f"CPU: {report['cpu']}, {cores} cores; backend {report['backend']}; "
        f"load average {report['load_average_at_start']} at the start. "
        f"Written by `{report['command']}`.",
    ]
    if report["load_average_at_start"] > 0.5 * cores:
        lines += [
            "",
            f"**The machine was busy (load {report['load_average_at_start']} on {cores} cores): "
            "these figures are not a measurement; rerun on a quiet machine.**",
        ]
    lines += [
        "",
        "| concurrency | requests (bad) | good images/s | p50 ms | p95 ms | p99 ms | answers | RSS after MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in report["levels"]:
        answers = ", ".join(f"{n}x {k}" for k, n in sorted(level["by_status_kind"].items()))
        lines.append(
            f"| {level['concurrency']} | {level['requests']} ({level['bad_inputs']}) | "
            f"{level['good_images_per_s']:.2f} | {level['p50_ms']:.0f} | {level['p95_ms']:.0f} | "
            f"{level['p99_ms']:.0f} | {answers} | {level['rss_mb_after']:.0f} |"
        )
    base = report["baseline_images_per_s"]
    lines += [
        "",
        f"Baseline in-process, sequential, same images: `Restorer.run` {base['run']:.2f} images/s, "
        f"`Restorer.run_and_classify` (what a request runs) {base['run_and_classify']:.2f} images/s.",
        "",
        f"Server: ready {report['startup_s']:.1f} s after start; RSS {report['rss_mb_before']:.0f} MB "
        f"after {_WARMUP_REQUESTS} warm-up requests, peak {report['rss_mb_peak']:.0f} MB; mean batch size "
        f"{report['mean_batch_size']}. Latency is the client's, good requests only; the client "
        "(httpx, decoding every answer) runs on the same cores as the service.",
        "",
        f"Bad inputs ({report['bad_fraction']:.0%}, in turn): bytes that are no image (415), "
        "a truncated PNG (422), a body over "
        f"{report['limits']['max_body_bytes']} bytes (413), a PNG over "
        f"{report['limits']['max_pixels']} pixels (422).",
        "",
        "Problems (a 5xx, a bad input without a 4xx JSON error, a good input not restored): "
        + ("; ".join(report["problems"]) if report["problems"] else "none."),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
