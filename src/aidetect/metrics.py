"""Binary-classification metrics for AI-image detection, in plain numpy.

Conventions: labels are integers, ``1`` = AI-generated and ``0`` = real;
scores are the probability that an image is AI-generated (any monotone score
works for the ranking metrics); an image is predicted AI when
``score >= threshold``, the same rule as `aidetect.detector.DecisionRule`.

Every metric returns ``nan`` instead of raising or warning when it is
undefined for the data given (for example recall without any AI image, or
AUC with a single class), so reports on small or one-sided test sets never
crash. Ranking metrics follow scikit-learn's definitions exactly (ties in
AUC count one half, average precision is the step-wise sum over the
precision-recall curve), so numbers can be compared with published results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

ArrayLike = Sequence[float] | Sequence[int] | np.ndarray
"""Anything `numpy.asarray` turns into a 1-D array."""

NAN = float("nan")
REPORT_FPRS = (0.01, 0.05)
"""False-positive rates at which `binary_report` gives the true-positive rate."""

__all__ = [
    "accuracy",
    "average_precision",
    "binary_report",
    "cohen_kappa",
    "confusion_matrix",
    "equal_error_rate",
    "expected_calibration_error",
    "f1",
    "per_group_report",
    "precision",
    "precision_recall_curve",
    "predict_labels",
    "recall",
    "reliability_curve",
    "roc_auc",
    "roc_curve",
    "specificity",
    "tpr_at_fpr",
]


# -- input checking -------------------------------------------------------------------


def _as_labels(y: ArrayLike, name: str = "y_true") -> np.ndarray:
    labels = np.asarray(y).ravel()
    if labels.dtype == bool:
        return labels.astype(np.int64)
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{name} must hold only 0 (real) and 1 (AI), got values {np.unique(labels)[:5]}")
    return labels.astype(np.int64)


def _as_scores(scores: ArrayLike, n: int) -> np.ndarray:
    values = np.asarray(scores, dtype=np.float64).ravel()
    if values.shape[0] != n:
        raise ValueError(f"got {values.shape[0]} scores for {n} labels")
    if np.isnan(values).any():
        raise ValueError("scores contain NaN")
    return values


def _pair(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    labels = _as_labels(y_true)
    return labels, _as_scores(scores, labels.shape[0])


def _ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``, or nan when the denominator is zero (the metric is undefined)."""
    return float(numerator) / float(denominator) if denominator else NAN


def _has_both_classes(labels: np.ndarray) -> bool:
    return bool(labels.size) and 0 < labels.sum() < labels.size


# -- threshold metrics ------------------------------------------------------------------


def predict_labels(scores: ArrayLike, threshold: float | ArrayLike = 0.5) -> np.ndarray:
    """``1`` where ``score >= threshold`` else ``0``; ``threshold`` may be one per score."""
    return (np.asarray(scores, dtype=np.float64).ravel() >= np.asarray(threshold, dtype=np.float64)).astype(np.int64)


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike) -> np.ndarray:
    """2x2 counts: rows are the true class ``[real, ai]``, columns the predicted class.

    So ``[[tn, fp], [fn, tp]]`` with AI as the positive class.
    """
    labels = _as_labels(y_true)
    predicted = _as_labels(y_pred, "y_pred")
    if predicted.shape != labels.shape:
        raise ValueError(f"got {predicted.shape[0]} predictions for {labels.shape[0]} labels")
    return np.bincount(2 * labels + predicted, minlength=4).reshape(2, 2)


def _counts(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[int, int, int, int]:
    (tn, fp), (fn, tp) = confusion_matrix(y_true, y_pred).tolist()
    return tn, fp, fn, tp


def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of images whose predicted class is right."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(tn + tp, tn + fp + fn + tp)


def precision(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of images flagged AI that are AI; nan when nothing is flagged."""
    _, fp, _, tp = _counts(y_true, y_pred)
    return _ratio(tp, tp + fp)


def recall(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of AI images flagged AI (true-positive rate); nan without AI images."""
    _, _, fn, tp = _counts(y_true, y_pred)
    return _ratio(tp, tp + fn)


def specificity(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Share of real images kept as real (1 - false-positive rate); nan without real images."""
    tn, fp, _, _ = _counts(y_true, y_pred)
    return _ratio(tn, tn + fp)


def f1(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Harmonic mean of precision and recall, ``2tp / (2tp + fp + fn)``; nan when all three are zero."""
    _, fp, fn, tp = _counts(y_true, y_pred)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def cohen_kappa(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Agreement beyond chance, ``(p_o - p_e) / (1 - p_e)``; nan when chance agreement is certain."""
    tn, fp, fn, tp = _counts(y_true, y_pred)
    n = tn + fp + fn + tp
    if not n:
        return NAN
    observed = (tn + tp) / n
    # Chance agreement: both say AI, or both say real, independently at their own rates.
    expected = ((tp + fn) * (tp + fp) + (tn + fp) * (tn + fn)) / (n * n)
    return _ratio(observed - expected, 1.0 - expected)


# -- ranking metrics -----------------------------------------------------------------------


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing the mean of the ranks they span."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)
    return (last_rank - (counts - 1) / 2.0)[inverse]


def roc_auc(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Area under the ROC curve: P(an AI image outscores a real one), ties counting one half."""
    labels, values = _pair(y_true, scores)
    if not _has_both_classes(labels):
        return NAN
    n_ai = int(labels.sum())
    n_real = labels.size - n_ai
    # Mann-Whitney U from the rank sum of the positives; equals the trapezoidal area of the ROC curve.
    rank_sum = _average_ranks(values)[labels == 1].sum()
    return float((rank_sum - n_ai * (n_ai + 1) / 2.0) / (n_ai * n_real))


def _cumulative_counts(labels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positives at each distinct score taken as threshold, highest threshold first."""
    order = np.argsort(-values, kind="mergesort")
    sorted_values, sorted_labels = values[order], labels[order]
    # The last index of each run of equal scores: thresholds fall between distinct values only.
    run_ends = np.r_[np.flatnonzero(np.diff(sorted_values)), sorted_values.size - 1]
    tps = np.cumsum(sorted_labels)[run_ends].astype(np.float64)
    fps = (run_ends + 1) - tps
    return fps, tps, sorted_values[run_ends]


def roc_curve(
    y_true: ArrayLike, scores: ArrayLike, *, drop_intermediate: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(fpr, tpr, thresholds)`` as scikit-learn gives them.

    The curve starts at ``(0, 0)`` with threshold ``inf``; thresholds decrease.
    ``drop_intermediate`` drops points collinear with their neighbours. A rate
    whose class is absent is all nan.
    """
    labels, values = _pair(y_true, scores)
    if not labels.size:
        return np.zeros(1), np.zeros(1), np.array([np.inf])
    fps, tps, thresholds = _cumulative_counts(labels, values)
    if drop_intermediate and fps.size > 2:
        corners = np.flatnonzero(np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True])
        fps, tps, thresholds = fps[corners], tps[corners], thresholds[corners]
    fps, tps = np.r_[0.0, fps], np.r_[0.0, tps]
    fpr = fps / fps[-1] if fps[-1] > 0 else np.full(fps.shape, np.nan)
    tpr = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return fpr, tpr, np.r_[np.inf, thresholds]


def precision_recall_curve(y_true: ArrayLike, scores: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(precision, recall, thresholds)`` as scikit-learn gives them.

    Thresholds increase; the arrays end with the point ``precision=1, recall=0``
    that has no threshold. Without AI images recall is nan (scikit-learn sets it to 1).
    """
    labels, values = _pair(y_true, scores)
    if not labels.size:
        return np.ones(1), np.zeros(1), np.zeros(0)
    fps, tps, thresholds = _cumulative_counts(labels, values)
    precision_values = tps / (tps + fps)  # tps + fps >= 1 at every distinct threshold
    recall_values = tps / tps[-1] if tps[-1] > 0 else np.full(tps.shape, np.nan)
    return np.r_[precision_values[::-1], 1.0], np.r_[recall_values[::-1], 0.0], thresholds[::-1]


def average_precision(y_true: ArrayLike, scores: ArrayLike) -> float:
    """Step-wise area under the precision-recall curve, ``sum (R_n - R_{n-1}) P_n`` (no interpolation)."""
    labels, values = _pair(y_true, scores)
    if not labels.size or not labels.sum():
        return NAN
    precision_values, recall_values, _ = precision_recall_curve(labels, values)
    return float(max(0.0, -np.sum(np.diff(recall_values) * precision_values[:-1])))


def equal_error_rate(y_true: ArrayLike, scores: ArrayLike) -> tuple[float, float]:
    """``(eer, threshold)``: the rate where false positives equal false negatives.

    The EER is read where the ROC curve, drawn with straight segments between
    its points, crosses ``fpr = 1 - tpr``. The threshold is that of the ROC
    point nearest the crossing (never the artificial ``inf`` start). Both are
    nan with a single class.
    """
    labels, values = _pair(y_true, scores)
    if not _has_both_classes(labels):
        return NAN, NAN
    fpr, tpr, thresholds = roc_curve(labels, values, drop_intermediate=False)
    gap = (1.0 - tpr) - fpr  # decreases from 1 at (0, 0) to -1 at (1, 1)
    after = int(np.argmax(gap <= 0))
    before = after - 1
    share = gap[before] / (gap[before] - gap[after])
    eer = fpr[before] + share * (fpr[after] - fpr[before])
    nearest = after if before == 0 or abs(gap[after]) <= abs(gap[before]) else before
    return float(eer), float(thresholds[nearest])


def tpr_at_fpr(y_true: ArrayLike, scores: ArrayLike, fpr: float) -> float:
    """The highest true-positive rate of any threshold whose false-positive rate is at most ``fpr``.

    No interpolation between ROC points: the value is what an actual threshold achieves.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    labels, values = _pair(y_true, scores)
    if not _has_both_classes(labels):
        return NAN
    fprs, tprs, _ = roc_curve(labels, values, drop_intermediate=False)
    # A tiny tolerance keeps e.g. 1/100 from missing fpr=0.01 through float rounding.
    return float(tprs[fprs <= fpr + 1e-12].max())


def reliability_curve(
    y_true: ArrayLike, scores: ArrayLike, n_bins: int = 15
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per non-empty bin of predicted P(AI): mean score, observed AI share, and image count.

    ``n_bins`` equal-width bins on ``[0, 1]``, right-closed (the first one
    closed), as ``sklearn.calibration.calibration_curve`` bins. A calibrated
    detector's points lie on the diagonal. Scores must be probabilities.
    """
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    labels, values = _pair(y_true, scores)
    if labels.size and (values.min() < 0.0 or values.max() > 1.0):
        raise ValueError("calibration measures need probabilities in [0, 1]")
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.searchsorted(edges[1:-1], values, side="left")
    counts = np.bincount(bins, minlength=n_bins)
    filled = counts > 0
    mean_score = np.bincount(bins, weights=values, minlength=n_bins)[filled] / counts[filled]
    ai_share = np.bincount(bins, weights=labels, minlength=n_bins)[filled] / counts[filled]
    return mean_score, ai_share, counts[filled]


def expected_calibration_error(y_true: ArrayLike, scores: ArrayLike, n_bins: int = 15) -> float:
    """Mean gap between predicted P(AI) and the observed AI share, over the bins of `reliability_curve`.

    ``sum_b (n_b / n) |mean(y in b) - mean(score in b)|``. Scores must be probabilities.
    """
    mean_score, ai_share, counts = reliability_curve(y_true, scores, n_bins)
    if not counts.size:
        return NAN
    return float((counts * np.abs(ai_share - mean_score)).sum() / counts.sum())


# -- reports ------------------------------------------------------------------------------


def _report_threshold(thresholds: np.ndarray) -> float:
    """The threshold to print: the common one, or nan if they differ per image."""
    if not thresholds.size:
        return NAN
    return float(thresholds[0]) if np.all(thresholds == thresholds[0]) else NAN


def binary_report(y_true: ArrayLike, scores: ArrayLike, threshold: float | ArrayLike = 0.5) -> dict[str, Any]:
    """Every metric of this module at once, as a flat dict of plain Python numbers.

    ``threshold`` may be a scalar or one value per image (for example each
    `Prediction`'s own). Keys: ``n, n_real, n_ai, threshold, accuracy,
    precision, recall, specificity, f1, cohen_kappa, roc_auc,
    average_precision, eer, eer_threshold, ece, tpr_at_fpr_0.01,
    tpr_at_fpr_0.05, confusion_matrix`` (nested lists ``[[tn, fp], [fn, tp]]``).
    """
    labels, values = _pair(y_true, scores)
    thresholds = np.broadcast_to(np.asarray(threshold, dtype=np.float64), values.shape)
    predicted = predict_labels(values, thresholds)
    eer, eer_threshold = equal_error_rate(labels, values)
    in_unit_range = not values.size or (values.min() >= 0.0 and values.max() <= 1.0)
    report: dict[str, Any] = {
        "n": int(labels.size),
        "n_real": int((labels == 0).sum()),
        "n_ai": int((labels == 1).sum()),
        "threshold": _report_threshold(thresholds),
        "accuracy": accuracy(labels, predicted),
        "precision": precision(labels, predicted),
        "recall": recall(labels, predicted),
        "specificity": specificity(labels, predicted),
        "f1": f1(labels, predicted),
        "cohen_kappa": cohen_kappa(labels, predicted),
        "roc_auc": roc_auc(labels, values),
        "average_precision": average_precision(labels, values),
        "eer": eer,
        "eer_threshold": eer_threshold,
        # ECE only means something for probabilities; raw margins get nan rather than an error.
        "ece": expected_calibration_error(labels, values) if in_unit_range else NAN,
    }
    for fpr in REPORT_FPRS:
        report[f"tpr_at_fpr_{fpr:g}"] = tpr_at_fpr(labels, values, fpr)
    report["confusion_matrix"] = confusion_matrix(labels, predicted).tolist()
    return report


def per_group_report(
    y_true: ArrayLike,
    scores: ArrayLike,
    groups: Sequence[str],
    threshold: float | ArrayLike = 0.5,
) -> dict[str, dict[str, float]]:
    """Metrics per group (typically the generator, with ``"real"`` for real images).

    For each group: ``n``, ``n_ai``, ``n_real``, ``mean_score``, ``accuracy``
    on its images, ``recall`` (share of its AI images caught; nan for the real
    group), ``specificity`` (share of its real images kept; nan for a generator)
    and ``auc`` of the group's images against all real images of the data,
    nan when that leaves a single class (as for the real group itself).
    """
    labels, values = _pair(y_true, scores)
    names = np.asarray([str(g) for g in groups], dtype=object)
    if names.shape[0] != labels.shape[0]:
        raise ValueError(f"got {names.shape[0]} groups for {labels.shape[0]} labels")
    predicted = predict_labels(values, np.broadcast_to(np.asarray(threshold, dtype=np.float64), values.shape))
    is_real = labels == 0
    table: dict[str, dict[str, float]] = {}
    for name in sorted(set(names.tolist())):
        member = names == name
        versus_reals = member | is_real
        table[name] = {
            "n": int(member.sum()),
            "n_ai": int(labels[member].sum()),
            "n_real": int(is_real[member].sum()),
            "mean_score": float(values[member].mean()),
            "accuracy": accuracy(labels[member], predicted[member]),
            "recall": recall(labels[member], predicted[member]),
            "specificity": specificity(labels[member], predicted[member]),
            "auc": roc_auc(labels[versus_reals], values[versus_reals]),
        }
    return table
