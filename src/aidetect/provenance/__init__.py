"""Provenance: what an image file says about its own origin, read from metadata only.

    >>> from aidetect.provenance import read_provenance
    >>> report = read_provenance("image.png")
    >>> [finding.kind for finding in report.evidence]
    ['png-parameters']

`read_provenance` never decodes pixels: it walks the container (PNG chunks,
JPEG segments, WebP chunks, or a lazy Pillow header read for other formats),
turns text chunks, EXIF and XMP into `aidetect.evidence.Evidence`, and, when
a C2PA store is present, validates it offline with ``c2pa-python`` (extra
``[provenance]``). The `provenance` detector (``aidetect.load("provenance")``)
turns a report into a `Prediction`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aidetect.evidence import Evidence
from aidetect.io import ImageInput, describe_source
from aidetect.provenance.containers import MetadataBlocks, from_pil_info, open_stream, read_blocks
from aidetect.provenance.findings import findings

__all__ = ["ProvenanceReport", "read_provenance", "read_trust_anchors"]


@dataclass(frozen=True)
class ProvenanceReport:
    """The findings of one file; ``truncated`` when a limit (chunk count, text size) cut the walk short."""

    source: str
    format: str
    evidence: tuple[Evidence, ...] = ()
    truncated: bool = False


def read_provenance(source: ImageInput, *, c2pa: bool = True, trust_anchors: str | None = None) -> ProvenanceReport:
    """Read the provenance evidence of ``source`` (path, bytes, binary file, PIL image or array).

    A numpy array carries no metadata (empty report); a PIL image offers what
    its ``info`` holds. ``c2pa=False`` skips manifest validation (a store is
    then reported as unchecked). ``trust_anchors`` is a PEM bundle of root
    certificates a C2PA signer must chain to for the ``"trusted"`` status.
    Raises `aidetect.errors.ImageError` for a missing, empty or non-image file.
    """
    name = describe_source(source)
    if _is_array(source):
        return ProvenanceReport(name, "array")
    if _is_pil(source):
        return _report(name, from_pil_info(source), None, c2pa, trust_anchors)
    stream = open_stream(source, name)
    with stream:
        blocks = read_blocks(stream, name)
        data = _whole(stream) if blocks.c2pa and c2pa else None
    return _report(name, blocks, data, c2pa, trust_anchors)


def read_trust_anchors(path: str | os.PathLike[str]) -> str:
    """The PEM text of a trust-anchor bundle file."""
    return Path(path).read_text(encoding="ascii")


def _report(name: str, blocks: MetadataBlocks, data: bytes | None, c2pa: bool,
            trust_anchors: str | None) -> ProvenanceReport:
    evidence = []
    if blocks.c2pa:
        evidence += _c2pa_evidence(blocks.format, data, c2pa, trust_anchors)
    evidence += findings(blocks)
    return ProvenanceReport(name, blocks.format, tuple(evidence), blocks.truncated)


def _c2pa_evidence(container: str, data: bytes | None, c2pa: bool, trust_anchors: str | None) -> list[Evidence]:
    from aidetect.evidence import WEAK, C2paSummary

    if not c2pa or data is None:
        return [Evidence("c2pa", "C2PA manifest present, validation skipped", WEAK, None, C2paSummary("unchecked"))]
    from aidetect.provenance.c2pa_manifest import c2pa_finding

    finding = c2pa_finding(data, container, trust_anchors)
    return [] if finding is None else [finding]


def _whole(stream: Any) -> bytes:
    stream.seek(0)
    data: bytes = stream.read()
    return data


def _is_array(source: object) -> bool:
    return type(source).__module__ == "numpy" and hasattr(source, "shape")


def _is_pil(source: object) -> bool:
    return hasattr(source, "info") and hasattr(source, "getexif")
