"""The endpoints: the upload page, health and readiness, and the versioned API under ``/v1``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import cache
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from aidetect import __version__
from aidetect.serve.errors import NotReadyError, UnauthorizedError
from aidetect.serve.explaining import explain_upload, explanation_json, overlay_png
from aidetect.serve.limits import read_limited
from aidetect.serve.uploads import Upload, save_uploads, uploads_from_body

router = APIRouter()

DETECT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            "files": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
        "image/*": {"schema": {"type": "string", "format": "binary"}},
    },
}
"""The request body as OpenAPI describes it (the route reads the raw stream itself, to enforce the size limit)."""


def require_api_key(request: Request) -> None:
    """When a key is configured: ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``, compared in constant time."""
    expected = request.app.state.settings.api_key
    if expected is None:
        return
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    given = credentials.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key", "")
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise UnauthorizedError("missing or wrong API key" if given else "this server needs an API key")


Authorised = Depends(require_api_key)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def upload_page() -> HTMLResponse:
    html, policy = _page()
    return HTMLResponse(html, headers={"Content-Security-Policy": policy, "Cache-Control": "no-cache"})


@router.get("/healthz", tags=["health"], summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


@router.get("/readyz", tags=["health"], summary="The detectors are loaded and warm")
def readyz(request: Request) -> dict[str, Any]:
    served = request.app.state.served
    if not served.ready:
        raise NotReadyError(f"detectors are not ready ({served.error or 'still loading'})", retry_after_s=5)
    return {"status": "ready", "detectors": list(served.loaded)}


@router.get("/v1/detectors", tags=["detect"], summary="Registered detectors, which are served, their thresholds",
            dependencies=[Authorised])
def list_detectors(request: Request) -> dict[str, Any]:
    served = request.app.state.served
    return {"default": served.settings.default_detector, "detectors": served.describe_all()}


@router.post("/v1/detect", tags=["detect"], summary="Judge one or more uploaded images",
             openapi_extra={"requestBody": DETECT_BODY}, dependencies=[Authorised])
async def detect(
    request: Request,
    detector: Annotated[str | None, Query(description="a served detector (default: the server's first)")] = None,
    threshold: Annotated[float | None, Query(ge=0.0, le=1.0, description="label 'ai' at or above this score")] = None,
    target_fpr: Annotated[float | None, Query(gt=0.0, lt=1.0,
                                              description="a false-positive rate the model card offers")] = None,
) -> JSONResponse:
    """Multipart upload (any number of file fields) or one raw image body; one result entry per file.

    The status is 200 when at least one file was judged; when none was, it is
    the first file's error status and the body also carries that ``error``.
    """
    state = request.app.state
    served = state.served.get(detector)
    chosen_threshold = served.threshold_for(threshold, target_fpr)
    uploads = await _read_uploads(request, state.settings.max_files)
    results = await state.pool.run(lambda: served.judge(uploads, chosen_threshold))
    content: dict[str, Any] = {"detector": served.name, "results": results}
    failures = [entry["error"] for entry in results if entry["error"] is not None]
    status = 200 if len(failures) < len(results) else failures[0]["status"]
    if status != 200:
        content["error"] = failures[0]
    return JSONResponse(jsonable_encoder(content), status_code=status)


@router.post("/v1/explain", tags=["detect"], summary="Where in one uploaded image the detector sees generation",
             openapi_extra={"requestBody": DETECT_BODY}, dependencies=[Authorised])
async def explain(
    request: Request,
    detector: Annotated[str | None, Query(description="a served detector (default: the server's first)")] = None,
    method: Annotated[Literal["auto", "window", "occlusion"],
                      Query(description="window (every detector), occlusion (neural detectors), auto")] = "auto",
    stride: Annotated[int | None, Query(ge=1, le=4096, description="pixels between cells (default: the method's)")]
    = None,
    output: Annotated[Literal["json", "png"], Query(alias="format", description="json, or png: the overlay only")]
    = "json",
    legend: Annotated[bool, Query(description="draw the legend below the overlay")] = True,
) -> Response:
    """One image (multipart with one file, or a raw image body): the prediction, the cell grid and the overlay.

    The map is made of the detector's calibrated scores of crops on a grid
    (or, for occlusion, the drop of a crop's score when a patch is hidden):
    where the detector sees generation, not a pixel mask. A method the
    detector does not offer is refused with 422 (``DetectorError``).
    """
    state = request.app.state
    served = state.served.get(detector)
    (upload,) = await _read_uploads(request, max_files=1)
    explanation = await state.pool.run(lambda: explain_upload(served, upload, method, stride))
    if output == "png":
        return Response(await run_in_threadpool(overlay_png, explanation, legend), media_type="image/png")
    return JSONResponse(jsonable_encoder(await run_in_threadpool(explanation_json, upload, explanation, legend)))


async def _read_uploads(request: Request, max_files: int) -> list[Upload]:
    """The request's files, within the size and count limits, saved when the server keeps uploads."""
    state = request.app.state
    state.pool.refuse_if_full()  # before the body is read: an overloaded server does not buffer uploads it will refuse
    body = await read_limited(request.stream(), state.settings.max_upload_bytes, request.headers.get("content-length"))
    uploads = uploads_from_body(body, request.headers.get("content-type", ""), max_files,
                                raw_name=request.headers.get("x-filename", "upload"))
    if state.settings.save_uploads_to is not None:
        await run_in_threadpool(save_uploads, uploads, state.settings.save_uploads_to)
    return uploads


@cache
def _page() -> tuple[str, str]:
    """The upload page, and a Content-Security-Policy admitting only its own inline script and style."""
    html = resources.files("aidetect.serve").joinpath("static/index.html").read_text(encoding="utf-8")
    script_hashes = " ".join(_csp_hash(block) for block in re.findall(r"<script>(.*?)</script>", html, re.S))
    style_hashes = " ".join(_csp_hash(block) for block in re.findall(r"<style>(.*?)</style>", html, re.S))
    policy = (f"default-src 'none'; script-src {script_hashes}; style-src {style_hashes}; "
              "img-src 'self' blob: data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
              "frame-ancestors 'none'")
    return html, policy


def _csp_hash(block: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(block.encode("utf-8")).digest()).decode("ascii") + "'"
