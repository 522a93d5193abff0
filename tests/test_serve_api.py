"""The HTTP API of ``aidetect serve`` through FastAPI's test client: every endpoint and every error status."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the [serve] extra (fastapi) is not installed")
pytest.importorskip("python_multipart", reason="the [serve] extra (python-multipart) is not installed")

from fastapi.testclient import TestClient

from aidetect.errors import CorruptImageError, ImageTooLargeError, UnknownDetectorError
from aidetect.serve import ServeSettings, create_app
from aidetect.serve.errors import RequestTooLargeError, error_object, status_of
from aidetect.serve.inference import ServedDetectors
from aidetect.serve.limits import read_limited
from conftest import BRIGHT, DARK
from serve_helpers import GatedDetector, encode, serve_detectors  # noqa: F401 (fixture)

pytestmark = pytest.mark.usefixtures("serve_detectors")

PNG = "image/png"


def client_for(settings: ServeSettings, **client_options: Any) -> TestClient:
    """A test client for an app whose detectors are already loaded (as ``aidetect serve`` does)."""
    served = ServedDetectors(settings)
    served.load()
    return TestClient(create_app(settings, detectors=served), **client_options)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with client_for(ServeSettings(detectors=("test-brightness", "test-table", "test-evidence"), workers=2)) as c:
        yield c


def files(*items: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", (name, data, PNG)) for name, data in items]


def assert_error(response: Any, status: int, error_type: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == error_type and error["status"] == status and error["message"]
    return error


# -- health and description ----------------------------------------------------------------------------


def test_healthz_answers_before_the_detectors_are_ready() -> None:
    app = create_app(ServeSettings(detectors=("test-brightness",)))
    client = TestClient(app)  # no lifespan: nothing loads
    assert client.get("/healthz").json()["status"] == "ok"
    response = client.get("/readyz")
    assert_error(response, 503, "NotReadyError")
    assert int(response.headers["Retry-After"]) >= 1
    assert_error(client.post("/v1/detect", content=encode(BRIGHT), headers={"content-type": PNG}),
                 503, "NotReadyError")


def test_the_app_loads_its_detectors_in_the_background_when_it_starts() -> None:
    with TestClient(create_app(ServeSettings(detectors=("test-brightness",)))) as client:
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert client.get("/readyz").json() == {"status": "ready", "detectors": ["test-brightness"]}


def test_detectors_lists_every_registered_one_and_the_thresholds_of_the_served(client: TestClient) -> None:
    body = client.get("/v1/detectors").json()
    assert body["default"] == "test-brightness"
    by_name = {entry["name"]: entry for entry in body["detectors"]}
    assert {"efficientnet", "test-brightness", "test-table", "test-needs-module"} <= set(by_name)
    table = by_name["test-table"]
    assert table["served"] and table["installed"] and table["backend"] == ""
    assert table["thresholds"] == {"default_threshold": 0.5, "target_fprs": {"0.01": 0.97, "0.05": 0.8},
                                   "uncertain_band": None}
    assert by_name["test-needs-module"]["installed"] is False
    assert by_name["efficientnet"]["served"] is False and by_name["efficientnet"]["thresholds"] is None


# -- POST /v1/detect ----------------------------------------------------------------------------------------


def test_detect_judges_every_uploaded_file(client: TestClient) -> None:
    response = client.post("/v1/detect", files=files(("bright.png", encode(BRIGHT)), ("dark.png", encode(DARK))))
    assert response.status_code == 200
    body = response.json()
    assert body["detector"] == "test-brightness"
    bright, dark = body["results"]
    assert (bright["file"], bright["label"], bright["error"]) == ("bright.png", "ai", None)
    assert (dark["file"], dark["label"]) == ("dark.png", "real")
    assert bright["score"] > 0.9 > 0.1 > dark["score"]
    assert bright["threshold"] == 0.5 and bright["detector"] == "test-brightness"
    assert len(bright["crop_scores"]) == 4  # 32 px judged as a 2x2 grid of 16 px crops
    assert bright["crop_boxes"] == [[0, 0, 0.5, 0.5], [0.5, 0, 1, 0.5], [0, 0.5, 0.5, 1], [0.5, 0.5, 1, 1]]
    assert "source" not in bright


def test_detect_takes_a_raw_image_body(client: TestClient) -> None:
    response = client.post("/v1/detect", content=encode(DARK, fmt="JPEG"),
                           headers={"content-type": "image/jpeg", "x-filename": "cam.jpg"})
    assert response.status_code == 200
    (entry,) = response.json()["results"]
    assert entry["file"] == "cam.jpg" and entry["label"] == "real"


def test_detect_uses_the_requested_detector_and_threshold(client: TestClient) -> None:
    bright = encode(BRIGHT - 60)  # score about 0.97
    default = client.post("/v1/detect?detector=test-table", files=files(("b.png", bright))).json()["results"][0]
    strict = client.post("/v1/detect?detector=test-table&threshold=0.999",
                         files=files(("b.png", bright))).json()["results"][0]
    by_fpr = client.post("/v1/detect?detector=test-table&target_fpr=0.01",
                         files=files(("b.png", bright))).json()["results"][0]
    assert default["detector"] == "test-table" and default["label"] == "ai"
    assert strict["score"] == default["score"] and (strict["threshold"], strict["label"]) == (0.999, "real")
    assert by_fpr["threshold"] == 0.97
    assert by_fpr["label"] == ("ai" if by_fpr["score"] >= 0.97 else "real")


def test_extra_prediction_fields_pass_through(client: TestClient) -> None:
    entry = client.post("/v1/detect?detector=test-evidence", files=files(("b.png", encode(BRIGHT)))).json()
    assert entry["results"][0]["notes"] == {"exif": {"Software": "test"}}


def test_a_batch_goes_on_past_a_bad_file(client: TestClient) -> None:
    truncated = encode(BRIGHT, size=64)[:200]
    response = client.post("/v1/detect", files=files(("good.png", encode(BRIGHT)), ("text.png", b"hello" * 20),
                                                     ("cut.png", truncated), ("dark.png", encode(DARK))))
    assert response.status_code == 200
    good, text, cut, dark = response.json()["results"]
    assert good["label"] == "ai" and dark["label"] == "real"
    assert text == {"file": "text.png", "error": {"type": "UnsupportedImageError", "status": 415,
                                                  "message": text["error"]["message"]}}
    assert cut["error"]["type"] == "CorruptImageError" and cut["error"]["status"] == 422
    assert "error" not in response.json()


@pytest.mark.parametrize(("data", "status", "error_type"), [
    (b"this is not an image at all", 415, "UnsupportedImageError"),
    ("truncated", 422, "CorruptImageError"),
    (b"", 422, "EmptyImageError"),
    ("tiny", 422, "ImageTooSmallError"),
])
def test_a_single_bad_file_sets_the_status(client: TestClient, data: Any, status: int, error_type: str) -> None:
    data = {"tiny": encode(BRIGHT, size=4), "truncated": encode(BRIGHT, size=64)[:200]}.get(data, data)
    response = client.post("/v1/detect", files=files(("x.png", data)))
    error = assert_error(response, status, error_type)
    assert response.json()["results"] == [{"file": "x.png", "error": error}]


# -- request errors --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("request_options", "reason"), [
    ({"data": {"note": "no file here"}, "files": {"ignored": (None, b"x")}}, "no image"),
    ({"content": b"", "headers": {"content-type": PNG}}, "no image"),
    ({"content": b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.png\"\r\n\r\nabc",
      "headers": {"content-type": "multipart/form-data; boundary=b"}}, "closing boundary"),
    ({"content": b"abc", "headers": {"content-type": "multipart/form-data"}}, "boundary"),
])
def test_malformed_requests_are_400(client: TestClient, request_options: dict[str, Any], reason: str) -> None:
    error = assert_error(client.post("/v1/detect", **request_options), 400, "BadRequestError")
    assert reason in error["message"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", ""])
def test_a_body_that_is_not_an_image_type_is_415(client: TestClient, content_type: str) -> None:
    response = client.post("/v1/detect", content=b"{}", headers={"content-type": content_type})
    assert_error(response, 415, "UnsupportedMediaTypeError")


@pytest.mark.parametrize(("query", "error_type"), [
    ("threshold=1.5", "InvalidOptionError"),
    ("threshold=high", "InvalidOptionError"),
    ("target_fpr=0", "InvalidOptionError"),
    ("detector=test-table&threshold=0.5&target_fpr=0.01", "InvalidOptionError"),
    ("detector=test-table&target_fpr=0.02", "InvalidOptionError"),
    ("detector=efficientnet", "UnknownDetectorError"),  # registered, but not served by this server
    ("detector=nope", "UnknownDetectorError"),
])
def test_bad_options_are_422(client: TestClient, query: str, error_type: str) -> None:
    response = client.post(f"/v1/detect?{query}", files=files(("b.png", encode(BRIGHT))))
    assert_error(response, 422, error_type)


def test_unknown_paths_and_methods_answer_in_the_same_shape(client: TestClient) -> None:
    assert_error(client.get("/v2/detect"), 404, "NotFoundError")
    assert_error(client.get("/v1/detect"), 405, "MethodNotAllowedError")


def test_an_unexpected_failure_is_500_without_details() -> None:
    settings = ServeSettings(detectors=("test-crash",), workers=1)
    with client_for(settings, raise_server_exceptions=False) as client:
        response = client.post("/v1/detect", files=files(("b.png", encode(BRIGHT))))
    error = assert_error(response, 500, "InternalServerError")
    assert "secret" not in response.text and "RuntimeError" not in error["message"]


def test_error_types_are_the_library_classes() -> None:
    assert status_of(ImageTooLargeError("bomb")) == 413
    assert error_object(CorruptImageError("cut", "a.png")) == {"type": "CorruptImageError", "message": "cut",
                                                               "status": 422}
    assert status_of(UnknownDetectorError("x")) == 422


# -- API key -------------------------------------------------------------------------------------------------------


def test_an_api_key_guards_the_api_but_not_health_or_the_page(monkeypatch: pytest.MonkeyPatch) -> None:
    compared: list[tuple[bytes, bytes]] = []
    constant_time_compare = hmac.compare_digest

    def spy(given: bytes, expected: bytes) -> bool:
        compared.append((given, expected))
        return constant_time_compare(given, expected)

    monkeypatch.setattr("aidetect.serve.routes.hmac.compare_digest", spy)
    upload = files(("b.png", encode(BRIGHT)))
    with client_for(ServeSettings(detectors=("test-brightness",), api_key="s3cret-key")) as client:
        missing = client.post("/v1/detect", files=upload)
        assert_error(missing, 401, "UnauthorizedError")
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        assert_error(client.get("/v1/detectors", headers={"Authorization": "Bearer wrong"}), 401, "UnauthorizedError")
        assert_error(client.post("/v1/detect", files=upload, headers={"X-API-Key": "s3cret-ke"}), 401,
                     "UnauthorizedError")
        bearer = {"Authorization": "Bearer s3cret-key"}
        assert client.post("/v1/detect", files=upload, headers=bearer).status_code == 200
        assert client.get("/v1/detectors", headers={"X-API-Key": "s3cret-key"}).status_code == 200
        for open_path in ("/healthz", "/readyz", "/", "/openapi.json"):
            assert client.get(open_path).status_code == 200, open_path
    assert (b"wrong", b"s3cret-key") in compared and (b"s3cret-key", b"s3cret-key") in compared


# -- limits ------------------------------------------------------------------------------------------------------------


def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    settings = ServeSettings(detectors=("test-gated",), max_upload_bytes=1000)
    with client_for(settings) as client:
        response = client.post("/v1/detect", content=encode(BRIGHT, size=64) + b"\x00" * 2000,
                               headers={"content-type": PNG})
    assert_error(response, 413, "RequestTooLargeError")
    assert GatedDetector.calls == []


def test_a_chunked_body_over_the_limit_is_413_before_decoding() -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: a chunked upload of 64 x 64 KiB
        for _ in range(64):
            yield b"\xff" * 65536

    settings = ServeSettings(detectors=("test-gated",), max_upload_bytes=200_000)
    with client_for(settings) as client:
        response = client.post("/v1/detect", content=chunks(), headers={"content-type": PNG})
    error = assert_error(response, 413, "RequestTooLargeError")
    assert "0.190735 MB" in error["message"]
    assert GatedDetector.calls == []  # nothing was decoded or judged


def test_the_body_is_counted_while_it_streams_and_reading_stops_at_the_limit() -> None:
    pulled: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for index in range(64):
            pulled.append(index)
            yield b"\xff" * 65536

    with pytest.raises(RequestTooLargeError):
        asyncio.run(read_limited(chunks(), 200_000))
    assert len(pulled) == 4  # the fourth 64 KiB chunk passes 200,000 bytes; the other 60 are never read
    assert asyncio.run(read_limited(chunks(), 64 * 65536)) == b"\xff" * 64 * 65536


def test_too_many_files_is_413() -> None:
    with client_for(ServeSettings(detectors=("test-brightness",), max_files=2)) as client:
        upload = files(*[(f"{i}.png", encode(BRIGHT)) for i in range(3)])
        assert_error(client.post("/v1/detect", files=upload), 413, "RequestTooLargeError")


def run_in_thread(client: TestClient, results: list[Any]) -> threading.Thread:
    def post() -> None:
        results.append(client.post("/v1/detect", files=files(("b.png", encode(BRIGHT)))))

    thread = threading.Thread(target=post)
    thread.start()
    return thread


def test_a_full_queue_is_503_with_retry_after() -> None:
    settings = ServeSettings(detectors=("test-gated",), workers=1, queue_size=1, request_timeout_s=20)
    with client_for(settings) as client:
        pool = client.app.state.pool
        results: list[Any] = []
        running = run_in_thread(client, results)
        assert GatedDetector.started.wait(10)  # the one thread is busy
        queued = run_in_thread(client, results)
        deadline = time.monotonic() + 10
        while pool.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        refused = client.post("/v1/detect", files=files(("b.png", encode(BRIGHT))))
        GatedDetector.gate.set()
        running.join(20)
        queued.join(20)
    assert_error(refused, 503, "QueueFullError")
    assert int(refused.headers["Retry-After"]) >= 1
    assert [r.status_code for r in results] == [200, 200]
    assert pool.in_flight == 0


def test_past_the_timeout_is_504_and_the_slot_is_freed_when_the_job_ends() -> None:
    settings = ServeSettings(detectors=("test-gated",), workers=1, queue_size=0, request_timeout_s=0.3)
    with client_for(settings) as client:
        pool = client.app.state.pool
        started = time.monotonic()
        response = client.post("/v1/detect", files=files(("b.png", encode(BRIGHT))))
        waited = time.monotonic() - started
        assert pool.in_flight == 1  # the job still runs; its slot stays taken, so the bound holds
        GatedDetector.gate.set()
        deadline = time.monotonic() + 10
        while pool.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert pool.in_flight == 0
        assert client.post("/v1/detect", files=files(("b.png", encode(BRIGHT)))).status_code == 200
    assert_error(response, 504, "RequestTimeoutError")
    assert 0.3 <= waited < 5


def test_uploads_are_not_written_to_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("an upload was spooled to a temporary file")

    for name in ("SpooledTemporaryFile", "TemporaryFile", "NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)
    big = encode(BRIGHT, size=1200)  # over a megabyte: Starlette's form parser would spool it to disk
    assert len(big) > 1024 * 1024
    with client_for(ServeSettings(detectors=("test-brightness",))) as client:
        response = client.post("/v1/detect", files=files(("big.png", big)))
    assert response.status_code == 200 and response.json()["results"][0]["label"] == "ai"


def test_uploads_are_kept_only_when_asked(tmp_path: Path) -> None:
    keep = tmp_path / "kept"
    data = encode(DARK)
    with client_for(ServeSettings(detectors=("test-brightness",), save_uploads_to=keep)) as client:
        client.post("/v1/detect", files=files(("../../evil name.PNG", data)))
    assert [p.name for p in keep.iterdir()] == [hashlib.sha256(data).hexdigest() + ".png"]


# -- CORS, the page, the docs ---------------------------------------------------------------------------------------


def test_cors_is_off_unless_configured() -> None:
    origin = {"Origin": "https://elsewhere.example"}
    with client_for(ServeSettings(detectors=("test-brightness",))) as client:
        assert "access-control-allow-origin" not in client.get("/v1/detectors", headers=origin).headers
    settings = ServeSettings(detectors=("test-brightness",), cors_origins=("https://elsewhere.example",))
    with client_for(settings) as client:
        allowed = client.get("/v1/detectors", headers=origin).headers
        other = client.get("/v1/detectors", headers={"Origin": "https://evil.example"}).headers
    assert allowed["access-control-allow-origin"] == "https://elsewhere.example"
    assert "access-control-allow-origin" not in other


def test_the_page_is_self_contained_and_its_policy_admits_only_its_own_code(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the page must not load anything from elsewhere"
    assert "@import" not in html and "url(" not in html
    assert 'type="file"' in html and "multiple" in html and "paste" in html and "drop" in html
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = response.headers["content-security-policy"]
    assert f"script-src 'sha256-{digest}'" in policy and "default-src 'none'" in policy
    assert response.headers["x-content-type-options"] == "nosniff"


def test_openapi_describes_the_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/v1/detect", "/v1/detectors", "/healthz", "/readyz"} <= set(schema["paths"])
    body = schema["paths"]["/v1/detect"]["post"]["requestBody"]["content"]
    assert {"multipart/form-data", "image/*"} <= set(body)
    assert client.get("/docs").status_code == 200
