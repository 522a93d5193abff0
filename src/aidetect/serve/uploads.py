"""Turn a request body into the uploaded files, in memory.

``multipart/form-data`` (any number of file fields, up to the limit) or a
raw body whose content type is an image type. Parsing happens on the bytes
already read under the size limit, with python-multipart's push parser,
so no upload ever touches the disk unless `save_uploads` is asked to keep
a copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidetect.serve.errors import BadRequestError, RequestTooLargeError, UnsupportedMediaTypeError

RAW_TYPES = ("image/", "application/octet-stream")
"""Content types accepted as one raw image body."""


@dataclass(frozen=True)
class Upload:
    """One uploaded file."""

    name: str
    data: bytes
    content_type: str = ""


def uploads_from_body(body: bytes, content_type: str, max_files: int, raw_name: str = "upload") -> list[Upload]:
    """The files in a request body, by its ``Content-Type``."""
    from python_multipart.multipart import parse_options_header

    media_type, params = parse_options_header(content_type)
    media = media_type.decode("latin-1").lower()
    if media == "multipart/form-data":
        uploads = parse_multipart(body, params.get(b"boundary", b""), max_files)
    elif media.startswith(RAW_TYPES):
        uploads = [Upload(raw_name, body, media)] if body else []
    else:
        raise UnsupportedMediaTypeError(
            f"content type {media or '(none)'!r} is not accepted; send multipart/form-data or an image type "
            "such as image/jpeg"
        )
    if not uploads:
        raise BadRequestError("the request holds no image: send one or more files")
    return uploads


def parse_multipart(body: bytes, boundary: bytes, max_files: int) -> list[Upload]:
    """The file parts of a multipart body (fields without a filename are ignored)."""
    from python_multipart.exceptions import MultipartParseError
    from python_multipart.multipart import MultipartParser

    if not boundary:
        raise BadRequestError("multipart/form-data without a boundary")
    collector = _PartCollector()
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise BadRequestError(f"malformed multipart body ({exc})") from exc
    if not collector.complete:
        raise BadRequestError("malformed multipart body (it ends before its closing boundary)")
    files = [part for part in collector.parts if part.name is not None]
    if len(files) > max_files:
        raise RequestTooLargeError(f"{len(files)} files in one request; the limit is {max_files}")
    return [Upload(part.name or "upload", bytes(part.data), part.content_type) for part in files]


@dataclass
class _Part:
    data: bytearray
    name: str | None = None  # the filename; None for a plain form field
    content_type: str = ""


class _PartCollector:
    """Callbacks for python-multipart's push parser: headers and data of each part."""

    def __init__(self) -> None:
        self.parts: list[_Part] = []
        self.complete = False
        self._field = bytearray()
        self._value = bytearray()
        self._headers: dict[str, str] = {}

    def callbacks(self) -> Any:  # python-multipart's MultipartCallbacks (a TypedDict)
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": lambda data, start, end: self.parts[-1].data.extend(data[start:end]),
            "on_end": self._end,
        }

    def _begin(self) -> None:
        self._headers = {}
        self.parts.append(_Part(bytearray()))

    def _header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("utf-8", "replace")
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        filename = params.get(b"filename")
        part = self.parts[-1]
        part.name = None if filename is None else filename.decode("utf-8", "replace") or "upload"
        part.content_type = self._headers.get("content-type", "")

    def _end(self) -> None:
        self.complete = True


def save_uploads(uploads: list[Upload], folder: Path) -> None:
    """Keep a copy of each upload, named by its sha256 (only when the server was asked to)."""
    folder.mkdir(parents=True, exist_ok=True)
    for upload in uploads:
        suffix = Path(upload.name).suffix.lower()[:8]
        safe_suffix = suffix if suffix[1:].isascii() and suffix[1:].isalnum() else ""  # the name is the client's
        (folder / f"{hashlib.sha256(upload.data).hexdigest()}{safe_suffix}").write_bytes(upload.data)
