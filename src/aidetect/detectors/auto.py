"""``auto``: provenance first, pixels otherwise.

The file's metadata is read first (`aidetect.detectors.provenance`). A strong
finding (a valid C2PA manifest declaring AI, an IPTC digital source type,
generator settings) decides the verdict; otherwise the pixel detector
(``efficientnet`` unless told otherwise) decides. The prediction carries the
metadata evidence and, as a ``pixel-detector`` finding, the pixel score, so a
disagreement between the two is visible. Each file is read from disk once.

Prefer it for files straight from their source (downloads from a generator,
camera originals); it adds nothing over the pixel detector for screenshots,
re-uploads and anything else that stripped the metadata.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from aidetect.detector import AI_LABEL, REAL_LABEL, DecisionRule, Prediction
from aidetect.detectors.provenance import ProvenanceDetector, verdict
from aidetect.errors import ImageError
from aidetect.evidence import WEAK, Evidence
from aidetect.hookspecs import hookimpl
from aidetect.io import ImageInput, describe_source
from aidetect.provenance import ProvenanceReport
from aidetect.provenance.containers import open_stream

DEFAULT_PIXEL_DETECTOR = "efficientnet"
NEUTRAL_THRESHOLD = 0.5


@dataclass(frozen=True)
class AutoInput:
    """One file as `AutoDetector.load` prepared it: its metadata report and, when needed, its pixels."""

    source: str | None
    report: ProvenanceReport
    pixels: Any | None


class AutoDetector:
    """Provenance evidence when the file has strong evidence, a pixel detector otherwise.

    ``pixel_detector``: a registered name or a detector object; further
    keyword options (``threshold``, ``target_fpr``, ``uncertain_band``,
    ``quantized``, ...) go to it. ``always_score_pixels=False`` skips decoding
    and scoring the pixels of files that metadata already decided (faster, no
    pixel score in the evidence). ``c2pa`` and ``trust_anchors`` are the
    `ProvenanceDetector` options.
    """

    name: ClassVar[str] = "auto"

    def __init__(self, pixel_detector: str | Any = DEFAULT_PIXEL_DETECTOR, *, always_score_pixels: bool = True,
                 c2pa: bool = True, trust_anchors: str | os.PathLike[str] | None = None, **pixel_options: Any) -> None:
        self.pixel_detector = pixel_detector
        self.always_score_pixels = always_score_pixels
        self.pixel_options = pixel_options
        self.provenance = ProvenanceDetector(c2pa=c2pa, trust_anchors=trust_anchors)
        self._pixels: Any | None = None

    @property
    def pixels_(self) -> Any:
        """The pixel detector, built on first use (loading it twice under a race is harmless)."""
        if self._pixels is None:
            if isinstance(self.pixel_detector, str):
                from aidetect.registry import load

                self._pixels = load(self.pixel_detector, **self.pixel_options)
            else:
                self._pixels = self.pixel_detector
        return self._pixels

    def decision_rule(self) -> DecisionRule:
        """The pixel detector's rule (checked by `aidetect.scan` before any file, which loads its model)."""
        rule = getattr(self.pixels_, "decision_rule", None)
        return rule() if callable(rule) else DecisionRule()

    def load(self, source: ImageInput | AutoInput) -> AutoInput:
        """Read the file once: metadata from its bytes, then its pixels unless metadata decided and we may skip."""
        if isinstance(source, AutoInput):
            return source
        name = None if isinstance(source, np.ndarray) else describe_source(source)
        if isinstance(source, (str, os.PathLike)) or hasattr(source, "read"):
            with open_stream(source, str(name)) as stream:
                source = stream.read()
        report = self.provenance.load(source)
        decided = verdict(report.evidence)[1] in (AI_LABEL, REAL_LABEL)
        if decided and not self.always_score_pixels:
            return AutoInput(name, report, None)
        try:
            pixels = self._load_pixels(source)
        except ImageError as exc:
            if not decided:
                raise type(exc)(exc.reason, name) from exc
            pixels = None  # metadata decided; pixels that cannot be decoded do not undo that
        return AutoInput(name, report, pixels)

    def _load_pixels(self, source: Any) -> Any:
        loader = getattr(self.pixels_, "load", None)
        if callable(loader):
            return loader(source)
        from aidetect.io import load_image

        return load_image(source)

    def predict(self, image: ImageInput) -> Prediction:
        return self.predict_batch([image], batch_size=1)[0]

    def predict_batch(self, images: Iterable[Any], batch_size: int = 32) -> list[Prediction]:
        inputs = [self.load(image) for image in images]
        with_pixels = [item for item in inputs if item.pixels is not None]
        pixel_predictions = self.pixels_.predict_batch([item.pixels for item in with_pixels], batch_size=batch_size)
        by_input = {id(item): p for item, p in zip(with_pixels, pixel_predictions, strict=True)}
        rule_threshold = self.decision_rule().threshold
        # A plugin pixel detector that states no rule: its calibrated score is read at even odds.
        threshold = NEUTRAL_THRESHOLD if rule_threshold is None else rule_threshold
        return [self._combine(item, by_input.get(id(item)), threshold) for item in inputs]

    def _combine(self, item: AutoInput, pixels: Prediction | None, threshold: float) -> Prediction:
        evidence = item.report.evidence
        if pixels is not None:
            indicates = pixels.label if pixels.label in (AI_LABEL, REAL_LABEL) else None
            evidence += (Evidence("pixel-detector", f"{pixels.detector} scored {pixels.score:.3f} ({pixels.label})",
                                  WEAK, indicates, score=pixels.score),)
        score, label = verdict(item.report.evidence)
        if label not in (AI_LABEL, REAL_LABEL) and pixels is not None:
            return Prediction(pixels.score, pixels.label, pixels.threshold, self.name, pixels.crop_scores,
                              source=item.source, evidence=evidence)
        crops = pixels.crop_scores if pixels is not None else ()
        return Prediction(score, label, threshold, self.name, crops, source=item.source, evidence=evidence)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} pixels={self.pixel_detector!r}>"


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "auto",
        AutoDetector,
        description="Provenance evidence when the metadata is conclusive, else a pixel detector (efficientnet)",
        backend="metadata + pixels",
        requires=["onnxruntime"],
    )
