"""Tests of aidetect.metrics against scikit-learn, brute force, and small hand-computed cases."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings
from itertools import pairwise

import numpy as np
import pytest

from aidetect import metrics

sk = pytest.importorskip("sklearn.metrics")
calibration_curve = pytest.importorskip("sklearn.calibration").calibration_curve

SEEDS = (0, 1, 2, 3, 4)


def random_case(seed: int, n: int = 200, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Labels with a class imbalance and overlapping scores; ``ties`` rounds scores so many coincide."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.35 + 0.05 * seed).astype(int)
    scores = 1.0 / (1.0 + np.exp(-(rng.normal(size=n) + 1.2 * labels)))
    if ties:
        scores = np.round(scores, 1)
    return labels, scores


@pytest.fixture(
    params=[(seed, ties) for seed in SEEDS for ties in (False, True)], ids=lambda p: f"seed{p[0]}-ties{p[1]}"
)
def case(request) -> tuple[np.ndarray, np.ndarray]:
    seed, ties = request.param
    return random_case(seed, ties=ties)


# -- against scikit-learn on random data --------------------------------------------------------


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_threshold_metrics_match_sklearn(case, threshold):
    labels, scores = case
    predicted = (scores >= threshold).astype(int)
    nan = float("nan")
    assert metrics.accuracy(labels, predicted) == pytest.approx(sk.accuracy_score(labels, predicted))
    assert metrics.precision(labels, predicted) == pytest.approx(
        sk.precision_score(labels, predicted, zero_division=nan), nan_ok=True
    )
    assert metrics.recall(labels, predicted) == pytest.approx(sk.recall_score(labels, predicted))
    assert metrics.specificity(labels, predicted) == pytest.approx(sk.recall_score(labels, predicted, pos_label=0))
    assert metrics.f1(labels, predicted) == pytest.approx(
        sk.f1_score(labels, predicted, zero_division=nan), nan_ok=True
    )
    assert metrics.cohen_kappa(labels, predicted) == pytest.approx(sk.cohen_kappa_score(labels, predicted))
    np.testing.assert_array_equal(
        metrics.confusion_matrix(labels, predicted), sk.confusion_matrix(labels, predicted, labels=[0, 1])
    )


def test_ranking_metrics_match_sklearn(case):
    labels, scores = case
    assert metrics.roc_auc(labels, scores) == pytest.approx(sk.roc_auc_score(labels, scores))
    assert metrics.average_precision(labels, scores) == pytest.approx(sk.average_precision_score(labels, scores))


@pytest.mark.parametrize("drop_intermediate", [True, False])
def test_roc_curve_matches_sklearn(case, drop_intermediate):
    labels, scores = case
    ours = metrics.roc_curve(labels, scores, drop_intermediate=drop_intermediate)
    theirs = sk.roc_curve(labels, scores, drop_intermediate=drop_intermediate)
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine, reference)


def test_precision_recall_curve_matches_sklearn(case):
    labels, scores = case
    ours = metrics.precision_recall_curve(labels, scores)
    for mine, reference in zip(ours, sk.precision_recall_curve(labels, scores), strict=True):
        np.testing.assert_allclose(mine, reference)


def test_ece_matches_calibration_curve_bins(case):
    labels, scores = case
    n_bins = 10
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=n_bins, strategy="uniform")
    # Bin counts by an explicit loop over the same right-closed bins (first bin closed).
    edges = np.linspace(0, 1, n_bins + 1)
    counts = [sum(1 for s in scores if lo < s <= hi or (lo == 0.0 and s == 0.0)) for lo, hi in pairwise(edges)]
    counts = np.array([c for c in counts if c])
    expected = float(np.sum(counts / len(scores) * np.abs(prob_true - prob_pred)))
    assert metrics.expected_calibration_error(labels, scores, n_bins=n_bins) == pytest.approx(expected)


def brute_force_rates(labels: np.ndarray, scores: np.ndarray) -> list[tuple[float, float, float]]:
    """(threshold, fpr, tpr) for every threshold that changes a decision, by direct counting."""
    rows = []
    for threshold in np.r_[np.inf, np.unique(scores)]:
        flagged = scores >= threshold
        rows.append((threshold, flagged[labels == 0].mean(), flagged[labels == 1].mean()))
    return rows


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.1, 0.3, 1.0])
def test_tpr_at_fpr_matches_brute_force(case, target):
    labels, scores = case
    expected = max(tpr for _, fpr, tpr in brute_force_rates(labels, scores) if fpr <= target + 1e-12)
    assert metrics.tpr_at_fpr(labels, scores, target) == pytest.approx(expected)


def test_equal_error_rate_matches_interpolated_roc_crossing(case):
    from scipy.optimize import brentq

    labels, scores = case
    fpr, tpr, _ = sk.roc_curve(labels, scores, drop_intermediate=False)

    def fnr_minus_fpr(x: float) -> float:
        # Largest tpr reached at false-positive rate x, linearly between ROC points.
        return 1.0 - float(np.interp(x, fpr, tpr, left=0.0)) - x

    expected = brentq(fnr_minus_fpr, 0.0, 1.0, xtol=1e-12)
    eer, threshold = metrics.equal_error_rate(labels, scores)
    assert eer == pytest.approx(expected, abs=1e-6)
    # The returned threshold is the operating point where FPR and FNR are closest, by direct counting.
    gaps = {t: abs((1.0 - tpr) - fpr) for t, fpr, tpr in brute_force_rates(labels, scores) if np.isfinite(t)}
    assert threshold in gaps
    assert gaps[threshold] == pytest.approx(min(gaps.values()))


# -- hand-computed cases ------------------------------------------------------------------------


def test_hand_computed_small_case():
    labels = [0, 0, 1, 1]
    scores = [0.1, 0.6, 0.4, 0.9]
    # At 0.5: predicted [0, 1, 0, 1] -> tn=1 fp=1 fn=1 tp=1.
    report = metrics.binary_report(labels, scores, threshold=0.5)
    assert report["confusion_matrix"] == [[1, 1], [1, 1]]
    assert report["accuracy"] == 0.5
    assert report["precision"] == 0.5 and report["recall"] == 0.5 and report["specificity"] == 0.5
    assert report["f1"] == 0.5
    assert report["cohen_kappa"] == 0.0
    # Pairs (ai, real): (0.4>0.1) (0.4<0.6) (0.9>0.1) (0.9>0.6) -> 3 of 4.
    assert report["roc_auc"] == 0.75
    # Ranked: 0.9(ai) 0.6(real) 0.4(ai) 0.1(real): AP = 0.5*1 + 0.5*(2/3).
    assert report["average_precision"] == pytest.approx(0.5 + 1 / 3)
    # ROC points (fpr, fnr): thresholds 0.9 -> (0, .5), 0.6 -> (.5, .5): crossing at 0.5, threshold 0.6.
    assert (report["eer"], report["eer_threshold"]) == (0.5, 0.6)
    assert (report["n"], report["n_real"], report["n_ai"]) == (4, 2, 2)


def test_ties_count_half_in_auc():
    # One AI and one real image with the same score, one pair that ranks correctly.
    assert metrics.roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx((1 + 1 + 0.5 + 1) / 4)


def test_ece_hand_computed():
    # Two bins: [0, 0.5] holds scores 0.2, 0.2 with labels 0, 1; (0.5, 1] holds 0.9 with label 1.
    expected = (2 / 3) * abs(0.5 - 0.2) + (1 / 3) * abs(1.0 - 0.9)
    assert metrics.expected_calibration_error([0, 1, 1], [0.2, 0.2, 0.9], n_bins=2) == pytest.approx(expected)


def test_ece_bins_are_right_closed():
    # 0.5 sits on the edge of two bins: it belongs to the lower one, [0, 0.5], as in calibration_curve.
    # Apart: |1 - 0.5| + |0 - 0.9| = 1.4 over 2 images; pooled it would be |1 - 1.4| / 2 = 0.2.
    assert metrics.expected_calibration_error([1, 0], [0.5, 0.9], n_bins=2) == pytest.approx(0.7)


def test_perfect_calibration_has_zero_ece():
    assert metrics.expected_calibration_error([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], n_bins=4) == 0.0


def test_per_group_thresholds_per_image():
    labels = [0, 1]
    scores = [0.4, 0.4]
    # Per-image thresholds: the real image is judged at 0.5 (kept), the AI image at 0.3 (caught).
    report = metrics.binary_report(labels, scores, threshold=np.array([0.5, 0.3]))
    assert report["accuracy"] == 1.0
    assert math.isnan(report["threshold"])


# -- degenerate inputs -----------------------------------------------------------------------


@pytest.mark.parametrize("label", [0, 1])
def test_single_class_gives_nan_without_warnings(label):
    labels = [label] * 5
    scores = [0.1, 0.2, 0.3, 0.8, 0.9]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = metrics.binary_report(labels, scores)
        curve = metrics.roc_curve(labels, scores)
    for key in ("roc_auc", "eer", "eer_threshold", "tpr_at_fpr_0.01"):
        assert math.isnan(report[key]), key
    undefined = "recall" if label == 0 else "specificity"
    assert math.isnan(report[undefined])
    assert not math.isnan(report["accuracy"])
    assert np.isnan(curve[1 if label == 0 else 0]).all()
    if label == 0:
        assert math.isnan(report["average_precision"])


def test_all_same_prediction_and_class_gives_nan_kappa_and_precision():
    assert math.isnan(metrics.cohen_kappa([0, 0], [0, 0]))
    assert math.isnan(metrics.precision([0, 1], [0, 0]))
    assert math.isnan(metrics.f1([0, 0], [0, 0]))
    assert metrics.f1([1, 0], [0, 0]) == 0.0


def test_empty_input_gives_nan():
    report = metrics.binary_report([], [])
    assert report["n"] == 0
    assert math.isnan(report["accuracy"]) and math.isnan(report["roc_auc"]) and math.isnan(report["ece"])


def test_bad_inputs_raise():
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError):
        metrics.roc_auc([0, 1], [0.1])
    with pytest.raises(ValueError):
        metrics.expected_calibration_error([0, 1], [-1.0, 2.0])
    with pytest.raises(ValueError):
        metrics.tpr_at_fpr([0, 1], [0.1, 0.2], 1.5)


def test_raw_scores_outside_unit_range_give_nan_ece_only():
    report = metrics.binary_report([0, 1, 0, 1], [-2.0, 3.0, -1.0, 0.5], threshold=0.0)
    assert math.isnan(report["ece"])
    assert report["roc_auc"] == 1.0


# -- per-group report --------------------------------------------------------------------------


def test_per_group_report_matches_direct_computation():
    labels, scores = random_case(7, n=300)
    rng = np.random.default_rng(7)
    groups = np.where(labels == 0, "real", rng.choice(["sd", "mj", "dalle"], size=labels.size))
    table = metrics.per_group_report(labels, scores, groups.tolist(), threshold=0.5)
    assert set(table) == {"real", "sd", "mj", "dalle"}
    reals = labels == 0
    for name in ("sd", "mj", "dalle"):
        member = groups == name
        assert table[name]["n"] == member.sum()
        assert table[name]["recall"] == pytest.approx((scores[member] >= 0.5).mean())
        assert table[name]["accuracy"] == pytest.approx(table[name]["recall"])
        assert math.isnan(table[name]["specificity"])
        both = member | reals
        assert table[name]["auc"] == pytest.approx(sk.roc_auc_score(labels[both], scores[both]))
    assert table["real"]["specificity"] == pytest.approx((scores[reals] < 0.5).mean())
    assert math.isnan(table["real"]["recall"]) and math.isnan(table["real"]["auc"])


def test_import_does_not_pull_heavy_dependencies():
    code = (
        "import sys, aidetect.metrics, aidetect.calibration, aidetect.evaluation; "
        "bad = [m for m in ('sklearn', 'torch', 'cv2', 'matplotlib') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reliability_curve_of_calibrated_scores_follows_the_diagonal():
    from aidetect.metrics import reliability_curve

    rng = np.random.default_rng(7)
    scores = rng.random(20_000)
    labels = (rng.random(20_000) < scores).astype(int)  # P(AI | score) = score: calibrated by construction
    mean_score, ai_share, counts = reliability_curve(labels, scores, n_bins=10)
    assert counts.sum() == 20_000 and len(counts) == 10
    assert np.abs(ai_share - mean_score).max() < 0.03
    overconfident = np.clip((scores - 0.5) * 3 + 0.5, 0, 1)
    _, share, _ = reliability_curve(labels, overconfident, n_bins=10)
    assert share[0] > 0.1 and share[-1] < 0.9  # extreme bins hold far fewer/more AI images than they claim
