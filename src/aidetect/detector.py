"""The `Detector` protocol, the `Prediction` it returns, and a base class.

Every detector, built-in or from a plugin, answers ``predict(image)`` with a
calibrated probability that the image is AI-generated. `BaseDetector` holds
what they share: loading inputs, cutting them into crops at native
resolution, combining per-crop scores, calibration, and the decision rule
(threshold, target false-positive rate, inconclusive band).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from aidetect.io import ImageInput, describe_source, load_image

if TYPE_CHECKING:
    from aidetect.explain import Explanation

AI_LABEL, REAL_LABEL, UNCERTAIN_LABEL = "ai", "real", "uncertain"


@dataclass(frozen=True)
class Prediction:
    """A detector's verdict on one image.

    ``score`` is the calibrated probability that the image is AI-generated;
    ``label`` is ``"ai"`` when ``score >= threshold``, ``"real"`` below it, or
    ``"uncertain"`` inside the caller's inconclusive band. ``crop_scores`` are
    the calibrated scores of the individual crops a large image was judged from.
    """

    score: float
    label: str
    threshold: float
    detector: str
    crop_scores: tuple[float, ...] = ()
    source: str | None = None

    @property
    def is_ai(self) -> bool:
        return self.label == AI_LABEL

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop_scores"] = list(self.crop_scores)
        return data


@runtime_checkable
class Detector(Protocol):
    """What every detector offers. Implementations must be safe to call from several threads."""

    name: str

    def predict(self, image: ImageInput) -> Prediction: ...

    def predict_batch(self, images: Iterable[ImageInput], batch_size: int = 32) -> list[Prediction]: ...

    def explain(self, image: ImageInput, *, stride: int | None = None, method: str = "auto") -> Explanation: ...


@dataclass(frozen=True)
class DecisionRule:
    """How a calibrated score becomes a label."""

    threshold: float = 0.5
    uncertain_band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.uncertain_band is not None:
            low, high = self.uncertain_band
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(
                    f"uncertain_band must be (low, high) with 0 <= low <= high <= 1, got {self.uncertain_band}"
                )

    def label(self, score: float) -> str:
        if self.uncertain_band is not None:
            low, high = self.uncertain_band
            if low <= score < high:
                return UNCERTAIN_LABEL
        return AI_LABEL if score >= self.threshold else REAL_LABEL


@dataclass(frozen=True)
class CropPolicy:
    """How an image becomes network inputs: native-resolution tiles of ``input_size``.

    An image no larger than the input gives one crop; larger ones give a grid
    of up to ``max_tiles_per_side ** 2`` crops whose raw scores are averaged.
    """

    input_size: int = 224
    max_tiles_per_side: int = 3

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CropPolicy:
        return cls(int(data.get("input_size", 224)), int(data.get("max_tiles_per_side", 3)))


@dataclass
class _ScoredImage:
    score: float
    crop_scores: tuple[float, ...] = field(default_factory=tuple)


class BaseDetector:
    """Shared machinery: subclasses implement `raw_scores` (and usually `crops`).

    Parameters (common to every subclass):

    threshold
        Score at or above which an image is labelled ``"ai"``. Default: the
        model card's threshold.
    target_fpr
        Instead of ``threshold``, use the threshold that gave this false-positive
        rate on the model's validation data (one of those in its model card).
    uncertain_band
        ``(low, high)``: scores in ``[low, high)`` are labelled ``"uncertain"``.
    """

    name: ClassVar[str] = "base"
    min_side: ClassVar[int] = 16
    explain_methods: ClassVar[tuple[str, ...]] = ("window",)
    """What `explain` offers: the sliding-window map always; subclasses add "occlusion" or "evidence"."""

    def __init__(
        self,
        *,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        self.threshold = threshold
        self.target_fpr = target_fpr
        self.uncertain_band = uncertain_band
        self._lock = threading.RLock()

    # -- lazy loading ------------------------------------------------------------
    def _is_loaded(self) -> bool:
        """Whether the state `_load` builds is in place (after loading, or after `fit`)."""
        return True

    def _load(self) -> None:
        """Build the model state (read weights, open sessions, load members); called once, under the lock."""

    def _ensure_loaded(self) -> None:
        """Load on first use, exactly once even when several threads predict at the same time."""
        if self._is_loaded():
            return
        with self._lock:
            if not self._is_loaded():
                self._load()

    # -- what subclasses provide -------------------------------------------------
    def crop_policy(self) -> CropPolicy:
        return CropPolicy()

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """One uncalibrated score (a logit or SVM margin) per crop; higher = more likely AI."""
        raise NotImplementedError

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """Map raw scores to probabilities; the default is the logistic function."""
        return 1.0 / (1.0 + np.exp(-np.asarray(raw, dtype=np.float64)))

    def default_threshold(self) -> float:
        return 0.5

    def fpr_thresholds(self) -> dict[float, float]:
        """Thresholds measured on validation data, keyed by false-positive rate."""
        return {}

    # -- the decision -------------------------------------------------------------
    def decision_rule(self) -> DecisionRule:
        if self.threshold is not None and self.target_fpr is not None:
            raise ValueError("give either threshold or target_fpr, not both")
        threshold = self.threshold
        if self.target_fpr is not None:
            table = self.fpr_thresholds()
            if self.target_fpr not in table:
                known = ", ".join(f"{fpr:g}" for fpr in sorted(table)) or "none"
                raise ValueError(
                    f"{self.name}: no validated threshold for target_fpr={self.target_fpr:g} "
                    f"(model card has: {known}); compute one on your data with "
                    "aidetect.calibration.threshold_for_fpr"
                )
            threshold = table[self.target_fpr]
        if threshold is None:
            threshold = self.default_threshold()
        return DecisionRule(threshold=float(threshold), uncertain_band=self.uncertain_band)

    # -- the public API -------------------------------------------------------------
    def predict(self, image: ImageInput) -> Prediction:
        return self.predict_batch([image], batch_size=1)[0]

    def predict_batch(self, images: Iterable[ImageInput], batch_size: int = 32) -> list[Prediction]:
        """Judge several images, running the backend on up to ``batch_size`` crops at a time."""
        rule = self.decision_rule()
        sources = list(images)
        scored = self._score_sources(sources, batch_size)
        return [
            Prediction(
                score=item.score,
                label=rule.label(item.score),
                threshold=rule.threshold,
                detector=self.name,
                crop_scores=item.crop_scores,
                source=None if isinstance(src, np.ndarray) else describe_source(src),
            )
            for src, item in zip(sources, scored, strict=True)
        ]

    def predict_proba(self, images: Iterable[ImageInput], batch_size: int = 32) -> np.ndarray:
        """scikit-learn style ``(n, 2)`` array: columns P(real), P(AI)."""
        scores = np.array([item.score for item in self._score_sources(list(images), batch_size)])
        return np.column_stack([1.0 - scores, scores])

    def decision_function(self, images: Iterable[ImageInput], batch_size: int = 32) -> np.ndarray:
        """Raw (uncalibrated) score per image: the mean of its crops' raw scores."""
        arrays = [self.load(src) for src in images]
        return np.array([raw.mean() for raw in self._raw_per_image(arrays, batch_size)])

    def explain(
        self, image: ImageInput, *, stride: int | None = None, method: str = "auto", patch: int | None = None
    ) -> Explanation:
        """Where in ``image`` this detector sees generation: a heat map and the cells behind it (`aidetect.explain`)."""
        from aidetect.explain import explain

        return explain(self, image, stride=stride, method=method, patch=patch)

    def load(self, source: ImageInput) -> np.ndarray:
        """Load one input the way this detector needs it (RGB uint8, minimum side enforced)."""
        return load_image(source, min_side=self.min_side)

    def crops(self, image: np.ndarray) -> list[np.ndarray]:
        from aidetect.preprocess import tile_crops

        policy = self.crop_policy()
        return tile_crops(image, policy.input_size, policy.max_tiles_per_side)

    # -- internals --------------------------------------------------------------------
    def _score_sources(self, sources: list[ImageInput], batch_size: int) -> list[_ScoredImage]:
        arrays = [self.load(src) for src in sources]
        results = []
        for raw in self._raw_per_image(arrays, batch_size):
            crop_probs = self.calibrate(raw)
            image_prob = float(self.calibrate(np.array([raw.mean()]))[0])
            results.append(_ScoredImage(image_prob, tuple(float(p) for p in crop_probs) if len(raw) > 1 else ()))
        return results

    def _raw_per_image(self, arrays: list[np.ndarray], batch_size: int) -> list[np.ndarray]:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        crops_per_image = [self.crops(array) for array in arrays]
        flat = [crop for crops in crops_per_image for crop in crops]
        raw = np.concatenate(
            [np.asarray(self.raw_scores(flat[i : i + batch_size]), dtype=np.float64).ravel()
             for i in range(0, len(flat), batch_size)]
        ) if flat else np.zeros(0)
        bounds = np.cumsum([0] + [len(c) for c in crops_per_image])
        return [raw[start:end] for start, end in itertools.pairwise(bounds)]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
