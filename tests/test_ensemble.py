"""The ensemble detector combines members' calibrated scores or votes."""

from __future__ import annotations

import numpy as np
import pytest

from aidetect.detector import BaseDetector, CropPolicy
from aidetect.detectors.ensemble import EnsembleDetector
from aidetect.errors import DetectorError


class _Constant(BaseDetector):
    """Scores every image with the same logit."""

    def __init__(self, logit: float, name: str) -> None:
        super().__init__()
        self.logit = logit
        self.name = name  # type: ignore[misc]

    def crop_policy(self) -> CropPolicy:
        return CropPolicy(input_size=16, max_tiles_per_side=1)

    def raw_scores(self, crops):
        return np.full(len(crops), self.logit)


def _sigmoid(x: float) -> float:
    return 1 / (1 + np.exp(-x))


@pytest.fixture
def image() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 255, (24, 24, 3), dtype=np.uint8)


def test_mean_of_calibrated_scores(image):
    members = [_Constant(2.0, "a"), _Constant(-1.0, "b")]
    prediction = EnsembleDetector(members).predict(image)
    assert prediction.score == pytest.approx((_sigmoid(2.0) + _sigmoid(-1.0)) / 2)
    assert prediction.crop_scores == pytest.approx((_sigmoid(2.0), _sigmoid(-1.0)))


def test_weighted_mean(image):
    members = [_Constant(2.0, "a"), _Constant(-1.0, "b")]
    prediction = EnsembleDetector(members, method="weighted", weights=[3, 1]).predict(image)
    assert prediction.score == pytest.approx((3 * _sigmoid(2.0) + _sigmoid(-1.0)) / 4)


def test_majority_vote(image):
    members = [_Constant(2.0, "a"), _Constant(1.0, "b"), _Constant(-3.0, "c")]
    prediction = EnsembleDetector(members, method="vote").predict(image)
    assert prediction.score == pytest.approx(2 / 3)
    assert prediction.label == "ai"


def test_weighted_needs_one_weight_per_member(image):
    with pytest.raises(DetectorError, match="one weight per member"):
        EnsembleDetector([_Constant(0, "a")], method="weighted", weights=[1, 2]).predict(image)


def test_unknown_method_is_refused(image):
    with pytest.raises(DetectorError, match="method"):
        EnsembleDetector([_Constant(0, "a")], method="median").predict(image)
