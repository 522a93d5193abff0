"""A real ``aidetect serve`` process on 127.0.0.1: uploads over HTTP, a bounded load test, the page in Chromium.

The server is started once for the module at a free port (the bundled
efficientnet detector, two inference threads) and stopped with SIGINT at the
end, which must exit cleanly. The browser test drives the system's Chromium
(Debian's ``chromium`` package) through Playwright, pointed at that
executable, since browsers cannot be downloaded here; it skips with the
reason when either is missing. Its screenshot is kept in
``build/test-artifacts/`` (or ``$AIDETECT_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import aidetect
from serve_helpers import serve_detectors  # noqa: F401 (fixture)

pytest.importorskip("fastapi", reason="the [serve] extra (fastapi) is not installed")
pytest.importorskip("uvicorn", reason="the [serve] extra (uvicorn) is not installed")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples" / "images"
AI_IMAGE, REAL_IMAGE = EXAMPLES / "ai-kolors.jpg", EXAMPLES / "real-kodak-kodim07.png"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def large_ai_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The AI example at 512 px: larger than the detector's input, so it is judged on a grid of crops
    (the 256 px examples are one crop each) and the page has regions to draw."""
    from PIL import Image

    path = tmp_path_factory.mktemp("images") / "ai-kolors-512.jpg"
    with Image.open(AI_IMAGE) as image:
        image.resize((512, 512), Image.Resampling.LANCZOS).save(path, quality=95)
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def call(url: str, data: bytes | None = None, headers: dict[str, str] | None = None,
         timeout: float = 30) -> tuple[int, dict[str, Any], dict[str, str]]:
    """``(status, JSON body, headers)`` of one request; HTTP errors are answers too."""
    method = "GET" if data is None else "POST"
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def post_oversized(url: str, size: int, content_type: str = "image/png") -> tuple[int, dict[str, Any]]:
    """POST ``size`` bytes the way curl does: a server may answer 413 from the headers and stop reading.

    urllib gives up with a broken pipe when the server closes before the whole body is sent; a client
    that stops sending and reads the early answer sees the 413, which is what this checks.
    """
    host, port = url.removeprefix("http://").split("/", 1)[0].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/" + url.removeprefix("http://").split("/", 1)[1])
    connection.putheader("Content-Type", content_type)
    connection.putheader("Content-Length", str(size))
    connection.endheaders()
    chunk = b"\0" * 65536
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for _ in range(0, size, len(chunk)):
            connection.send(chunk)
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return response.status, body


def post_image(base: str, path: Path, timeout: float = 30) -> tuple[int, dict[str, Any], dict[str, str]]:
    content_type = "image/png" if path.suffix == ".png" else "image/jpeg"
    return call(f"{base}/v1/detect", path.read_bytes(), {"Content-Type": content_type, "X-Filename": path.name},
                timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` of a running ``aidetect serve``; stopped (and checked) at the end."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    env = {**os.environ, "PYTHONPATH": str(Path(aidetect.__file__).parents[1]), "AIDETECT_PLUGINS": "none"}
    command = [sys.executable, "-c", "import sys; from aidetect.cli import main; sys.exit(main())", "serve",
               "--host", "127.0.0.1", "--port", str(port), "--detector", "efficientnet", "--workers", "2",
               "--max-upload-mb", "2", "--log-level", "warning"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(base, process, log)
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    assert code == 0, f"the server did not stop cleanly (exit {code}):\n{log.read_text(errors='replace')[-3000:]}"


def wait_until_ready(base: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"aidetect serve exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        try:
            if call(f"{base}/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass  # not listening yet
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"aidetect serve was not ready within {START_TIMEOUT_S} s:\n{log.read_text(errors='replace')}")


# -- over HTTP -------------------------------------------------------------------------------------------------


def test_the_server_judges_uploads_like_the_library(server: str, large_ai_image: Path) -> None:
    library = aidetect.load("efficientnet")
    assert len(library.predict(large_ai_image).crop_scores) >= 2  # the grid case is among those below
    for path in (large_ai_image, AI_IMAGE, REAL_IMAGE):
        status, body, _ = post_image(server, path)
        assert status == 200, body
        (entry,) = body["results"]
        expected = library.predict(path)
        assert entry["file"] == path.name and entry["label"] == expected.label
        assert entry["score"] == pytest.approx(expected.score, abs=1e-5)
        assert entry["crop_scores"] == pytest.approx(list(expected.crop_scores), abs=1e-5)
        if len(expected.crop_scores) >= 2:
            assert len(entry["crop_boxes"]) == len(expected.crop_scores)
        else:  # judged on one crop: no regions to place
            assert entry["crop_boxes"] is None


def test_the_server_refuses_what_it_must(server: str) -> None:
    status, body, _ = call(f"{server}/v1/detect", b"not an image", {"Content-Type": "image/png"})
    assert (status, body["error"]["type"]) == (415, "UnsupportedImageError")
    status, body = post_oversized(f"{server}/v1/detect", 3 * 1024 * 1024)
    assert (status, body["error"]["type"]) == (413, "RequestTooLargeError")
    status, body, _ = call(f"{server}/v1/detect?threshold=7", REAL_IMAGE.read_bytes(), {"Content-Type": "image/png"})
    assert (status, body["error"]["type"]) == (422, "InvalidOptionError")


def test_a_bounded_load_is_served_without_failures(server: str) -> None:
    """8 concurrent clients, 80 requests, at most 120 s: every one answered 200 (the queue holds 64)."""
    clients, per_client, time_limit_s = 8, 10, 120.0
    latencies: list[float] = []
    failures: list[Any] = []
    deadline = time.monotonic() + time_limit_s

    def client() -> None:
        for _ in range(per_client):
            if time.monotonic() > deadline:
                failures.append("time limit reached")
                return
            started = time.perf_counter()
            status, body, _ = post_image(server, AI_IMAGE, timeout=60)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                failures.append((status, body))

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(time_limit_s + 60)
    assert failures == []
    assert len(latencies) == clients * per_client
    print(f"load: {len(latencies)} requests, median {statistics.median(latencies) * 1000:.0f} ms")


# -- in a browser --------------------------------------------------------------------------------------------------


def chromium_executable() -> str:
    found = os.environ.get("AIDETECT_CHROMIUM") or next(
        (path for name in ("chromium", "chromium-browser", "google-chrome") if (path := shutil.which(name))), None)
    if not found:
        pytest.skip("no Chromium here: install Debian's 'chromium' package (apt-get install chromium) "
                    "or set AIDETECT_CHROMIUM; the browser test of the upload page was skipped")
    return found


def artifacts_dir() -> Path:
    folder = Path(os.environ.get("AIDETECT_TEST_ARTIFACTS", REPO / "build" / "test-artifacts"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


SEND_FILE_JS = """([kind, name, type, data]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  if (kind === "paste") document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: transfer }));
  else document.getElementById("drop").dispatchEvent(new DragEvent("drop", { dataTransfer: transfer, bubbles: true }));
}"""

CANVAS_INK_JS = """(canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) ink += 1;
  return ink;
}"""


def test_the_upload_page_in_chromium(server: str, tmp_path: Path, large_ai_image: Path) -> None:
    executable = chromium_executable()
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright); browser test skipped")
    expected = {path.name: post_image(server, path)[1]["results"][0] for path in (large_ai_image, REAL_IMAGE)}
    broken = tmp_path / "notes.png"
    broken.write_text("this is not an image", encoding="utf-8")
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1100, "height": 1000})
        try:
            page = context.new_page()
            page.goto(server + "/")
            page.locator("#detector option").first.wait_for(state="attached")
            assert reaches_by_keyboard(page, "pick")

            page.set_input_files("#file", [str(large_ai_image), str(broken)])
            outcomes = page.locator("#results .verdict, #results .error")  # a card's answer: verdict or error
            outcomes.nth(1).wait_for(timeout=60_000)
            page.evaluate(SEND_FILE_JS, ["paste", REAL_IMAGE.name, "image/png",
                                         base64.b64encode(REAL_IMAGE.read_bytes()).decode()])
            page.evaluate(SEND_FILE_JS, ["drop", "dropped.jpg", "image/jpeg",
                                         base64.b64encode(large_ai_image.read_bytes()).decode()])
            outcomes.nth(3).wait_for(timeout=60_000)
            cards = {card.locator("h2").inner_text(): card for card in page.locator("#results .card").all()}
            page.wait_for_timeout(300)  # let the crop overlays draw after the thumbnails decode
            page.screenshot(path=str(artifacts_dir() / "serve-upload-page.png"), full_page=True)

            assert set(cards) == {large_ai_image.name, REAL_IMAGE.name, "notes.png", "dropped.jpg"}
            for name in (large_ai_image.name, REAL_IMAGE.name):
                assert_verdict(cards[name], expected[name])
            assert_verdict(cards["dropped.jpg"], expected[large_ai_image.name])
            assert "not an image this service can read" in cards["notes.png"].locator(".error").inner_text()
            canvas = cards[large_ai_image.name].locator("canvas")
            assert canvas.evaluate(CANVAS_INK_JS) > 0, "the per-crop scores were not drawn over the image"
        finally:
            context.close()


def reaches_by_keyboard(page: Any, element_id: str, presses: int = 8) -> bool:
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return True
    return False


def assert_verdict(card: Any, entry: dict[str, Any]) -> None:
    words = {"ai": "Likely AI-generated", "real": "Likely a real photo", "uncertain": "Uncertain"}[entry["label"]]
    assert card.locator(".verdict").inner_text() == f"{words}, {entry['score']:.2f}"
    assert f"at {entry['threshold']:.2f} or above" in card.inner_text()
    if len(entry["crop_scores"]) >= 2:
        assert f"Scores of the {len(entry['crop_scores'])} regions judged" in card.inner_text()
    else:
        assert "regions judged" not in card.inner_text()


@pytest.fixture
def keyed_server() -> Iterator[str]:
    """The app in this process (uvicorn in a thread) with test detectors, an API key and an uncertain band.

    Needs the test detectors registered first: a test using it also uses ``serve_detectors``.
    """
    import uvicorn

    from aidetect.serve import ServeSettings, create_app

    settings = ServeSettings(detectors=("test-brightness",), api_key=TEST_KEY, uncertain_band=(0.3, 0.7))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if call(f"{base}/readyz", timeout=2)[0] == 200:
                break
        except OSError:
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(10)


TEST_KEY = "page-test-key"


@pytest.mark.usefixtures("serve_detectors")
def test_the_page_asks_for_the_api_key_and_says_uncertain(keyed_server: str, tmp_path: Path) -> None:
    from conftest import GREY
    from serve_helpers import encode

    executable = chromium_executable()
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install playwright); browser test skipped")
    grey = tmp_path / "grey.png"
    grey.write_bytes(encode(GREY, size=32))
    with sync_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=executable, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = context.new_page()
            page.goto(keyed_server + "/")
            page.locator("#api-key").wait_for(state="visible")  # the page found out that a key is needed
            page.set_input_files("#file", [str(grey)])
            assert "needs an API key" in page.locator("#results .error").first.inner_text()
            page.fill("#api-key", TEST_KEY)
            page.press("#api-key", "Tab")
            page.locator("#detector option").first.wait_for(state="attached")
            page.set_input_files("#file", [str(grey)])
            verdict = page.locator("#results .verdict").first
            verdict.wait_for(timeout=30_000)
            assert re.fullmatch(r"Uncertain, 0\.\d\d", verdict.inner_text())
            card = page.locator("#results .card").first
            assert "reported as uncertain" in card.inner_text()
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            card.get_by_role("button", name="Show where").click()  # the overlay, fetched with the key, under the CSP
            overlay = card.locator("img.overlay")
            overlay.wait_for(timeout=30_000)
            page.wait_for_function("document.querySelector('img.overlay').naturalWidth > 0", timeout=10_000)
            assert overlay.evaluate("img => img.naturalWidth") >= 32
            assert "not a pixel-exact mask" in card.inner_text()
            assert not errors, errors
        finally:
            context.close()
