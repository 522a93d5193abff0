"""``POST /v1/explain`` through FastAPI's test client: the map, the overlay PNG, and the error statuses."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the [serve] extra (fastapi) is not installed")
pytest.importorskip("python_multipart", reason="the [serve] extra (python-multipart) is not installed")

from fastapi.testclient import TestClient
from PIL import Image

from aidetect.serve import ServeSettings, create_app
from aidetect.serve.inference import ServedDetectors
from conftest import BRIGHT, DARK
from serve_helpers import encode, serve_detectors  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("serve_detectors")

PNG = "image/png"


def client_for(settings: ServeSettings) -> TestClient:
    served = ServedDetectors(settings)
    served.load()
    return TestClient(create_app(settings, detectors=served))


@pytest.fixture
def client() -> Iterator[TestClient]:
    with client_for(ServeSettings(detectors=("test-brightness",), workers=1)) as c:
        yield c


def half_bright(width: int = 48, height: int = 32) -> bytes:
    """Top half bright (leans AI for the brightness detector), bottom half dark."""
    pixels = np.full((height, width, 3), DARK, dtype=np.uint8)
    pixels[: height // 2] = BRIGHT
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def upload(data: bytes, name: str = "x.png") -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, PNG))]


def assert_error(response: Any, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type and error["status"] == status and error["message"]
    return error


def test_explain_answers_the_prediction_the_cells_and_the_overlay(client: TestClient) -> None:
    response = client.post("/v1/explain?method=window&stride=8", files=upload(half_bright(), "half.png"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["file"] == "half.png" and body["detector"] == "test-brightness" and body["error"] is None
    assert 0.0 <= body["score"] <= 1.0 and body["label"] in {"ai", "real", "uncertain"}
    grid = body["explanation"]
    assert (grid["method"], grid["cell_size"], grid["stride"]) == ("window", 16, 8)
    assert (grid["width"], grid["height"]) == (48, 32)
    cells = grid["cells"]
    assert len(cells) == 5 * 3  # 16 px windows every 8 px over 48 x 32
    hottest = max(cells, key=lambda cell: cell["value"])
    coldest = min(cells, key=lambda cell: cell["value"])
    assert hottest["top"] == 0 and coldest["top"] == 16  # the bright half is where the detector sees generation
    assert hottest["value"] > body["threshold"] > coldest["value"]
    overlay = Image.open(io.BytesIO(base64.b64decode(body["overlay_png"])))
    assert overlay.format == "PNG"
    factor = overlay.width // 48  # enlarged by an integer factor for a legible legend
    assert overlay.width == 48 * factor and overlay.height > 32 * factor


def test_format_png_answers_the_overlay_at_the_uploads_size(client: TestClient) -> None:
    response = client.post("/v1/explain?format=png&legend=false", content=half_bright(40, 24),
                           headers={"content-type": PNG})
    assert response.status_code == 200 and response.headers["content-type"] == PNG
    overlay = Image.open(io.BytesIO(response.content))
    assert overlay.format == "PNG" and overlay.size == (40, 24)
    top, bottom = np.asarray(overlay.convert("L"))[[2, 21]].mean(axis=1)
    assert top > bottom  # the hot (bright) half is drawn brighter in the colour map


def test_a_method_the_detector_does_not_offer_is_refused(client: TestClient) -> None:
    error = assert_error(client.post("/v1/explain?method=occlusion", files=upload(encode(BRIGHT))), 422,
                         "DetectorError")
    assert "occlusion" in error["message"]
    assert_error(client.post("/v1/explain?method=splice", files=upload(encode(BRIGHT))), 422, "InvalidOptionError")
    assert_error(client.post("/v1/explain?stride=0", files=upload(encode(BRIGHT))), 422, "InvalidOptionError")


@pytest.mark.parametrize(("data", "status", "error_type"), [
    (b"this is not an image at all", 415, "UnsupportedImageError"),
    ("truncated", 422, "CorruptImageError"),
    (b"", 422, "EmptyImageError"),
])
def test_a_bad_image_gets_its_typed_error(client: TestClient, data: Any, status: int, error_type: str) -> None:
    data = {"truncated": encode(BRIGHT, size=64)[:200]}.get(data, data)
    assert_error(client.post("/v1/explain", files=upload(data)), status, error_type)


def test_one_image_at_a_time_and_only_served_detectors(client: TestClient) -> None:
    two = upload(encode(BRIGHT)) + upload(encode(DARK), "y.png")
    assert_error(client.post("/v1/explain", files=two), 413, "RequestTooLargeError")
    assert_error(client.post("/v1/explain?detector=efficientnet", files=upload(encode(BRIGHT))), 422,
                 "UnknownDetectorError")


def test_an_api_key_guards_explain() -> None:
    with client_for(ServeSettings(detectors=("test-brightness",), api_key="s3cret-key")) as client:
        missing = client.post("/v1/explain", files=upload(encode(BRIGHT)))
        assert_error(missing, 401, "UnauthorizedError")
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        granted = client.post("/v1/explain", files=upload(encode(BRIGHT)), headers={"X-API-Key": "s3cret-key"})
        assert granted.status_code == 200 and granted.json()["explanation"]["cells"]
