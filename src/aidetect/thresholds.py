"""Thresholds that hold across sources: each source counts equally, and a leave-one-source-out check.

A threshold chosen on pooled real photos is set by the biggest, easiest
source; users meet photos from sources it never saw. These functions weigh
every source (camera, website, archive) equally and say what a threshold
chosen on the other sources does to each one.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def _as_scores(values: Iterable[float]) -> np.ndarray:
    scores = np.asarray(list(values) if not isinstance(values, np.ndarray) else values, dtype=np.float64).ravel()
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite numbers")
    return scores

__all__ = ["leave_one_source_out", "threshold_for_source_fpr"]


def threshold_for_source_fpr(scores_real: Iterable[float], sources: Iterable[str], fpr: float) -> float:
    """The smallest threshold at which the *mean over sources* of their false-positive rates is at most ``fpr``.

    Each source (camera, website, archive) counts equally, however many images
    it holds, so a threshold is not set by the one big, easy source while the
    small hard ones (press photos, portraits) are accused. Ties behave as in
    `threshold_for_fpr`: the rate reached is never above ``fpr``.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    scores = _as_scores(scores_real)
    names = np.asarray(list(sources), dtype=object)
    if names.shape != scores.shape or not scores.size:
        raise ValueError("threshold_for_source_fpr needs one source per real score, and at least one score")
    unique, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    weights = 1.0 / (counts[inverse] * len(unique))
    order = np.argsort(-scores, kind="stable")
    scores, weights = scores[order], weights[order]
    allowed = int(np.searchsorted(np.cumsum(weights), fpr + 1e-12, side="right"))
    if allowed >= scores.size:
        return float(scores[-1])
    return float(np.nextafter(scores[allowed], np.inf))


def leave_one_source_out(
    scores_real: Iterable[float], sources: Iterable[str], fpr: float
) -> dict[str, dict[str, float]]:
    """For each source: the threshold chosen on all *other* sources, and the false-positive rate it gives here.

    This is what a user with photos from a source the threshold never saw
    will meet; the spread of ``fpr`` across sources is the honest error bar
    of a default threshold.
    """
    scores = _as_scores(scores_real)
    names = np.asarray(list(sources), dtype=object)
    report: dict[str, dict[str, float]] = {}
    for source in sorted(set(names.tolist())):
        inside = names == source
        if inside.all():
            raise ValueError("leave_one_source_out needs at least two sources")
        threshold = threshold_for_source_fpr(scores[~inside], names[~inside], fpr)
        report[source] = {"threshold": threshold, "fpr": float((scores[inside] >= threshold).mean()),
                          "n": int(inside.sum())}
    return report
