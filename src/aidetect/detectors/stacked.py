"""``stacked``: the fitted ensemble, with an optional cheap-first cascade.

Members' raw scores are combined by weights fitted on validation data with
whole sources held out (`aidetect.stacking`); the card
(``aidetect/models/stacked.json``) names the members, their versions and the
cascade bands. A member that cannot run (missing package, missing weights,
missing CLIP encoder) stops the ensemble with that member's own install
instruction: there is no silent fall-back to fewer members.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from aidetect.detector import BaseDetector, _ScoredImage
from aidetect.errors import AidetectError, DetectorError
from aidetect.hookspecs import hookimpl
from aidetect.io import ImageInput
from aidetect.stacking import StackedModel, in_band, member_version
from aidetect.weights import bundled_dir

CARD_FILE = "stacked.json"
REFIT_COMMAND = "python benchmarks/fit_ensemble.py"


class StackedEnsembleDetector(BaseDetector):
    """Members' logits, z-scored, weighted, calibrated.

    Parameters beyond `BaseDetector`'s:

    card
        A stacked-ensemble card (JSON); default: the bundled one.
    cascade
        ``False`` (every member on every image), or the name of one of the card's
        cascade bands (``"narrow"``, ``"wide"``): the cheap member judges alone
        unless its calibrated score falls inside the band.
    band
        An explicit ``(low, high)`` cascade band instead of a named one.
    member_options
        Options per member name, e.g. ``{"efficientnet": {"threads": 1}}``.
    """

    name: ClassVar[str] = "stacked"

    def __init__(
        self,
        card: str | os.PathLike[str] | None = None,
        *,
        cascade: bool | str = False,
        band: tuple[float, float] | None = None,
        member_options: dict[str, dict[str, Any]] | None = None,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(threshold=threshold, target_fpr=target_fpr, uncertain_band=uncertain_band)
        self.card = card
        self.cascade = cascade
        self.band = band
        self.member_options = member_options or {}

    # -- loading ------------------------------------------------------------------------
    @property
    def model_(self) -> StackedModel:
        self._ensure_loaded()
        return self._model

    @property
    def members_(self) -> list[Any]:
        self._ensure_loaded()
        return self._members

    def _is_loaded(self) -> bool:
        return getattr(self, "_members", None) is not None

    def _load(self) -> None:
        model = StackedModel.read(self.card or bundled_dir() / CARD_FILE)
        members = [self._load_member(name) for name in model.members]
        for name, detector in zip(model.members, members, strict=True):
            expected, actual = model.member_versions.get(name), member_version(detector)
            if expected and actual and expected != actual:
                warnings.warn(
                    f"stacked: member {name!r} is not the version the ensemble was fitted on "
                    f"({actual} != {expected}); its weights need refitting: {REFIT_COMMAND}",
                    stacklevel=2,
                )
        self._model = model
        self._members = members

    def _load_member(self, name: str) -> Any:
        from aidetect.registry import get_registry

        try:
            detector = get_registry().load(name, **self.member_options.get(name, {}))
            rule = getattr(detector, "decision_rule", None)
            if not callable(rule):
                raise DetectorError(f"{name!r} offers no decision_rule(), which a stacked member needs")
            rule()  # loads the member's card and weights: fail now, with its own instructions
        except AidetectError as exc:  # no silent ensemble of fewer members
            raise DetectorError(f"stacked ensemble member {name!r} cannot run, so the ensemble refuses to: {exc}") \
                from exc
        return detector

    def cascade_band(self) -> tuple[float, float] | None:
        if self.band is not None:
            return self.band
        if not self.cascade:
            return None
        bands = self.model_.cascade.get("bands", {})
        name = "narrow" if self.cascade is True else str(self.cascade)
        if name not in bands:
            raise DetectorError(f"stacked: no cascade band {name!r} in the card (has: {', '.join(bands) or 'none'})")
        low, high = bands[name]["band"]
        return float(low), float(high)

    # -- scoring ------------------------------------------------------------------------
    def member_raw(self, arrays: list[np.ndarray], batch_size: int = 32) -> np.ndarray:
        """``(n, members)`` raw scores of decoded images."""
        if not arrays:
            return np.zeros((0, len(self.members_)))
        return np.column_stack([m.decision_function(arrays, batch_size=batch_size) for m in self.members_])

    def default_threshold(self) -> float:
        return self.model_.threshold

    def fpr_thresholds(self) -> dict[float, float]:
        return self.model_.fpr_thresholds

    def _score_sources(self, sources: list[ImageInput], batch_size: int) -> list[_ScoredImage]:
        arrays = [self.load(source) for source in sources]
        scores = self._scores(arrays, batch_size)
        return [_ScoredImage(float(score)) for score in scores]

    def _scores(self, arrays: list[np.ndarray], batch_size: int) -> np.ndarray:
        band = self.cascade_band()
        if band is None:
            return self.model_.probability(self.member_raw(arrays, batch_size))
        cheap_name = self.model_.cascade["cheap"]
        cheap = self.members_[self.model_.members.index(cheap_name)]
        cheap_probability = cheap.calibrate(cheap.decision_function(arrays, batch_size=batch_size))
        consult = np.flatnonzero(in_band(cheap_probability, band))
        scores = np.asarray(cheap_probability, dtype=np.float64).copy()
        if consult.size:
            scores[consult] = self.model_.probability(self.member_raw([arrays[i] for i in consult], batch_size))
        result: np.ndarray = scores
        return result

    def decision_function(self, images: Iterable[ImageInput], batch_size: int = 32) -> np.ndarray:
        """The calibrated combined score (the cascade mixes two calibrated scales, so no raw logit)."""
        return self._scores([self.load(source) for source in images], batch_size)


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "stacked",
        StackedEnsembleDetector,
        description="Fitted ensemble: logistic regression on z-scored member logits, calibrated; optional cascade",
        backend="ensemble",
        aliases=["fitted-ensemble"],
    )
