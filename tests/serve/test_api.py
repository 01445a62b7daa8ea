"""dcpt-serve's HTTP contract through FastAPI's test client, on a tiny real model.

Every answer is checked against the Restorer itself (the same pixels, the same probabilities),
and every bad input must come back as a 4xx with the one JSON error shape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip(
    "fastapi", reason="the service needs the serve extra: pip install 'dcpt-sdk[serve]'"
)
from _serving import CLASSES, metric, photo, png, tiny_restorer  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from dcpt_sdk.imaging import decode_image, encode_image  # noqa: E402
from dcpt_sdk.restorer import Restorer  # noqa: E402
from dcpt_sdk.serve import ServeSettings, create_app  # noqa: E402


@pytest.fixture(scope="module")
def restorer() -> Restorer:
    return tiny_restorer()


@pytest.fixture(scope="module")
def client(restorer: Restorer) -> Iterator[TestClient]:
    app = create_app(restorer, ServeSettings(max_body_bytes=200_000, max_pixels=100 * 100))
    with TestClient(app) as test_client:
        yield test_client


def _error(response, status: int, kind: str) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and body["error"]["kind"] == kind
    message = body["error"]["message"]
    assert message and "\n" not in message and "Traceback" not in message
    return str(message)


@pytest.mark.parametrize(
    ("channels", "dtype", "fmt"),
    [(3, np.uint8, "png"), (4, np.uint16, "png"), (1, np.uint8, "tiff"), (3, np.uint8, "bmp")],
    ids=["rgb8-png", "rgba16-png", "gray8-tiff", "rgb8-bmp"],
)
def test_restore_answers_the_restorers_pixels_in_the_inputs_format(
    client: TestClient, restorer: Restorer, channels: int, dtype: type, fmt: str
) -> None:
    pixels = photo(channels=channels).astype(dtype) * (257 if dtype == np.uint16 else 1)
    response = client.post("/v1/restore", content=encode_image(pixels, fmt))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == f"image/{fmt}"
    restored = decode_image(response.content)
    expected, probabilities = restorer.run_and_classify(pixels)
    assert restored.pixels.dtype == dtype  # 16-bit stays 16-bit
    np.testing.assert_array_equal(restored.pixels, expected)  # alpha and gray kept as well
    if channels == 4:
        np.testing.assert_array_equal(restored.pixels[..., 3], pixels[..., 3])
    top = max(probabilities, key=probabilities.__getitem__)
    assert response.headers["x-degradation"] == top
    assert response.headers["x-degradation-probability"] == f"{probabilities[top]:.4f}"
    listed = json.loads(response.headers["x-degradation-probabilities"])
    assert list(listed) == list(CLASSES)  # the model's order
    np.testing.assert_allclose(list(listed.values()), list(probabilities.values()), atol=1e-4)
    assert response.headers["x-backend"] == "torch fp32"
    assert float(response.headers["x-elapsed-ms"]) > 0


def test_restore_converts_to_the_asked_format(client: TestClient) -> None:
    for fmt in ("jpeg", "webp", "tiff", "png"):
        response = client.post(f"/v1/restore?format={fmt}", content=png(photo()))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == f"image/{fmt}"
        decoded = decode_image(response.content)
        assert decoded.format == {"jpeg": "JPEG", "webp": "WEBP", "tiff": "TIFF", "png": "PNG"}[fmt]
        assert decoded.pixels.shape == photo().shape


def test_classify_answers_probabilities_sorted_highest_first(
    client: TestClient, restorer: Restorer
) -> None:
    pixels = photo(seed=1)
    response = client.post("/v1/classify", content=png(pixels))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = restorer.classify(pixels)
    ranked = sorted(expected, key=expected.__getitem__, reverse=True)
    assert list(body["probabilities"]) == ranked
    assert body["top"] == ranked[0]
    assert body["probability"] == pytest.approx(expected[ranked[0]])
    assert body["probabilities"] == pytest.approx(expected)
    assert body["elapsed_ms"] > 0


def test_healthz_names_the_model_backend_and_classes(client: TestClient) -> None:
    assert client.get("/healthz").json() == {
        "status": "ok",
        "model": "nafnet-tiny",
        "backend": "torch",
        "precision": "fp32",
        "classes": list(CLASSES),
    }


def test_bad_inputs_are_4xx_with_a_one_line_json_error(client: TestClient) -> None:
    image = png(photo())
    assert "not a PNG, JPEG" in _error(
        client.post("/v1/restore", content=b"hello, world"), 415, "not_an_image"
    )
    assert "empty" in _error(client.post("/v1/classify", content=b""), 415, "empty_body")
    assert "truncated" in _error(
        client.post("/v1/restore", content=image[: len(image) // 2]), 422, "corrupt_image"
    )
    huge = png(np.zeros((101, 100), np.uint8))  # one row over max_pixels, a few hundred bytes
    assert "101 = 10100 pixels" in _error(
        client.post("/v1/classify", content=huge), 422, "too_many_pixels"
    )
    assert "use one of png, jpeg, webp, tiff" in _error(
        client.post("/v1/restore?format=gif", content=image), 422, "bad_query"
    )
    rgba16 = png(photo(channels=4).astype(np.uint16))
    assert "format=png or format=tiff" in _error(
        client.post("/v1/restore?format=jpeg", content=rgba16), 422, "format_cannot_hold"
    )
    assert "no such page" in _error(client.get("/v2/restore"), 404, "not_found")
    assert "GET is not allowed" in _error(client.get("/v1/restore"), 405, "method_not_allowed")


def test_a_body_over_the_limit_is_413_by_its_length_or_while_it_streams(
    client: TestClient,
) -> None:
    big = bytes(200_001)
    assert "200001 bytes" in _error(client.post("/v1/restore", content=big), 413, "body_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is met mid-stream
        for _ in range(30):
            yield bytes(10_000)

    message = _error(client.post("/v1/restore", content=chunks()), 413, "body_too_large")
    assert "more than 200000 bytes" in message


def test_metrics_count_requests_errors_and_batches(restorer: Restorer) -> None:
    with TestClient(create_app(restorer)) as fresh:  # a registry of its own: counts from zero
        for _ in range(2):
            assert fresh.post("/v1/restore", content=png(photo())).status_code == 200
        assert fresh.post("/v1/classify", content=b"nope").status_code == 415
        text = fresh.get("/metrics").text
    assert metric(text, 'dcpt_serve_requests_total{endpoint="/v1/restore",status="200"}') == 2
    assert metric(text, 'dcpt_serve_requests_total{endpoint="/v1/classify",status="415"}') == 1
    assert metric(text, 'dcpt_serve_errors_total{kind="not_an_image"}') == 1
    assert metric(text, 'dcpt_serve_request_duration_seconds_count{endpoint="/v1/restore"}') == 2
    assert metric(text, "dcpt_serve_batch_size_count") == 2  # the 415 never reached the model
    assert metric(text, "dcpt_serve_queue_depth") == 0
    assert metric(text, 'dcpt_serve_requests_in_progress{endpoint="/metrics"}') == 1


def test_the_web_page_is_served_or_a_json_404(restorer: Restorer, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>dcpt</title>")
    (tmp_path / "app.js").write_text("console.log('dcpt')")
    with TestClient(create_app(restorer, static_dir=tmp_path)) as with_page:
        page = with_page.get("/")
        assert page.status_code == 200 and "<title>dcpt</title>" in page.text
        assert with_page.get("/static/app.js").text == "console.log('dcpt')"
        _error(with_page.get("/static/missing.js"), 404, "not_found")
    with TestClient(create_app(restorer, static_dir=tmp_path / "none")) as without:
        assert "index.html is missing" in _error(without.get("/"), 404, "no_web_page")
        assert without.get("/healthz").status_code == 200


def test_a_model_without_classifier_restores_without_degradation_headers() -> None:
    from _models import randomised

    from dcpt_sdk.models import create_model

    plain = Restorer(randomised(create_model("nafnet-tiny")), backend="torch", device="cpu")
    with TestClient(create_app(plain)) as client:
        response = client.post("/v1/restore", content=png(photo()))
        assert response.status_code == 200
        assert "x-degradation" not in response.headers and "x-backend" in response.headers
        np.testing.assert_array_equal(decode_image(response.content).pixels, plain.run(photo()))
        assert "no degradation classifier" in _error(
            client.post("/v1/classify", content=png(photo())), 501, "no_classifier"
        )
        assert client.get("/healthz").json()["classes"] == []


def test_a_server_bug_is_a_json_500_without_the_traceback() -> None:
    from _serving import tiny_network

    network = tiny_network()

    def broken(batch: object) -> object:
        raise RuntimeError("a bug deep inside the backend")

    network.restore_and_classify = broken
    restorer = Restorer(network, backend="torch", device="cpu")
    with TestClient(create_app(restorer), raise_server_exceptions=False) as client:
        message = _error(client.post("/v1/restore", content=png(photo())), 500, "internal_error")
        assert "RuntimeError" in message and "deep inside" not in message
        assert client.get("/healthz").status_code == 200  # the inference thread lives on
        ok = client.post("/v1/classify", content=png(photo()))
        assert ok.status_code == 200
