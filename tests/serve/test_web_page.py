"""The dcpt-serve web page, end to end: the real service (``dcpt-serve`` in a subprocess, built-in
default model) driven through its page in a real headless Chromium by Playwright.

Playwright's own browser download needs the internet, so the system's Chromium is used (Debian:
``apt-get install chromium``; another one: ``DCPT_CHROMIUM=/path/to/chrome``). The page's
screenshot in docs/web-page.png is rewritten only with ``DCPT_UPDATE_SCREENSHOT=1`` (or when it is
missing), so a plain test run leaves tracked files alone.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pytest
from PIL import Image

from dcpt_sdk._files import chmod_like_new

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "degraded"
SCREENSHOT = ROOT / "docs" / "web-page.png"
WAIT_MS = 120_000  # generous: the machine is shared with trainings; nothing here is timed

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright drives the browser: pip install 'dcpt-sdk[dev]'"
)
httpx = pytest.importorskip(
    "httpx", reason="httpx asks the service directly: pip install 'dcpt-sdk[dev]'"
)
pytest.importorskip(
    "fastapi", reason="the service needs the serve extra: pip install 'dcpt-sdk[serve]'"
)
pytest.importorskip(
    "uvicorn", reason="the service needs the serve extra: pip install 'dcpt-sdk[serve]'"
)


def _chromium() -> str | None:
    for candidate in (
        os.environ.get("DCPT_CHROMIUM"),
        shutil.which("chromium"),
        "/usr/bin/chromium",
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


CHROMIUM = _chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium: apt-get install chromium (Debian), or set DCPT_CHROMIUM to a Chrome binary",
)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path, limit_s: float) -> None:
    """Poll /healthz until the model is loaded; a service that dies shows its own output."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"dcpt-serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            response = httpx.get(f"{url}/healthz", timeout=5.0)
            if response.status_code == 200 and response.json().get("status") == "ok":
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.25)
    pytest.fail(f"dcpt-serve did not become healthy in {limit_s:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The real service on a free loopback port, as a user starts it: ``dcpt-serve --port N``."""
    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "dcpt-serve.log"
    script = Path(sys.executable).with_name("dcpt-serve")  # the entry point pip installed
    program = [str(script)] if script.is_file() else [sys.executable, "-m", "dcpt_sdk.serve.cli"]
    command = [
        *program,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        # The page does not depend on the backend; "auto" would first export the model to
        # OpenVINO and ONNX into the test session's fresh cache (minutes on 2 busy cores).
        "--backend",
        "torch",
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, process, log, limit_s=300)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser: Any, server: str, width: int = 1000, height: int = 900) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{server}/")
    return page


def _wait_state(page: Any, state: str) -> None:
    page.wait_for_selector(f"body[data-state='{state}']", timeout=WAIT_MS)


def _image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


def _pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def _image_bytes(page: Any, selector: str) -> bytes:
    """The file behind an <img> of the page (a blob: URL only the page can read)."""
    encoded = page.eval_on_selector(
        selector,
        """async (img) => {
            const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
            let text = "";
            bytes.forEach((b) => { text += String.fromCharCode(b); });
            return btoa(text);
        }""",
    )
    return base64.b64decode(encoded)


def _save_screenshot_atomically(page: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=target.parent, prefix=f".{target.stem}-", suffix=".png"
    )
    os.close(handle)
    try:
        page.screenshot(path=temp_name, full_page=True)
        chmod_like_new(temp_name)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


SAMPLE = EXAMPLES / "derain.png"


class Restored(NamedTuple):
    page: Any
    headers: dict[str, str]  # of the page's own POST /v1/restore answer


@pytest.fixture(scope="module")
def restored(browser: Any, server: str) -> Iterator[Restored]:
    """One page on which the sample has been restored (several tests read it)."""
    page = _open(browser, server)
    with page.expect_response(lambda response: "/v1/restore" in response.url) as answer:
        page.get_by_label("Image file").set_input_files(str(SAMPLE))
    _wait_state(page, "done")
    yield Restored(page, answer.value.headers)
    page.context.close()


def test_result_matches_the_service(restored: Restored, server: str) -> None:
    page = restored.page
    data = SAMPLE.read_bytes()
    direct = httpx.post(f"{server}/v1/restore", content=data, timeout=WAIT_MS / 1000)
    assert direct.status_code == 200, direct.text
    health = httpx.get(f"{server}/healthz").json()

    # the restored image the page shows has the input's size (natural, not displayed, size)
    size = _image_size(data)
    after = page.eval_on_selector("#after-image", "img => [img.naturalWidth, img.naturalHeight]")
    before = page.eval_on_selector("#before-image", "img => [img.naturalWidth, img.naturalHeight]")
    assert tuple(after) == size and tuple(before) == size

    # the detected class is the service's, and the chart holds every class, highest first
    top = direct.headers["X-Degradation"]
    assert page.get_by_test_id("top-class").inner_text() == top
    rows = page.get_by_test_id("prob-row")
    classes = [rows.nth(i).get_attribute("data-class") for i in range(rows.count())]
    probabilities = [
        float(rows.nth(i).get_attribute("data-probability")) for i in range(rows.count())
    ]
    assert sorted(classes) == sorted(health["classes"])
    assert probabilities == sorted(probabilities, reverse=True)
    # exactly what the page's own answer said; the direct call may differ in the last digit
    # (a backend's threads need not sum in the same order every call)
    shown = json.loads(restored.headers["x-degradation-probabilities"])
    direct_probabilities = json.loads(direct.headers["X-Degradation-Probabilities"])
    for name, probability in zip(classes, probabilities, strict=True):
        assert probability == shown[name]
        assert probability == pytest.approx(direct_probabilities[name], abs=1e-3)
    assert page.locator(".chart-row.is-top").get_attribute("data-class") == top
    assert page.locator(".chart-row.is-top").count() == 1
    # the percentages are there as text too
    texts = page.get_by_test_id("prob-value").all_inner_texts()
    assert texts[0] == f"{probabilities[0] * 100:.1f}%"
    assert all(re.fullmatch(r"(<0\.1|\d{1,3}\.\d)%", text) for text in texts)

    # times and backend; the footer names what /healthz says
    time_pattern = r"\d+ ms|\d+\.\d\d s"
    assert re.fullmatch(time_pattern, page.get_by_test_id("elapsed-server").inner_text())
    assert re.fullmatch(time_pattern, page.get_by_test_id("elapsed-roundtrip").inner_text())
    assert page.get_by_test_id("result-backend").inner_text() == direct.headers["X-Backend"]
    footer = page.get_by_test_id("health").inner_text()
    assert health["model"] in footer and health["backend"] in footer

    # what the page shows is what the service computes for these bytes
    difference = np.abs(_pixels(_image_bytes(page, "#after-image")) - _pixels(direct.content))
    assert int(difference.max()) <= 2

    if os.environ.get("DCPT_UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists():
        _save_screenshot_atomically(page, SCREENSHOT)


def test_download_has_the_right_name_and_pixels(restored: Restored, tmp_path: Path) -> None:
    page = restored.page
    with page.expect_download() as info:
        page.get_by_test_id("download-link").click()
    download = info.value
    assert download.suggested_filename == "derain-restored.png"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with Image.open(saved) as image:
        assert image.format == "PNG"
        assert image.size == _image_size(SAMPLE.read_bytes())


def _middle(pixels: np.ndarray) -> np.ndarray:
    """The middle band of the picture, away from the corner tags and a divider at either edge."""
    height, width = pixels.shape[:2]
    return pixels[height // 4 : 3 * height // 4, width // 8 : 7 * width // 8]


def _resized(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        resized = image.convert("RGB").resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.int16)


def test_slider_reveals_before_or_after_by_keyboard_and_pointer(restored: Restored) -> None:
    page = restored.page
    slider = page.get_by_label(re.compile("Divider between before"))
    slider.focus()
    page.keyboard.press("End")  # divider at the right edge: all "before"
    at_end = _pixels(page.locator("#compare").screenshot())
    page.keyboard.press("Home")  # divider at the left edge: all "after"
    at_home = _pixels(page.locator("#compare").screenshot())
    # the two pictures as the page holds them, scaled to the size they are shown at
    before = _resized(_image_bytes(page, "#before-image"), at_end.shape)
    after = _resized(_image_bytes(page, "#after-image"), at_end.shape)

    def distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.abs(_middle(a) - _middle(b)).mean())

    end_to_before, end_to_after = distance(at_end, before), distance(at_end, after)
    home_to_before, home_to_after = distance(at_home, before), distance(at_home, after)
    assert end_to_before < end_to_after, "divider at the right: the picture should be 'before'"
    assert home_to_after < home_to_before, "divider at the left: the picture should be 'after'"

    # dragging on the picture moves the divider to the pointer
    box = page.locator("#compare").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.8, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.3, y, steps=5)
    page.mouse.up()
    assert abs(int(slider.input_value()) - 30) <= 2
    divider = page.locator(".compare-divider").bounding_box()
    assert abs(divider["x"] - (box["x"] + box["width"] * 0.3)) <= box["width"] * 0.03
    page.keyboard.press("ArrowRight")
    assert abs(int(slider.input_value()) - 31) <= 2


def test_narrow_screen_has_no_sideways_scroll(restored: Restored) -> None:
    page = restored.page
    page.set_viewport_size({"width": 360, "height": 740})
    try:
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        assert scroll_width <= 360
        compare = page.locator("#compare").bounding_box()
        assert compare["x"] >= 0 and compare["x"] + compare["width"] <= 360
        # the chart and the timings stack instead of squeezing side by side
        blocks = page.locator(".fact-block")
        first, second = blocks.nth(0).bounding_box(), blocks.nth(1).bounding_box()
        assert second["y"] >= first["y"] + first["height"] - 1
    finally:
        page.set_viewport_size({"width": 1000, "height": 900})


def test_page_is_usable_from_the_keyboard_with_labels_and_alt_texts(
    browser: Any, server: str
) -> None:
    page = _open(browser, server)
    try:
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "file-input"
        assert page.get_by_label("Result format").evaluate("el => el.id") == "format-select"
        alts = page.eval_on_selector_all("img", "images => images.map((img) => img.alt)")
        assert alts and all(alt.strip() for alt in alts)
        assert page.get_by_test_id("restore-button").is_disabled()  # nothing chosen yet
    finally:
        page.context.close()


def test_non_image_upload_shows_the_service_error(browser: Any, server: str) -> None:
    junk = b"these are notes, not an image\n"
    direct = httpx.post(
        f"{server}/v1/restore", content=junk, headers={"Content-Type": "text/plain"}
    )
    assert 400 <= direct.status_code < 500
    message = direct.json()["error"]["message"]
    page = _open(browser, server)
    try:
        page.get_by_label("Image file").set_input_files(
            files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": junk}]
        )
        _wait_state(page, "error")
        error = page.get_by_test_id("error")
        assert error.is_visible() and error.get_attribute("role") == "alert"
        assert page.get_by_test_id("error-message").inner_text() == message
        assert "notes.txt" in error.inner_text()
        assert page.get_by_test_id("result").is_hidden()
        button = page.get_by_test_id("restore-button")
        assert button.get_attribute("aria-disabled") == "false" and button.inner_text() == "Restore"
    finally:
        page.context.close()


def test_dropped_file_restores_to_the_chosen_format(
    browser: Any, server: str, tmp_path: Path
) -> None:
    sample = EXAMPLES / "low-light.png"
    page = _open(browser, server)
    try:
        page.get_by_label("Result format").select_option("webp")
        transfer = page.evaluate_handle(
            """([data, name]) => {
                const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
                const transfer = new DataTransfer();
                transfer.items.add(new File([bytes], name, { type: "image/png" }));
                return transfer;
            }""",
            [base64.b64encode(sample.read_bytes()).decode("ascii"), sample.name],
        )
        # hold the request on its way to the service, to see the page while it waits
        held: list[Any] = []
        page.route("**/v1/restore*", lambda route: held.append(route))
        page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
        while not held:
            page.wait_for_timeout(20)  # lets Playwright deliver the route event
        assert page.evaluate("document.body.dataset.state") == "busy"
        button = page.get_by_test_id("restore-button")
        assert (
            button.inner_text() == "Restoring…" and button.get_attribute("aria-disabled") == "true"
        )
        assert page.get_by_test_id("status").inner_text().startswith("Restoring low-light.png")
        assert held[0].request.url.endswith("/v1/restore?format=webp")
        held[0].continue_()
        _wait_state(page, "done")
        assert button.inner_text() == "Restore"
        assert sample.name in page.get_by_test_id("file-name").inner_text()
        after = page.eval_on_selector(
            "#after-image", "img => [img.naturalWidth, img.naturalHeight]"
        )
        assert tuple(after) == _image_size(sample.read_bytes())
        with page.expect_download() as info:
            page.get_by_test_id("download-link").click()
        assert info.value.suggested_filename == "low-light-restored.webp"
        saved = tmp_path / "restored.webp"
        info.value.save_as(saved)
        with Image.open(saved) as image:
            assert image.format == "WEBP"
    finally:
        page.context.close()
