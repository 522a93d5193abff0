"""``provenance``: judge an image by what its metadata declares, never by its pixels.

A strong finding that the file is AI-generated (a valid C2PA manifest with a
trained-algorithmic source, an IPTC digital source type, generator settings
in PNG chunks or EXIF, a generator named in a software field) gives label
``"ai"`` with score `STRONG_SCORE`. A strong finding of a camera capture (only
a C2PA manifest signed by a trusted signer) gives ``"real"``. Anything weaker,
camera EXIF included, leaves the label ``"uncertain"`` and moves the score a
little off 0.5; no metadata at all gives ``"uncertain"``, 0.5 and no evidence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from aidetect.detector import AI_LABEL, REAL_LABEL, UNCERTAIN_LABEL, DecisionRule, Prediction
from aidetect.errors import DetectorError
from aidetect.evidence import Evidence
from aidetect.hookspecs import hookimpl
from aidetect.io import ImageInput
from aidetect.provenance import ProvenanceReport, read_provenance, read_trust_anchors

STRONG_SCORE = 0.99
"""Score of a file whose metadata declares it AI-generated (1 - this for a trusted camera capture)."""

WEAK_STEP = 0.1
"""How far weak findings move the score off 0.5, net of those pointing the other way (label stays uncertain)."""


def verdict(evidence: Sequence[Evidence]) -> tuple[float, str]:
    """(score, label) from findings: strong AI wins, then strong real, else uncertain with a nudge."""
    strong = {finding.indicates for finding in evidence if finding.is_strong}
    if AI_LABEL in strong:
        return STRONG_SCORE, AI_LABEL
    if REAL_LABEL in strong:
        return 1.0 - STRONG_SCORE, REAL_LABEL
    weak = {finding.indicates for finding in evidence if not finding.is_strong}
    lean = (AI_LABEL in weak) - (REAL_LABEL in weak)
    return 0.5 + WEAK_STEP * lean, UNCERTAIN_LABEL


class ProvenanceDetector:
    """Metadata evidence as a detector (``aidetect.load("provenance")``).

    ``c2pa``: validate C2PA manifests (needs the ``[provenance]`` extra;
    without it a manifest is reported as unchecked). ``trust_anchors``: PEM
    text, or a path to a PEM file, of root certificates a C2PA signer must
    chain to for the ``"trusted"`` status; nothing is ever fetched.
    """

    name: ClassVar[str] = "provenance"

    def __init__(self, *, c2pa: bool = True, trust_anchors: str | os.PathLike[str] | None = None) -> None:
        self.c2pa = c2pa
        self.trust_anchors = trust_anchors

    def _anchors(self) -> str | None:
        anchors = self.trust_anchors
        if anchors is None or (isinstance(anchors, str) and "-----BEGIN" in anchors):
            return anchors
        try:
            return read_trust_anchors(anchors)
        except (OSError, UnicodeDecodeError) as exc:
            raise DetectorError(f"provenance: cannot read trust anchors from {os.fspath(anchors)!r} ({exc})") from exc

    def decision_rule(self) -> DecisionRule:
        """A fixed rule (labels come from the evidence); checks the trust anchors so a scan fails before any file."""
        self._anchors()
        return DecisionRule(threshold=0.5)

    def load(self, source: ImageInput | ProvenanceReport) -> ProvenanceReport:
        """Read the metadata of ``source`` (what `aidetect.scan` calls before `predict_batch`)."""
        if isinstance(source, ProvenanceReport):
            return source
        return read_provenance(source, c2pa=self.c2pa, trust_anchors=self._anchors())

    def predict(self, image: ImageInput | ProvenanceReport) -> Prediction:
        return self.prediction(self.load(image))

    def predict_batch(self, images: Iterable[Any], batch_size: int = 32) -> list[Prediction]:
        return [self.predict(image) for image in images]

    def prediction(self, report: ProvenanceReport) -> Prediction:
        score, label = verdict(report.evidence)
        source = None if report.format == "array" else report.source
        return Prediction(score, label, 0.5, self.name, source=source, evidence=report.evidence)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "provenance",
        ProvenanceDetector,
        description="Metadata evidence: C2PA, IPTC digital source type, generator chunks, EXIF; no pixels",
        backend="metadata",
        extra="provenance",
        aliases=["metadata"],
    )
