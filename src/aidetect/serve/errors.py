"""Errors of the HTTP layer, and how every error becomes a status code and a JSON body.

The body is always ``{"error": {"type": ..., "message": ..., "status": ...}}``.
``type`` is the name of the exception class, from `aidetect.errors` for
anything about an image or a detector (``UnsupportedImageError``,
``CorruptImageError``, ``UnknownDetectorError``, ...) or from this module
for the request itself, so clients can branch on it across versions.
"""

from __future__ import annotations

from typing import Any

from aidetect.errors import (
    AidetectError,
    DetectorError,
    ImageError,
    ImageTooLargeError,
    UnknownDetectorError,
    UnsupportedImageError,
)


class ServeError(AidetectError):
    """Base class of the errors a request can meet in the HTTP layer; ``status`` is its HTTP status."""

    status = 500

    def headers(self) -> dict[str, str]:
        """Extra response headers this error calls for."""
        return {}


class BadRequestError(ServeError):
    """The request is malformed: no image in it, a broken multipart body, an empty body."""

    status = 400


class UnauthorizedError(ServeError):
    """An API key is configured and the request did not bring the right one."""

    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": "Bearer"}


class RequestTooLargeError(ServeError):
    """The body is over the upload limit (checked while it streams in), or holds too many files."""

    status = 413


class UnsupportedMediaTypeError(ServeError):
    """The request's content type is neither multipart/form-data nor an image type."""

    status = 415


class InvalidOptionError(ServeError, ValueError):
    """A query option is malformed or out of range (threshold, target_fpr, detector)."""

    status = 422


class ServiceUnavailableError(ServeError):
    """Base of the 503s: the request may succeed later, after ``Retry-After`` seconds."""

    status = 503

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class NotReadyError(ServiceUnavailableError):
    """The detectors are still loading (or failed to load)."""


class QueueFullError(ServiceUnavailableError):
    """Every inference thread is busy and the queue is full."""


class RequestTimeoutError(ServeError):
    """The inference did not finish within the request timeout."""

    status = 504


# Library errors, most specific first: the first matching class decides the status.
LIBRARY_STATUS: tuple[tuple[type[Exception], int], ...] = (
    (ImageTooLargeError, 413),  # a declared pixel count over the limit, refused from the header
    (UnsupportedImageError, 415),  # not an image at all
    (ImageError, 422),  # empty, truncated, damaged, too small
    (UnknownDetectorError, 422),
    (DetectorError, 422),
    (ValueError, 422),  # a decision option the detector refused (e.g. a target_fpr its card lacks)
)


def status_of(exc: BaseException) -> int:
    """The HTTP status an exception maps to (500 for anything unexpected)."""
    if isinstance(exc, ServeError):
        return exc.status
    for kind, status in LIBRARY_STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def error_object(exc: BaseException) -> dict[str, Any]:
    """``{"type", "message", "status"}`` for one error; unexpected ones do not leak their details."""
    status = status_of(exc)
    if status == 500:
        return {"type": "InternalServerError", "message": "internal error; see the server log", "status": 500}
    return {"type": type(exc).__name__, "message": _message(exc), "status": status}


def _message(exc: BaseException) -> str:
    if isinstance(exc, ImageError):
        return exc.reason  # the source is the upload's name, which the entry already carries
    return str(exc)
