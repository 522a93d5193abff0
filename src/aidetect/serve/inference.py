"""The detectors a server holds: loaded once, warmed, described, and asked to judge uploads.

Only the public library API is used: `aidetect.load`, `aidetect.available`,
`Detector.predict_batch` and the `Prediction` it returns. Whatever fields a
`Prediction` carries (``evidence`` and the like included) are passed through
to the JSON answer as they are.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import aidetect
from aidetect.detector import DecisionRule
from aidetect.errors import AidetectError, UnknownDetectorError
from aidetect.serve.crops import crop_boxes
from aidetect.serve.errors import InvalidOptionError, NotReadyError, error_object
from aidetect.serve.settings import ServeSettings
from aidetect.serve.uploads import Upload

WARM_UP_SIDE = 512
"""Side of the noise image each detector judges once before the server is ready (several crops: real work)."""


@dataclass
class ServedDetector:
    """One loaded detector and the thresholds it offers."""

    name: str
    detector: Any
    default_threshold: float
    fpr_thresholds: dict[float, float] = field(default_factory=dict)
    uncertain_band: tuple[float, float] | None = None

    def threshold_for(self, threshold: float | None, target_fpr: float | None) -> float | None:
        """The threshold a request asks for (``None``: the detector's own)."""
        if threshold is not None and target_fpr is not None:
            raise InvalidOptionError("give either threshold or target_fpr, not both")
        if target_fpr is None:
            return threshold
        if target_fpr not in self.fpr_thresholds:
            offered = ", ".join(f"{fpr:g}" for fpr in sorted(self.fpr_thresholds)) or "none"
            raise InvalidOptionError(f"{self.name}: no validated threshold for target_fpr={target_fpr:g} "
                                     f"(offered: {offered})")
        return self.fpr_thresholds[target_fpr]

    def judge(self, uploads: list[Upload], threshold: float | None = None) -> list[dict[str, Any]]:
        """One entry per upload: the prediction's fields, or an ``error`` object; a bad file never stops the rest."""
        try:
            outcomes: list[Any] = list(self.detector.predict_batch([upload.data for upload in uploads]))
        except AidetectError:  # at least one bad file: judge them one by one to tell which
            outcomes = [self._predict_or_error(upload.data) for upload in uploads]
        rule = None if threshold is None else DecisionRule(threshold, self.uncertain_band)
        return [self._entry(upload, outcome, rule) for upload, outcome in zip(uploads, outcomes, strict=True)]

    def _predict_or_error(self, data: bytes) -> Any:
        try:
            return self.detector.predict(data)
        except AidetectError as exc:
            return exc

    def _entry(self, upload: Upload, outcome: Any, rule: DecisionRule | None) -> dict[str, Any]:
        if isinstance(outcome, Exception):
            return {"file": upload.name, "error": error_object(outcome)}
        if rule is not None:
            outcome = dataclasses.replace(outcome, threshold=rule.threshold, label=rule.label(outcome.score))
        fields = dataclasses.asdict(outcome)
        fields.pop("source", None)  # "<N bytes>": the upload's own name is in "file"
        boxes = crop_boxes(self.detector, upload.data, len(outcome.crop_scores))
        return {"file": upload.name, **fields, "crop_boxes": boxes, "error": None}

    def describe(self) -> dict[str, Any]:
        return {"default_threshold": self.default_threshold,
                "target_fprs": {f"{fpr:g}": value for fpr, value in sorted(self.fpr_thresholds.items())},
                "uncertain_band": self.uncertain_band}


class ServedDetectors:
    """The detectors named in the settings; `load` builds and warms them (slow), once."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.loaded: dict[str, ServedDetector] = {}
        self.error: str | None = None
        self._ready = threading.Event()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def load(self) -> None:
        """Load each detector and judge one image with it, so the first request pays no start-up cost."""
        warm_up = np.random.default_rng(0).integers(0, 256, (WARM_UP_SIDE, WARM_UP_SIDE, 3), dtype=np.uint8)
        try:
            for name in self.settings.detectors:
                self.loaded[name] = self._load_one(name, warm_up)
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            raise
        self._ready.set()

    def _load_one(self, name: str, warm_up: np.ndarray) -> ServedDetector:
        band = self.settings.uncertain_band
        detector = aidetect.load(name, **({"uncertain_band": band} if band else {}))
        first = detector.predict(warm_up)
        # Optional (BaseDetector has it): the thresholds validated for given false-positive rates, from the card.
        table: dict[float, float] = getattr(detector, "fpr_thresholds", dict)()
        return ServedDetector(name, detector, float(first.threshold), {float(k): float(v) for k, v in table.items()},
                              band)

    def get(self, name: str | None) -> ServedDetector:
        if not self.ready:
            raise NotReadyError(f"detectors are not ready ({self.error or 'still loading'})", retry_after_s=5)
        key = name or self.settings.default_detector
        if key not in self.loaded:
            served = ", ".join(self.loaded)
            raise UnknownDetectorError(f"detector {key!r} is not served here; served: {served}")
        return self.loaded[key]

    def describe_all(self) -> list[dict[str, Any]]:
        """Every registered detector: what it is, whether it is installed, and for served ones, its thresholds."""
        entries = []
        for info in aidetect.available():
            served = self.loaded.get(info.name)
            entries.append({
                "name": info.name, "backend": info.backend, "description": info.description,
                "installed": not info.missing(), "served": served is not None,
                "default": info.name == self.settings.default_detector,
                "thresholds": served.describe() if served else None,
            })
        return entries
