"""A small, bounded EXIF (TIFF) reader: the few tags provenance needs, nothing else.

It reads IFD0 and the Exif sub-IFD only, never follows next-IFD chains (so an
IFD that points at itself cannot loop), caps entries per IFD and bytes per
value, and never warns or raises on a malformed block: what cannot be read is
simply not there. Pillow's reader would do, but warns per corrupt tag through
the global `warnings` state, which is not ours to change in a threaded server.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

MAX_ENTRIES = 512
"""Entries read per IFD; real files have a few dozen."""

MAX_VALUE_BYTES = 65536
"""Bytes read per value: enough for any real prompt in a UserComment, bounded for hostile ones."""

TEXT_TAGS = {0x010F: "make", 0x0110: "model", 0x0131: "software", 0x013B: "artist", 0x010E: "description",
             0x8298: "copyright"}
CAPTURE_TAGS = {0x829A: "exposure", 0x829D: "f-number", 0x8827: "ISO", 0x920A: "focal length", 0xA434: "lens",
                0x9003: "capture time"}
EXIF_IFD_POINTER, USER_COMMENT, LENS_MODEL = 0x8769, 0x9286, 0xA434
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1, 9: 4, 10: 8}


@dataclass
class ExifTags:
    """The text tags found (by name), the camera-capture tags present, and the UserComment text."""

    text: dict[str, str] = field(default_factory=dict)
    capture: list[str] = field(default_factory=list)
    user_comment: str = ""


def read_exif(tiff: bytes) -> ExifTags:
    """Parse a TIFF-structured EXIF block (with or without the ``Exif\\0\\0`` prefix); never raises."""
    if tiff.startswith(b"Exif\x00\x00"):
        tiff = tiff[6:]
    tags = ExifTags()
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None or len(tiff) < 8:
        return tags
    ifd0 = _entries(tiff, order, struct.unpack(order + "I", tiff[4:8])[0])
    for tag, name in TEXT_TAGS.items():
        if tag in ifd0 and (text := _text(ifd0[tag])):
            tags.text[name] = text
    pointer = ifd0.get(EXIF_IFD_POINTER)
    if pointer is not None and len(pointer) >= 4:
        sub = _entries(tiff, order, struct.unpack(order + "I", pointer[:4])[0])
        tags.capture = [label for tag, label in CAPTURE_TAGS.items() if sub.get(tag)]
        if LENS_MODEL in sub and (lens := _text(sub[LENS_MODEL])):
            tags.text.setdefault("lens", lens)
        if USER_COMMENT in sub:
            tags.user_comment = user_comment_text(sub[USER_COMMENT])
    return tags


def _entries(tiff: bytes, order: str, offset: int) -> dict[int, bytes]:
    """Tag -> raw value bytes of the IFD at ``offset`` (empty when the offset or the count is out of range)."""
    if offset < 8 or offset + 2 > len(tiff):
        return {}
    count = min(struct.unpack(order + "H", tiff[offset : offset + 2])[0], MAX_ENTRIES)
    entries = {}
    for index in range(count):
        start = offset + 2 + 12 * index
        entry = tiff[start : start + 12]
        if len(entry) < 12:
            break
        tag, kind, number = struct.unpack(order + "HHI", entry[:8])
        size = _TYPE_SIZES.get(kind, 1) * number
        if size <= 4:
            entries[tag] = entry[8 : 8 + size]
        else:
            at = struct.unpack(order + "I", entry[8:12])[0]
            entries[tag] = tiff[at : at + min(size, MAX_VALUE_BYTES)] if at < len(tiff) else b""
    return entries


def _text(raw: bytes) -> str:
    return raw[:MAX_VALUE_BYTES].decode("utf-8", errors="replace").strip("\x00 ").strip()


def user_comment_text(raw: bytes) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text (UNICODE means UTF-16)."""
    prefix, body = raw[:8], raw[8 : 8 + MAX_VALUE_BYTES]
    if prefix.startswith(b"UNICODE"):
        encoding = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        return body.decode(encoding, errors="replace").strip("\x00 ")
    return body.decode("utf-8", errors="replace").strip("\x00 ")
