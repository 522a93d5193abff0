"""Tests of aidetect.calibration: calibrators against scikit-learn, serialisation, and FPR thresholds."""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aidetect import calibration, metrics
from aidetect.calibration import (
    IdentityCalibrator,
    IsotonicCalibrator,
    PlattCalibrator,
    SigmoidCalibrator,
    calibrator_from_dict,
    fpr_table,
    threshold_for_fpr,
    threshold_for_fpr_on,
)
from aidetect.datasets import from_folder
from aidetect.detector import BaseDetector, CropPolicy
from aidetect.errors import NotFittedError

sklearn_linear = pytest.importorskip("sklearn.linear_model")
sklearn_isotonic = pytest.importorskip("sklearn.isotonic")


def miscalibrated(seed: int, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """Raw scores that are an overconfident, shifted logit: sigmoid(raw) is badly calibrated."""
    rng = np.random.default_rng(seed)
    true_logit = rng.normal(0.0, 1.5, size=n)
    labels = (rng.random(n) < 1.0 / (1.0 + np.exp(-true_logit))).astype(int)
    return 3.0 * true_logit + 1.0, labels


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# -- Platt ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_platt_matches_logistic_regression(seed):
    raw, labels = miscalibrated(seed)
    platt = PlattCalibrator().fit(raw, labels)
    # Nearly unpenalised logistic regression: Platt's target smoothing and tiny L2 shift it only slightly.
    reference = sklearn_linear.LogisticRegression(C=1e6).fit(raw[:, None], labels)
    assert platt.a_ == pytest.approx(reference.coef_[0, 0], rel=0.02)
    assert platt.b_ == pytest.approx(reference.intercept_[0], abs=0.05)
    # The generating process has a = 1/3, b = -1/3.
    assert platt.a_ == pytest.approx(1 / 3, rel=0.15)


@pytest.mark.parametrize("calibrator", [PlattCalibrator, IsotonicCalibrator])
@pytest.mark.parametrize("seed", [0, 1])
def test_calibration_reduces_ece_on_held_out_data(calibrator, seed):
    raw_fit, labels_fit = miscalibrated(seed)
    raw_test, labels_test = miscalibrated(seed + 100)
    before = metrics.expected_calibration_error(labels_test, sigmoid(raw_test))
    after = metrics.expected_calibration_error(labels_test, calibrator().fit(raw_fit, labels_fit).transform(raw_test))
    assert before > 0.1
    assert after < before / 3


def test_platt_stays_finite_on_separable_data():
    raw = np.r_[np.linspace(-5, -1, 50), np.linspace(1, 5, 50)]
    labels = np.r_[np.zeros(50, int), np.ones(50, int)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        platt = PlattCalibrator().fit(raw, labels)
    assert np.isfinite([platt.a_, platt.b_]).all()
    assert 0 < platt.a_ < 50
    probs = platt.transform(raw)
    assert (probs[labels == 1] > 0.5).all() and (probs[labels == 0] < 0.5).all()
    # Smoothed targets cap confidence near (50 + 1) / (50 + 2): no probability of exactly 0 or 1.
    assert probs.max() < 1.0 and probs.min() > 0.0


def test_platt_on_a_single_class_gives_its_smoothed_rate():
    platt = PlattCalibrator().fit([0.1, 0.5, 2.0, 3.0], [1, 1, 1, 1])
    # Smoothed target (4 + 1) / (4 + 2); the slope has nothing to explain so the mean must match.
    assert platt.transform([0.1, 0.5, 2.0, 3.0]).mean() == pytest.approx(5 / 6, abs=0.02)


# -- isotonic ----------------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_isotonic_matches_sklearn(ties):
    raw, labels = miscalibrated(3, n=800)
    if ties:
        raw = np.round(raw)
    ours = IsotonicCalibrator().fit(raw, labels)
    reference = sklearn_isotonic.IsotonicRegression(out_of_bounds="clip").fit(raw, labels)
    probe = np.r_[raw, np.linspace(raw.min() - 2, raw.max() + 2, 500)]
    expected = np.clip(reference.predict(probe), calibration.PROB_EPS, 1 - calibration.PROB_EPS)
    np.testing.assert_allclose(ours.transform(probe), expected, atol=1e-12)


def test_isotonic_is_monotone_and_clipped():
    raw, labels = miscalibrated(4, n=500)
    probs = IsotonicCalibrator().fit(raw, labels).transform(np.sort(raw))
    assert (np.diff(probs) >= 0).all()
    assert probs.min() >= 1e-4 and probs.max() <= 1 - 1e-4
    assert probs.min() == 1e-4  # the lowest scores are all real in this sample: clipped, not 0


def test_pool_adjacent_violators_hand_case():
    # x order 1..4 with labels 1, 0, 1, 1: the first two pool to 0.5.
    isotonic = IsotonicCalibrator().fit([1, 2, 3, 4], [1, 0, 1, 1])
    np.testing.assert_allclose(isotonic.transform([1, 2, 3, 4]), [0.5, 0.5, 1 - 1e-4, 1 - 1e-4])
    np.testing.assert_allclose(isotonic.transform([2.5]), [0.75])


# -- serialisation ----------------------------------------------------------------------------------


def fitted_calibrators() -> list[calibration.Calibrator]:
    raw, labels = miscalibrated(5, n=400)
    return [
        PlattCalibrator().fit(raw, labels),
        IsotonicCalibrator().fit(raw, labels),
        SigmoidCalibrator(),
        IdentityCalibrator(),
    ]


@pytest.mark.parametrize("calibrator", fitted_calibrators(), ids=lambda c: c.method)
def test_round_trip_through_json(calibrator):
    data = json.loads(json.dumps(calibrator.to_dict()))
    assert data["method"] == calibrator.method
    rebuilt = calibrator_from_dict(data)
    assert type(rebuilt) is type(calibrator)
    probe = np.linspace(-0.5, 1.5, 50) if calibrator.method == "identity" else np.linspace(-10, 10, 50)
    np.testing.assert_array_equal(rebuilt.transform(probe), calibrator.transform(probe))


def test_sigmoid_and_identity_transforms():
    np.testing.assert_allclose(SigmoidCalibrator().transform([-2.0, 0.0, 3.0]), sigmoid(np.array([-2.0, 0.0, 3.0])))
    np.testing.assert_allclose(IdentityCalibrator().transform([0.0, 0.3, 1.0]), [1e-4, 0.3, 1 - 1e-4])


def test_missing_calibration_means_sigmoid():
    assert isinstance(calibrator_from_dict(None), SigmoidCalibrator)
    assert isinstance(calibrator_from_dict({}), SigmoidCalibrator)


def test_bad_dicts_and_unfitted_calibrators_raise():
    with pytest.raises(ValueError):
        calibrator_from_dict({"method": "temperature"})
    with pytest.raises(ValueError, match="lacks b"):
        calibrator_from_dict({"method": "platt", "a": 1.0})
    with pytest.raises(ValueError):
        calibrator_from_dict({"method": "isotonic", "x": [0, 1], "y": [0.9, 0.1]})
    with pytest.raises(NotFittedError):
        PlattCalibrator().transform([0.0])
    with pytest.raises(NotFittedError):
        IsotonicCalibrator().to_dict()
    with pytest.raises(ValueError):
        PlattCalibrator().fit([0.0, 1.0], [0, 2])


def test_parameters_set_only_in_init():
    platt = PlattCalibrator(l2=0.5)
    assert platt.l2 == 0.5 and not hasattr(platt, "a_")


# -- thresholds --------------------------------------------------------------------------------


def real_scores(seed: int, ties: bool) -> np.ndarray:
    scores = np.random.default_rng(seed).beta(2, 5, size=537)
    return np.round(scores, 2) if ties else scores


@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("fpr", [0.0, 0.001, 0.01, 0.05, 0.1, 0.29, 0.5, 1.0])
def test_threshold_gives_at_most_the_requested_fpr_and_is_smallest(fpr, ties):
    scores = real_scores(int(fpr * 1000), ties)
    threshold = threshold_for_fpr(scores, fpr)
    assert (scores >= threshold).mean() <= fpr
    # Smallest: any lower threshold that changes a decision flags too many real images.
    lower = scores[scores < threshold]
    if lower.size:
        assert (scores >= lower.max()).mean() > fpr
    assert (scores >= np.nextafter(threshold, -np.inf)).mean() > fpr or fpr == 1.0


def test_threshold_hand_case():
    scores = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
    # 10% of 10 -> one image may be flagged: the threshold sits just above 0.9.
    threshold = threshold_for_fpr(scores, 0.1)
    assert threshold == np.nextafter(0.9, 1.0)
    assert threshold_for_fpr(scores, 0.0) == np.nextafter(0.95, 1.0)
    assert threshold_for_fpr(scores, 1.0) == 0.1


def test_fpr_table():
    scores = real_scores(9, False)
    table = fpr_table(scores)
    assert list(table) == [0.001, 0.01, 0.05, 0.1]
    assert all(table[fpr] == threshold_for_fpr(scores, fpr) for fpr in table)
    assert table[0.001] >= table[0.01] >= table[0.05] >= table[0.1]


def test_threshold_rejects_bad_input():
    with pytest.raises(ValueError):
        threshold_for_fpr([], 0.1)
    with pytest.raises(ValueError):
        threshold_for_fpr([0.5], 1.5)


class BrightnessDetector(BaseDetector):
    """Scores an image by its mean brightness: enough to exercise the scoring path."""

    name = "brightness"

    def crop_policy(self) -> CropPolicy:
        return CropPolicy(input_size=32)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([(crop.mean() / 255.0 - 0.5) * 8.0 for crop in crops])


def save_image(path: Path, level: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((40, 40, 3), level, dtype=np.uint8)).save(path)


def test_threshold_for_fpr_on_scores_only_real_images(tmp_path):
    levels = list(range(40, 240, 10))
    for level in levels:
        save_image(tmp_path / "real" / f"{level}.png", level)
    save_image(tmp_path / "fake" / "bright.png", 250)
    (tmp_path / "real" / "broken.png").write_bytes(b"not an image")
    dataset = from_folder(tmp_path)
    detector = BrightnessDetector()
    expected_scores = [p.score for p in detector.predict_batch([tmp_path / "real" / f"{lv}.png" for lv in levels])]
    with pytest.warns(UserWarning, match="skipped 1"):
        threshold = threshold_for_fpr_on(detector, dataset, 0.1, batch_size=4)
    assert threshold == threshold_for_fpr(expected_scores, 0.1)
    flagged = [score >= threshold for score in expected_scores]
    assert sum(flagged) == 2  # 10% of 20 real images


def test_source_fpr_threshold_counts_each_source_equally():
    from aidetect.calibration import threshold_for_source_fpr

    # 90 easy reals from one source score low; 10 hard reals from another all score high.
    scores = np.r_[np.linspace(0.0, 0.2, 90), np.linspace(0.8, 0.9, 10)]
    sources = ["big"] * 90 + ["hard"] * 10
    pooled = threshold_for_fpr(scores, 0.1)
    per_source = threshold_for_source_fpr(scores, sources, 0.1)
    assert pooled <= 0.8  # pooled: the 10 hard reals are exactly the 10% allowed
    hard_fpr = float((np.array(scores[90:]) >= per_source).mean())
    big_fpr = float((np.array(scores[:90]) >= per_source).mean())
    assert (hard_fpr + big_fpr) / 2 <= 0.1
    assert hard_fpr <= 0.2  # the hard source may not take the whole allowance


def test_source_fpr_threshold_with_one_source_matches_the_pooled_one():
    from aidetect.calibration import threshold_for_source_fpr

    scores = np.random.default_rng(0).random(200)
    for fpr in (0.0, 0.01, 0.05, 0.5, 1.0):
        assert threshold_for_source_fpr(scores, ["a"] * 200, fpr) == threshold_for_fpr(scores, fpr)


def test_leave_one_source_out_reports_each_source_with_a_threshold_from_the_others():
    from aidetect.calibration import leave_one_source_out

    scores = np.r_[np.full(50, 0.1), np.full(50, 0.9)]
    report = leave_one_source_out(scores, ["low"] * 50 + ["high"] * 50, 0.05)
    assert set(report) == {"high", "low"}
    assert report["high"]["fpr"] == 1.0  # a threshold set on the low source accuses every high-scoring real
    assert report["low"]["fpr"] == 0.0
    with pytest.raises(ValueError, match="two sources"):
        leave_one_source_out(scores, ["one"] * 100, 0.05)
