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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from aidetect.evidence import Evidence
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
    ``members`` names the detectors an ensemble combined (``crop_scores`` then
    holds their scores, in that order); empty for a single detector.
    ``evidence`` holds what the file's metadata says about its origin (the
    ``provenance`` and ``auto`` detectors; empty for pixel detectors).
    """

    score: float
    label: str
    threshold: float
    detector: str
    crop_scores: tuple[float, ...] = ()
    source: str | None = None
    members: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()

    @property
    def is_ai(self) -> bool:
        return self.label == AI_LABEL

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop_scores"] = list(self.crop_scores)
        if self.members:  # only an ensemble's verdict has members
            data["members"] = list(self.members)
        else:
            del data["members"]
        data["evidence"] = [finding.to_dict() for finding in self.evidence]
        return data


@runtime_checkable
class Detector(Protocol):
    """What every detector offers. Implementations must be safe to call from several threads."""

    name: str

    def predict(self, image: ImageInput) -> Prediction: ...

    def predict_batch(self, images: Iterable[ImageInput], batch_size: int = 32) -> list[Prediction]: ...


@runtime_checkable
class Explainable(Protocol):
    """A detector that explains its verdicts itself (every `BaseDetector` does).

    Not part of `Detector`: a plugin with only ``predict``/``predict_batch``
    is still explained by `aidetect.explain.explain(detector, image)`, which
    builds the window map from ``predict_batch``.
    """

    def explain(self, image: ImageInput, *, stride: int | None = None, method: str = "auto") -> Explanation: ...


@dataclass(frozen=True)
class DecisionRule:
    """How a calibrated score becomes a label: one object instead of three constructor arguments.

    ``threshold``: label ``"ai"`` at or above it (None: the model card's
    default). ``target_fpr``: instead of ``threshold``, the threshold that gave
    this false-positive rate on the model's validation reals (one of those in
    its card). ``uncertain_band``: ``(low, high)``, scores in ``[low, high)``
    are labelled ``"uncertain"``. A detector turns its rule into a concrete one
    (`resolve`) with its card's default threshold and FPR table.
    """

    threshold: float | None = None
    uncertain_band: tuple[float, float] | None = None
    target_fpr: float | None = None

    def __post_init__(self) -> None:
        if self.threshold is not None and self.target_fpr is not None:
            raise ValueError("give either threshold or target_fpr, not both")
        for name in ("threshold", "target_fpr"):
            value = getattr(self, name)
            if value is not None and not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.uncertain_band is not None:
            low, high = self.uncertain_band
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(
                    f"uncertain_band must be (low, high) with 0 <= low <= high <= 1, got {self.uncertain_band}"
                )

    def resolve(
        self, default_threshold: float, fpr_thresholds: Mapping[float, float], detector: str = ""
    ) -> DecisionRule:
        """The concrete rule: ``target_fpr`` looked up in ``fpr_thresholds``, else ``threshold``, else the default."""
        threshold = self.threshold
        if self.target_fpr is not None:
            if self.target_fpr not in fpr_thresholds:
                known = ", ".join(f"{fpr:g}" for fpr in sorted(fpr_thresholds)) or "none"
                raise ValueError(
                    f"{detector}: no validated threshold for target_fpr={self.target_fpr:g} "
                    f"(model card has: {known}); compute one on your data with "
                    "aidetect.calibration.threshold_for_fpr"
                )
            threshold = fpr_thresholds[self.target_fpr]
        if threshold is None:
            threshold = default_threshold
        return DecisionRule(threshold=float(threshold), uncertain_band=self.uncertain_band)

    def label(self, score: float) -> str:
        if self.uncertain_band is not None:
            low, high = self.uncertain_band
            if low <= score < high:
                return UNCERTAIN_LABEL
        threshold = 0.5 if self.threshold is None else self.threshold
        return AI_LABEL if score >= threshold else REAL_LABEL


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
    members: tuple[str, ...] = ()


class BaseDetector:
    """Shared machinery: subclasses implement `raw_scores` (and usually `crops`).

    The decision rule (common to every subclass) is one `DecisionRule`, given as
    ``decision=`` or, equivalently, as its three keywords:

    threshold
        Score at or above which an image is labelled ``"ai"``. Default: the
        model card's threshold.
    target_fpr
        Instead of ``threshold``, use the threshold that gave this false-positive
        rate on the model's validation data (one of those in its model card).
    uncertain_band
        ``(low, high)``: scores in ``[low, high)`` are labelled ``"uncertain"``.

    A bad rule (both threshold and target_fpr, values outside [0, 1]) is refused
    here, when the detector is made, not when it first predicts.
    """

    name: ClassVar[str] = "base"
    min_side: ClassVar[int] = 16
    explain_methods: ClassVar[tuple[str, ...]] = ("window",)
    """What `explain` offers: the sliding-window map always; subclasses add "occlusion" or "evidence"."""

    def __init__(
        self,
        *,
        decision: DecisionRule | None = None,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        given = [key for key, value in (("threshold", threshold), ("target_fpr", target_fpr),
                                          ("uncertain_band", uncertain_band)) if value is not None]
        from aidetect.errors import InvalidOptionError

        if decision is not None and given:
            raise InvalidOptionError(f"{self.name}: give decision= or {given}, not both")
        try:
            self.decision = decision or DecisionRule(threshold, uncertain_band, target_fpr)
        except (TypeError, ValueError) as exc:
            raise InvalidOptionError(f"{self.name}: {exc}") from exc
        self._lock = threading.RLock()

    @property
    def threshold(self) -> float | None:
        return self.decision.threshold

    @property
    def target_fpr(self) -> float | None:
        return self.decision.target_fpr

    @property
    def uncertain_band(self) -> tuple[float, float] | None:
        return self.decision.uncertain_band

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
        """The concrete rule for this detector's model (reads its card: loads the model if needed)."""
        return self.decision.resolve(self.default_threshold(), self.fpr_thresholds(), self.name)

    # -- the public API -------------------------------------------------------------
    def predict(self, image: ImageInput) -> Prediction:
        return self.predict_batch([image], batch_size=1)[0]

    def predict_batch(self, images: Iterable[ImageInput], batch_size: int = 32) -> list[Prediction]:
        """Judge several images, running the backend on up to ``batch_size`` crops at a time."""
        sources = list(images)
        scored = self._score_sources(sources, batch_size)  # scoring loads the model; the rule reads its card
        rule = self.decision_rule()
        return [
            Prediction(
                score=item.score,
                label=rule.label(item.score),
                threshold=float(rule.threshold if rule.threshold is not None else 0.5),
                detector=self.name,
                crop_scores=item.crop_scores,
                source=None if isinstance(src, np.ndarray) else describe_source(src),
                members=item.members,
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
