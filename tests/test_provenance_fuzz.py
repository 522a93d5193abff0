"""Adversarial metadata is bad input: typed errors or no evidence, in bounded time and memory."""

from __future__ import annotations

import contextlib
import random
import struct
import time
import tracemalloc
import zlib
from collections.abc import Callable

import pytest

from aidetect.errors import ImageError
from aidetect.provenance import ProvenanceReport, read_provenance
from aidetect.provenance.containers import MAX_BLOCKS, PNG_SIGNATURE
from provenance_files import A1111_PARAMETERS, exif, jpeg, png, with_jpeg_segment, xmp_source_type


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def with_png_chunks(*chunks: bytes) -> bytes:
    """A valid small PNG with ``chunks`` inserted after IHDR."""
    data = png()
    ihdr_end = len(PNG_SIGNATURE) + 8 + 13 + 4
    return data[:ihdr_end] + b"".join(chunks) + data[ihdr_end:]


def timed(function: Callable[[], ProvenanceReport], limit: float = 2.0) -> ProvenanceReport:
    """Run ``function`` within ``limit`` seconds of CPU time (CPU, not wall: the machine may be busy)."""
    start = time.process_time()
    report = function()
    assert time.process_time() - start < limit
    return report


def test_thousands_of_png_chunks_stop_at_the_limit() -> None:
    many = b"".join(chunk(b"tEXt", b"k%d\x00v" % i) for i in range(MAX_BLOCKS * 5))
    report = timed(lambda: read_provenance(with_png_chunks(many)))
    assert report.truncated and report.evidence == ()


def test_repeated_chunks_are_reported_once_in_bounded_time() -> None:
    software = chunk(b"tEXt", b"Software\x00NovelAI " + b"x" * 60_000)
    comments = b"".join(chunk(b"tEXt", b"Comment\x00{\"steps\": 28}") for _ in range(MAX_BLOCKS))
    report = timed(lambda: read_provenance(with_png_chunks(software, comments)))
    assert [f.kind for f in report.evidence] == ["png-software", "png-parameters"]


def test_a_ztxt_bomb_is_cut_off_in_bounded_memory() -> None:
    bomb = zlib.compress(b"Steps: 20, " + b"\x00" * 8_000_000, 9)
    data = with_png_chunks(chunk(b"zTXt", b"parameters\x00\x00" + bomb))
    tracemalloc.start()
    try:
        report = timed(lambda: read_provenance(data))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.evidence == () and peak < 32 << 20


def test_huge_and_pathological_xmp() -> None:
    hostile = ':DigitalSourceType="' * 40_000  # every match attempt starts and never closes
    report = timed(lambda: read_provenance(png(xmp=hostile)))
    assert report.evidence == ()
    oversize = xmp_source_type("trainedAlgorithmicMedia") + " " * (2 << 20)  # over the block limit: skipped
    assert timed(lambda: read_provenance(png(xmp=oversize))).evidence == ()
    entities = ('<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
                + xmp_source_type("digitalCapture"))
    assert [f.indicates for f in timed(lambda: read_provenance(jpeg(xmp=entities))).evidence] == ["real"]


def test_invalid_utf8_everywhere() -> None:
    bad = b"\xff\xfe\xc3\x28 Steps: 20 \xed\xa0\x80"
    data = with_png_chunks(chunk(b"tEXt", b"parameters\x00" + bad),
                           chunk(b"iTXt", b"Comment\x00\x00\x00\x00\x00" + bad))
    assert read_provenance(data).evidence[0].kind == "png-parameters"
    assert read_provenance(with_jpeg_segment(0xE1, b"http://ns.adobe.com/xap/1.0/\x00" + bad)).evidence == ()


def test_deeply_nested_json_is_never_parsed() -> None:
    data = png({"prompt": "[" * 200_000})
    assert timed(lambda: read_provenance(data)).evidence[0].strength == "weak"


def test_exif_with_loops_and_bad_offsets() -> None:
    # IFD0 with one entry (ExifIFD pointer) pointing back at IFD0, and a next-IFD offset pointing at itself.
    loop = b"II*\x00\x08\x00\x00\x00" + b"\x01\x00" + struct.pack("<HHII", 0x8769, 4, 1, 8) + struct.pack("<I", 8)
    out_of_range = b"MM\x00*\x00\x00\xff\xff"
    for tiff in (loop, out_of_range, b"II*\x00", b"garbage"):
        report = timed(lambda tiff=tiff: read_provenance(with_jpeg_segment(0xE1, b"Exif\x00\x00" + tiff)))
        assert all(not finding.is_strong for finding in report.evidence)


def test_nested_and_truncated_jumbf_boxes() -> None:
    nested = b"JP\x00\x01\x00\x00\x00\x01"
    for depth in range(200):
        nested += struct.pack(">I", 0xFFFF_FFF0 - depth) + b"jumb" + struct.pack(">I", 17) + b"jumdc2pa"
    for payload in (nested[:6000], b"JP" + b"jumb" * 10, b"JP\x00\x01c2pa"):
        report = timed(lambda payload=payload: read_provenance(with_jpeg_segment(0xEB, payload)), limit=5.0)
        assert all(not finding.is_strong and finding.indicates is None for finding in report.evidence)


def test_truncated_and_mutated_files_never_crash() -> None:
    """Seeded random damage to files full of metadata: a report or an ImageError, nothing else, quickly."""
    originals = [png({"parameters": A1111_PARAMETERS}, xmp=xmp_source_type("trainedAlgorithmicMedia")),
                 jpeg(exif=exif(camera=True, software="Midjourney"), xmp=xmp_source_type("digitalCapture"))]
    rng = random.Random(7)
    start = time.process_time()
    for original in originals:
        for cut in range(1, len(original), max(1, len(original) // 60)):
            _read_or_image_error(original[:cut])
        for _ in range(150):
            mutated = bytearray(original)
            for _ in range(rng.randint(1, 8)):
                mutated[rng.randrange(len(mutated))] = rng.randrange(256)
            _read_or_image_error(bytes(mutated))
    assert time.process_time() - start < 10


def _read_or_image_error(data: bytes) -> None:
    with contextlib.suppress(ImageError):
        read_provenance(data)


@pytest.mark.parametrize("data", [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8", b"RIFF\x00\x00\x00\x00WEBP", b"hello"])
def test_degenerate_files(data: bytes) -> None:
    _read_or_image_error(data)
