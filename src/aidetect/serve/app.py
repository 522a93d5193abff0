"""`create_app`: the FastAPI application of ``aidetect serve``.

    uvicorn --factory aidetect.serve.app:create_app     # default settings

The app holds its settings, the served detectors, and the inference pool in
``app.state``; the routes live in `aidetect.serve.routes`. Every error,
ours, the library's, FastAPI's own validation and unknown paths alike,
answers with the same JSON shape (`aidetect.serve.errors`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from aidetect import __version__
from aidetect.errors import AidetectError
from aidetect.serve.errors import ServeError, error_object, status_of
from aidetect.serve.inference import ServedDetectors
from aidetect.serve.limits import InferencePool
from aidetect.serve.settings import ServeSettings

logger = logging.getLogger("aidetect.serve")

SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer"}


def create_app(settings: ServeSettings | None = None, *, detectors: ServedDetectors | None = None) -> FastAPI:
    """An ASGI app serving ``settings.detectors``.

    Pass ``detectors`` already loaded (as ``aidetect serve`` does, to fail
    before binding a port) or let the app load them in the background when
    it starts: ``/healthz`` answers at once, ``/readyz`` once they are warm.
    """
    from aidetect.serve.routes import router

    settings = settings or ServeSettings()
    served = detectors or ServedDetectors(settings)
    pool = InferencePool(settings.workers, settings.queue_size, settings.request_timeout_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not served.ready and served.error is None:
            threading.Thread(target=_load_in_background, args=(served,), name="aidetect-load", daemon=True).start()
        yield
        pool.shutdown()

    app = FastAPI(
        title="aidetect", version=__version__, lifespan=lifespan,
        description="Tell AI-generated images from real ones. Upload page at `/`; errors are "
                    '`{"error": {"type", "message", "status"}}` with a stable `type`.',
    )
    app.state.settings, app.state.served, app.state.pool = settings, served, pool
    app.include_router(router)
    _add_error_handlers(app)
    _add_middleware(app, settings)
    return app


def _load_in_background(served: ServedDetectors) -> None:
    try:
        served.load()
        logger.info("detectors loaded and warmed: %s", ", ".join(served.loaded))
    except Exception:  # recorded in served.error; /readyz reports it
        logger.exception("loading the detectors failed")


def error_response(exc: BaseException) -> JSONResponse:
    headers = exc.headers() if isinstance(exc, ServeError) else {}
    return JSONResponse({"error": error_object(exc)}, status_code=status_of(exc), headers=headers)


def _add_error_handlers(app: FastAPI) -> None:
    async def library_error(request: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)

    async def validation_error(request: Request, exc: Exception) -> JSONResponse:
        problems = "; ".join(_describe_problem(error) for error in getattr(exc, "errors", list)())
        body = {"type": "InvalidOptionError", "message": problems or "invalid request options", "status": 422}
        return JSONResponse({"error": body}, status_code=422)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        status = getattr(exc, "status_code", 500)
        kind = {404: "NotFoundError", 405: "MethodNotAllowedError"}.get(status, "HTTPError")
        body = {"type": kind, "message": str(getattr(exc, "detail", "")), "status": status}
        return JSONResponse({"error": body}, status_code=status, headers=getattr(exc, "headers", None))

    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(exc)

    app.add_exception_handler(AidetectError, library_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected_error)


def _describe_problem(error: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part != "query")
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid"))


def _add_middleware(app: FastAPI, settings: ServeSettings) -> None:
    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    if settings.cors_origins:  # off unless configured: a browser on another origin may not call the API
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
