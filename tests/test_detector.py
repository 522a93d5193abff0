"""Tests of aidetect.detector: BaseDetector semantics on a tiny subclass, Prediction, DecisionRule, the protocol."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

import aidetect
from aidetect.detector import (
    AI_LABEL,
    REAL_LABEL,
    UNCERTAIN_LABEL,
    BaseDetector,
    CropPolicy,
    DecisionRule,
    Detector,
    Prediction,
)
from aidetect.errors import EmptyImageError, ImageTooSmallError
from aidetect.preprocess import tile_crops


class Brightness(BaseDetector):
    """Raw score = how much brighter than mid-grey a crop is; records the batch sizes it was given."""

    name = "brightness"
    min_side = 8

    def __init__(self, **options) -> None:
        super().__init__(**options)
        self.batches: list[int] = []
        self._batches_lock = threading.Lock()

    def crop_policy(self) -> CropPolicy:
        return CropPolicy(input_size=32, max_tiles_per_side=2)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        with self._batches_lock:
            self.batches.append(len(crops))
        return np.array([(crop.astype(np.float64).mean() / 255.0 - 0.5) * 8.0 for crop in crops])

    def fpr_thresholds(self) -> dict[float, float]:
        return {0.01: 0.9, 0.05: 0.7}


def raw_of(crop: np.ndarray) -> float:
    return (crop.astype(np.float64).mean() / 255.0 - 0.5) * 8.0


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def flat(height: int, width: int, value: int) -> np.ndarray:
    return np.full((height, width, 3), value, dtype=np.uint8)


def images(seed: int = 0) -> list[np.ndarray]:
    """A mix of sizes: below, at and above the 32 px input, square and not, bright and dark."""
    rng = np.random.default_rng(seed)
    shapes = [(20, 20), (32, 32), (40, 90), (100, 100), (64, 64), (33, 200), (16, 48), (128, 70)]
    return [
        np.clip(rng.normal(rng.uniform(40, 215), 40, (*shape, 3)), 0, 255).astype(np.uint8) for shape in shapes
    ]


@pytest.fixture
def detector() -> Brightness:
    return Brightness()


# -- scoring -------------------------------------------------------------------------------------------------------


def test_score_is_the_calibrated_mean_of_crop_raw_scores(detector):
    image = images()[3]  # 100 x 100: round(100 / 32) = 3 tiles per side, capped at 2 -> 4 crops
    crops = tile_crops(image, 32, 2)
    assert len(crops) == 4
    raws = [raw_of(crop) for crop in crops]
    prediction = detector.predict(image)
    assert prediction.score == pytest.approx(sigmoid(float(np.mean(raws))))
    assert prediction.crop_scores == pytest.approx([sigmoid(r) for r in raws])
    assert detector.decision_function([image]) == pytest.approx([np.mean(raws)])


def test_crop_scores_present_for_large_images_and_empty_for_small_ones(detector):
    assert len(detector.predict(flat(100, 100, 200)).crop_scores) == 4
    assert len(detector.predict(flat(32, 100, 200)).crop_scores) == 2  # one row of two
    assert detector.predict(flat(32, 32, 200)).crop_scores == ()  # one crop: nothing to break down
    assert detector.predict(flat(20, 20, 200)).crop_scores == ()  # upscaled to one crop
    assert detector.predict(flat(40, 40, 200)).crop_scores == ()  # round(40 / 32) = 1: a centre crop


def test_flat_images_score_by_brightness(detector):
    dark, grey, bright = (detector.predict(flat(32, 32, v)) for v in (0, 128, 255))
    assert dark.score == pytest.approx(sigmoid(-4.0))
    assert grey.score == pytest.approx(sigmoid((128 / 255 - 0.5) * 8))
    assert bright.score == pytest.approx(sigmoid(4.0))
    assert (dark.label, bright.label) == (REAL_LABEL, AI_LABEL)


def test_predict_matches_predict_batch(detector):
    batch = images()
    together = detector.predict_batch(batch)
    alone = [detector.predict(image) for image in batch]
    assert together == alone
    assert all(isinstance(p, Prediction) for p in together)


@pytest.mark.parametrize("batch_size", [1, 2, 3, 5, 7, 64])
def test_batch_size_invariance(batch_size):
    reference = Brightness().predict_batch(images(), batch_size=32)
    detector = Brightness()
    assert detector.predict_batch(images(), batch_size=batch_size) == reference
    assert max(detector.batches) <= batch_size
    total_crops = sum(len(tile_crops(image, 32, 2)) for image in images())
    assert sum(detector.batches) == total_crops
    assert len(detector.batches) == math.ceil(total_crops / batch_size)  # crops of several images share a batch


@pytest.mark.parametrize("batch_size", [0, -1])
def test_bad_batch_size(detector, batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        detector.predict_batch(images()[:2], batch_size=batch_size)


def test_predict_batch_accepts_any_iterable_and_an_empty_one(detector):
    assert detector.predict_batch(image for image in images()[:3]) == detector.predict_batch(images()[:3])
    assert detector.predict_batch([]) == []
    assert detector.predict_proba([]).shape == (0, 2)


def test_every_input_kind(detector, tmp_path):
    pixels = images()[4]
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path)
    data = path.read_bytes()
    sources = [pixels, path, str(path), data, bytearray(data), io.BytesIO(data), Image.open(path)]
    predictions = detector.predict_batch(sources)
    assert len({p.score for p in predictions}) == 1
    assert [p.source for p in predictions] == [
        None, str(path), str(path), f"<{len(data)} bytes>", f"<{len(data)} bytes>", "<BytesIO>", str(path)
    ]


def test_load_errors_propagate_with_their_type(detector):
    with pytest.raises(EmptyImageError):
        detector.predict(b"")
    with pytest.raises(ImageTooSmallError):
        detector.predict(flat(7, 100, 0))  # min_side = 8
    assert detector.predict(flat(8, 100, 0)).label == REAL_LABEL


def test_predict_proba(detector):
    batch = images()
    proba = detector.predict_proba(batch, batch_size=3)
    assert proba.shape == (len(batch), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 1], [p.score for p in detector.predict_batch(batch)])
    np.testing.assert_allclose(proba[:, 0], [1 - p.score for p in detector.predict_batch(batch)])
    assert ((proba >= 0) & (proba <= 1)).all()


def test_decision_function_is_uncalibrated(detector):
    raw = detector.decision_function([flat(32, 32, 0), flat(32, 32, 255)])
    np.testing.assert_allclose(raw, [-4.0, 4.0])


# -- the decision rule ---------------------------------------------------------------------------------------------


def test_default_threshold(detector):
    prediction = detector.predict(flat(32, 32, 200))
    assert prediction.threshold == 0.5
    assert prediction.detector == "brightness"


def test_threshold_moves_the_verdict():
    image = flat(32, 32, 170)  # score ~0.79
    score = Brightness().predict(image).score
    assert 0.75 < score < 0.85
    assert Brightness(threshold=score - 0.01).predict(image).label == AI_LABEL
    assert Brightness(threshold=score + 0.01).predict(image).label == REAL_LABEL
    assert Brightness(threshold=0.0).predict(flat(32, 32, 0)).label == AI_LABEL
    assert Brightness(threshold=1.0).predict(flat(32, 32, 255)).label == REAL_LABEL


def test_decision_rule_boundaries():
    rule = DecisionRule(threshold=0.5)
    assert rule.label(0.5) == AI_LABEL  # at the threshold counts as AI
    assert rule.label(np.nextafter(0.5, 0)) == REAL_LABEL
    banded = DecisionRule(threshold=0.5, uncertain_band=(0.4, 0.6))
    assert banded.label(0.39) == REAL_LABEL
    assert banded.label(0.4) == UNCERTAIN_LABEL  # low end included
    assert banded.label(0.5) == UNCERTAIN_LABEL
    assert banded.label(0.5999) == UNCERTAIN_LABEL
    assert banded.label(0.6) == AI_LABEL  # high end excluded
    assert DecisionRule(0.5, uncertain_band=(0.5, 0.5)).label(0.5) == AI_LABEL  # an empty band changes nothing


def test_uncertain_band_on_a_detector():
    detector = Brightness(uncertain_band=(0.3, 0.7))
    assert detector.predict(flat(32, 32, 128)).label == UNCERTAIN_LABEL  # ~0.5
    assert detector.predict(flat(32, 32, 0)).label == REAL_LABEL
    assert detector.predict(flat(32, 32, 255)).label == AI_LABEL
    assert not detector.predict(flat(32, 32, 128)).is_ai


@pytest.mark.parametrize("threshold", [-0.01, 1.01, float("nan"), 5])
def test_bad_threshold(threshold):
    with pytest.raises(ValueError, match="threshold"):
        Brightness(threshold=threshold).predict(flat(32, 32, 0))
    with pytest.raises(ValueError):
        DecisionRule(threshold=threshold)


@pytest.mark.parametrize("band", [(0.7, 0.3), (-0.1, 0.5), (0.5, 1.1), (float("nan"), 0.5)])
def test_bad_uncertain_band(band):
    with pytest.raises(ValueError, match="uncertain_band"):
        Brightness(uncertain_band=band).predict(flat(32, 32, 0))


def test_target_fpr_uses_the_validated_threshold():
    detector = Brightness(target_fpr=0.05)
    assert detector.decision_rule().threshold == 0.7
    image = flat(32, 32, 170)  # score ~0.79
    assert detector.predict(image).threshold == 0.7
    assert detector.predict(image).label == AI_LABEL
    assert Brightness(target_fpr=0.01).predict(image).label == REAL_LABEL  # threshold 0.9
    assert Brightness(target_fpr=0.01, uncertain_band=(0.85, 0.95)).predict(flat(32, 32, 200)).label == UNCERTAIN_LABEL


def test_target_fpr_not_in_the_table():
    with pytest.raises(ValueError, match=r"target_fpr=0\.02.*0\.01, 0\.05"):
        Brightness(target_fpr=0.02).predict(flat(32, 32, 0))


def test_target_fpr_without_any_table():
    class NoTable(Brightness):
        def fpr_thresholds(self) -> dict[float, float]:
            return {}

    with pytest.raises(ValueError, match="none"):
        NoTable(target_fpr=0.05).predict(flat(32, 32, 0))


def test_threshold_and_target_fpr_together():
    with pytest.raises(ValueError, match="not both"):
        Brightness(threshold=0.5, target_fpr=0.05).predict(flat(32, 32, 0))


def test_default_threshold_is_overridable():
    class Strict(Brightness):
        def default_threshold(self) -> float:
            return 0.95

    assert Strict().predict(flat(32, 32, 200)).threshold == 0.95
    assert Strict(threshold=0.2).predict(flat(32, 32, 200)).threshold == 0.2


# -- Prediction ----------------------------------------------------------------------------------------------------


def test_prediction_is_frozen_and_serialisable(detector):
    prediction = detector.predict(flat(100, 100, 220))
    with pytest.raises(dataclasses.FrozenInstanceError):
        prediction.score = 0.0  # type: ignore[misc]
    data = prediction.to_dict()
    assert set(data) == {"score", "label", "threshold", "detector", "crop_scores", "source", "evidence"}
    assert data["evidence"] == []  # pixel detectors carry no metadata evidence
    assert isinstance(data["crop_scores"], list) and len(data["crop_scores"]) == 4
    decoded = json.loads(json.dumps(data))
    assert decoded == data
    assert Prediction(**{**decoded, "crop_scores": tuple(decoded["crop_scores"]), "evidence": ()}) == prediction
    assert type(data["score"]) is float and all(type(s) is float for s in data["crop_scores"])
    assert prediction.is_ai
    assert hash(prediction) == hash(dataclasses.replace(prediction))


# -- the protocol --------------------------------------------------------------------------------------------------


def test_runtime_checkable_protocol(detector):
    assert isinstance(detector, aidetect.Detector)
    assert aidetect.Detector is Detector
    assert aidetect.BaseDetector is BaseDetector and aidetect.Prediction is Prediction

    class Duck:
        name = "duck"

        def predict(self, image):
            return None

        def predict_batch(self, images, batch_size=32):
            return []

        def explain(self, image, *, stride=None, method="auto"):
            return None

    class NoBatch:
        name = "half"

        def predict(self, image):
            return None

    class NoExplain:  # still a Detector: explain is the separate Explainable capability
        name = "old"

        def predict(self, image):
            return None

        def predict_batch(self, images, batch_size=32):
            return []

    assert isinstance(Duck(), Detector)
    assert not isinstance(NoBatch(), Detector)
    assert isinstance(NoExplain(), Detector)
    assert isinstance(Duck(), aidetect.Explainable) and not isinstance(NoExplain(), aidetect.Explainable)
    assert not isinstance(object(), Detector)


def test_base_detector_needs_raw_scores():
    with pytest.raises(NotImplementedError):
        BaseDetector().predict(flat(32, 32, 0))
    assert repr(Brightness()) == "<Brightness 'brightness'>"


def test_crop_policy_from_dict():
    assert CropPolicy.from_dict({"input_size": "128", "max_tiles_per_side": 4}) == CropPolicy(128, 4)
    assert CropPolicy.from_dict({}) == CropPolicy(224, 3)


# -- threads -------------------------------------------------------------------------------------------------------


def test_thread_safety(detector):
    batch = images(seed=1) * 3
    sequential = [detector.predict(image) for image in batch]
    start = threading.Barrier(8)

    def work(offset: int) -> list[tuple[int, Prediction]]:
        start.wait()  # all threads predict at the same time
        order = list(range(len(batch)))[offset:] + list(range(len(batch)))[:offset]
        return [(i, detector.predict(batch[i])) for i in order]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    for per_thread in results:
        assert len(per_thread) == len(batch)
        for index, prediction in per_thread:
            assert prediction == sequential[index]


def test_thread_safety_of_predict_batch_with_different_batch_sizes(detector):
    batch = images(seed=2)
    reference = detector.predict_batch(batch)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda size: detector.predict_batch(batch, batch_size=size), range(1, 9)))
    assert all(result == reference for result in results)
