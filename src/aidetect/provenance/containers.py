"""Pull the metadata blocks out of an image file without decoding a single pixel.

PNG, JPEG and WebP are walked chunk by chunk (segment by segment), seeking
past image data; other formats go through a lazy `PIL.Image.open`, which reads
the header only. Everything adversarial is bounded: chunk counts, block sizes,
decompressed text sizes. A damaged file yields whatever metadata came before
the damage, never an exception from deep inside a parser.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aidetect.errors import EmptyImageError, ImageError, UnsupportedImageError

MAX_BLOCKS = 4096
"""Chunks (PNG, WebP) or segments (JPEG) walked before giving up: a file of a million tiny chunks stays cheap."""

MAX_BLOCK_BYTES = 1 << 20
"""Largest metadata block read (text, EXIF, XMP); larger ones are skipped, not truncated into a half-parse."""

MAX_TEXT_TOTAL = 4 << 20
"""Total text kept per file, after decompression."""

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXIF_HEADER = b"Exif\x00\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
C2PA_MARKERS = (b"c2pa", b"jumb")


@dataclass
class MetadataBlocks:
    """The raw metadata of one file: text fields, EXIF (TIFF bytes), XMP, and whether a C2PA store is there."""

    format: str
    text: list[tuple[str, str]] = field(default_factory=list)
    exif: bytes | None = None
    xmp: str | None = None
    c2pa: bool = False
    truncated: bool = False
    text_size: int = 0

    def add_text(self, key: str, value: str) -> None:
        if self.text_size + len(value) <= MAX_TEXT_TOTAL:
            self.text.append((key, value))
            self.text_size += len(value)
        else:
            self.truncated = True


def open_stream(source: Any, name: str) -> IO[bytes]:
    """A seekable binary stream over a path, bytes or binary file object (typed errors otherwise)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not len(source):
            raise EmptyImageError("input holds zero bytes", name)
        return io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            if not path.is_file():
                raise ImageError("no such file" if not path.exists() else "not a regular file", name)
            if path.stat().st_size == 0:
                raise EmptyImageError("file is empty (zero bytes)", name)
            return path.open("rb")
        except ImageError:
            raise
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot read file ({exc})", name) from exc
    if hasattr(source, "read"):
        try:
            data = source.read()
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot read from the file object ({exc})", name) from exc
        if not isinstance(data, (bytes, bytearray)):
            raise ImageError("file object did not return bytes; open it in binary mode ('rb')", name)
        return open_stream(data, name)
    raise ImageError(f"cannot read metadata from a {type(source).__name__}", name)


def read_blocks(stream: IO[bytes], name: str) -> MetadataBlocks:
    """Dispatch on the file signature; raise `UnsupportedImageError` for something that is not an image."""
    head = stream.read(16)
    stream.seek(0)
    if head.startswith(PNG_SIGNATURE):
        return _png(stream)
    if head.startswith(b"\xff\xd8"):
        return _jpeg(stream)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp(stream)
    return _other(stream, name)


def _read(stream: IO[bytes], size: int) -> bytes | None:
    """Exactly ``size`` bytes, or None at end of file (a truncated block is dropped)."""
    data = stream.read(size)
    return data if len(data) == size else None


def _decode(raw: bytes | bytearray, encoding: str = "latin-1") -> str:
    return raw.decode(encoding, errors="replace")


def _inflate(raw: bytes) -> bytes | None:
    """zlib-decompress at most `MAX_BLOCK_BYTES` (a zip bomb stops there); None if the data is broken."""
    try:
        inflater = zlib.decompressobj()
        out = inflater.decompress(raw, MAX_BLOCK_BYTES)
    except zlib.error:
        return None
    return out if not inflater.unconsumed_tail else None


# -- PNG ------------------------------------------------------------------------------------------


def _png(stream: IO[bytes]) -> MetadataBlocks:
    blocks = MetadataBlocks("png")
    stream.seek(len(PNG_SIGNATURE))
    for _ in range(MAX_BLOCKS):
        header = _read(stream, 8)
        if header is None:
            return blocks
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND" or length > 0x7FFFFFFF:
            return blocks
        if kind in (*PNG_TEXT_CHUNKS, b"eXIf", b"caBX") and length <= MAX_BLOCK_BYTES:
            data = _read(stream, length)
            if data is None:
                blocks.truncated = True
                return blocks
            _png_chunk(blocks, kind, data)
            stream.seek(4, io.SEEK_CUR)
        else:
            blocks.c2pa = blocks.c2pa or kind == b"caBX"
            stream.seek(length + 4, io.SEEK_CUR)
    blocks.truncated = True
    return blocks


def _png_chunk(blocks: MetadataBlocks, kind: bytes, data: bytes) -> None:
    if kind == b"eXIf":
        blocks.exif = data
    elif kind == b"caBX":
        blocks.c2pa = True
    else:
        parsed = _png_text(kind, data)
        if parsed is None:
            return
        key, value = parsed
        if key == "XML:com.adobe.xmp":
            blocks.xmp = value
        else:
            blocks.add_text(key, value)


def _png_text(kind: bytes, data: bytes) -> tuple[str, str] | None:
    """(keyword, text) of a tEXt / zTXt / iTXt chunk; None when the chunk is malformed."""
    key, sep, rest = data.partition(b"\x00")
    if not sep or not key:
        return None
    if kind == b"tEXt":
        return _decode(key), _decode(rest)
    if kind == b"zTXt":
        inflated = _inflate(rest[1:])
        return None if inflated is None else (_decode(key), _decode(inflated))
    if len(rest) < 2:  # iTXt: compression flag, method, language\0, translated keyword\0, text
        return None
    compressed, body = rest[0], rest[2:]
    parts = body.split(b"\x00", 2)
    if len(parts) < 3:
        return None
    text = _inflate(parts[2]) if compressed else parts[2]
    return None if text is None else (_decode(key), _decode(text, "utf-8"))


# -- JPEG -----------------------------------------------------------------------------------------

_NO_LENGTH_MARKERS = frozenset({0x01, *range(0xD0, 0xD9)})


def _jpeg(stream: IO[bytes]) -> MetadataBlocks:
    blocks = MetadataBlocks("jpeg")
    stream.seek(2)
    for _ in range(MAX_BLOCKS):
        marker = _next_marker(stream)
        if marker is None or marker in (0xDA, 0xD9):  # start of scan / end of image: metadata is over
            return blocks
        if marker in _NO_LENGTH_MARKERS:
            continue
        raw_length = _read(stream, 2)
        if raw_length is None:
            return blocks
        length = struct.unpack(">H", raw_length)[0] - 2
        if length < 0:
            return blocks
        if marker in (0xE1, 0xEB, 0xFE):
            data = _read(stream, length)
            if data is None:
                blocks.truncated = True
                return blocks
            _jpeg_segment(blocks, marker, data)
        else:
            stream.seek(length, io.SEEK_CUR)
    blocks.truncated = True
    return blocks


def _next_marker(stream: IO[bytes]) -> int | None:
    """The next marker code, skipping fill bytes; None at end of file or on garbage."""
    byte = stream.read(1)
    if byte != b"\xff":
        return None
    for _ in range(64):  # fill bytes are legal, an endless run of them is not
        byte = stream.read(1)
        if not byte:
            return None
        if byte != b"\xff":
            return byte[0]
    return None


def _jpeg_segment(blocks: MetadataBlocks, marker: int, data: bytes) -> None:
    if marker == 0xE1 and data.startswith(EXIF_HEADER) and blocks.exif is None:
        blocks.exif = data[len(EXIF_HEADER):]
    elif marker == 0xE1 and data.startswith(XMP_HEADER) and blocks.xmp is None:
        blocks.xmp = _decode(data[len(XMP_HEADER):], "utf-8")
    elif marker == 0xEB:  # APP11: JUMBF, where C2PA manifest stores live
        blocks.c2pa = blocks.c2pa or any(tag in data[:64] for tag in C2PA_MARKERS)
    elif marker == 0xFE:
        blocks.add_text("JPEG comment", _decode(data, "utf-8"))


# -- WebP -----------------------------------------------------------------------------------------


def _webp(stream: IO[bytes]) -> MetadataBlocks:
    blocks = MetadataBlocks("webp")
    stream.seek(12)
    for _ in range(MAX_BLOCKS):
        header = _read(stream, 8)
        if header is None:
            return blocks
        kind, length = struct.unpack("<4sI", header)
        padded = length + (length & 1)
        if kind in (b"EXIF", b"XMP ") and length <= MAX_BLOCK_BYTES:
            data = _read(stream, length)
            if data is None:
                blocks.truncated = True
                return blocks
            if kind == b"EXIF":
                blocks.exif = data[len(EXIF_HEADER):] if data.startswith(EXIF_HEADER) else data
            else:
                blocks.xmp = _decode(data, "utf-8")
            stream.seek(padded - length, io.SEEK_CUR)
        else:
            blocks.c2pa = blocks.c2pa or kind == b"C2PA"
            stream.seek(padded, io.SEEK_CUR)
    blocks.truncated = True
    return blocks


# -- everything else, through Pillow's lazy open ----------------------------------------------------


def _other(stream: IO[bytes], name: str) -> MetadataBlocks:
    from PIL import Image

    try:
        image = Image.open(stream)  # reads the header only; pixels are never loaded here
    except Image.UnidentifiedImageError as exc:  # type: ignore[attr-defined]  # re-exported by PIL.Image at runtime, not in its stubs
        raise UnsupportedImageError("not an image, or an image format Pillow cannot read", name) from exc
    except Exception as exc:
        raise UnsupportedImageError(f"could not read image header ({type(exc).__name__}: {exc})", name) from exc
    blocks = from_pil_info(image)
    stream.seek(0)
    head = stream.read(MAX_TEXT_TOTAL)
    blocks.c2pa = all(tag in head for tag in C2PA_MARKERS)
    return blocks


def from_pil_info(image: Any) -> MetadataBlocks:
    """The metadata a (lazily) opened `PIL.Image` exposes: ``info`` text, EXIF, XMP."""
    blocks = MetadataBlocks(str(image.format or "image").lower())
    for key, value in image.info.items():
        if key == "exif" and isinstance(value, (bytes, bytearray)):
            blocks.exif = bytes(value[len(EXIF_HEADER):] if value.startswith(EXIF_HEADER) else value)
        elif key in ("xmp", "XML:com.adobe.xmp"):
            blocks.xmp = _decode(value, "utf-8") if isinstance(value, (bytes, bytearray)) else str(value)
        elif isinstance(value, str):
            blocks.add_text(str(key), value[:MAX_BLOCK_BYTES])
        elif key == "comment" and isinstance(value, (bytes, bytearray)):
            blocks.add_text("comment", _decode(value[:MAX_BLOCK_BYTES], "utf-8"))
    if blocks.exif is None:
        try:
            exif = image.getexif()
            blocks.exif = exif.tobytes() if len(exif) else None
        except Exception:  # broken EXIF in an exotic container: no EXIF evidence, not an error
            blocks.exif = None
    return blocks
