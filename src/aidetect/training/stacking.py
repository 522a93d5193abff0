"""Fitting the ``stacked`` ensemble: member choice, weights, calibration, cascade bands.

All of it works on a matrix of member raw scores, ``(n_images, n_members)``,
computed once on validation data (seen sources' val split plus the held-out
sources' train/val images), so refitting after a member is retrained is a
matter of seconds (``benchmarks/fit_ensemble.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from aidetect.metrics import roc_auc
from aidetect.stacking import StackedModel, in_band
from aidetect.training.clip_head import calibrate

MIN_GAIN = 0.002
"""A larger member set must beat a smaller one by this much cross-validated ROC-AUC to be preferred."""


def fit_weights(member_raw: np.ndarray, labels: np.ndarray, *, C: float = 1.0
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """``(mean, std, coef, intercept)``: a class-balanced logistic regression on z-scored member scores."""
    from sklearn.linear_model import LogisticRegression

    raw = np.asarray(member_raw, dtype=np.float64)
    mean, std = raw.mean(axis=0), raw.std(axis=0) + 1e-9
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=1000)
    model.fit((raw - mean) / std, labels)
    return mean, std, model.coef_[0].copy(), float(model.intercept_[0])


def cross_validated_auc(member_raw: np.ndarray, labels: np.ndarray, groups: Sequence[str], *, folds: int = 5,
                        seed: int = 0) -> float:
    """ROC-AUC of out-of-fold stacked logits; folds split by source, so a source is never both fitted and scored."""
    names = np.asarray(list(groups), dtype=object)
    unique = np.array(sorted(set(names.tolist())), dtype=object)
    np.random.default_rng(seed).shuffle(unique)
    fold_of = {name: i % folds for i, name in enumerate(unique)}
    fold = np.array([fold_of[n] for n in names])
    out = np.zeros(len(labels))
    for k in range(folds):
        test = fold == k
        if not test.any() or len(set(labels[~test].tolist())) < 2:
            continue
        mean, std, coef, intercept = fit_weights(member_raw[~test], labels[~test])
        out[test] = (member_raw[test] - mean) / std @ coef + intercept
    return roc_auc(labels, out)


def select_members(member_raw: np.ndarray, labels: np.ndarray, names: Sequence[str], groups: Sequence[str],
                   *, required: Sequence[str] = ()) -> tuple[list[str], list[dict[str, Any]]]:
    """The member subset with the best source-grouped cross-validated AUC (smaller sets win near-ties)."""
    table: list[dict[str, Any]] = []
    for size in range(1, len(names) + 1):
        for subset in itertools.combinations(range(len(names)), size):
            chosen = [names[i] for i in subset]
            if not set(required) <= set(chosen):
                continue
            auc = cross_validated_auc(member_raw[:, list(subset)], labels, groups)
            table.append({"members": chosen, "cv_auc": auc})
    best = max(table, key=lambda row: row["cv_auc"])
    smallest = min((row for row in table if row["cv_auc"] >= best["cv_auc"] - MIN_GAIN),
                   key=lambda row: (len(row["members"]), -row["cv_auc"]))
    return smallest["members"], table


def fit_stacked(member_raw: np.ndarray, labels: np.ndarray, names: Sequence[str], *,
                calibration_rows: np.ndarray, sources: Sequence[str], method: str = "platt",
                info: dict[str, Any] | None = None) -> StackedModel:
    """Weights on every row; calibration and the default threshold on ``calibration_rows`` (held-out sources)."""
    mean, std, coef, intercept = fit_weights(member_raw, labels)
    logits = (member_raw - mean) / std @ coef + intercept
    rows = np.asarray(calibration_rows)
    calibrator, threshold, fprs = calibrate(logits[rows], labels[rows],
                                            [sources[int(i)] for i in np.flatnonzero(rows)], method)
    return StackedModel(tuple(names), mean, std, coef, intercept, calibrator.to_dict(), threshold, fprs,
                        info=dict(info or {}))


def cascade_scores(cheap_probability: np.ndarray, stacked_probability: np.ndarray,
                   band: tuple[float, float]) -> np.ndarray:
    return np.where(in_band(cheap_probability, band), stacked_probability, cheap_probability)


def choose_bands(cheap_probability: np.ndarray, stacked_probability: np.ndarray, labels: np.ndarray,
                 losses: dict[str, float]) -> dict[str, dict[str, Any]]:
    """For each named allowed AUC loss, the band consulting the fewest images that stays within it.

    Bands run between quantiles of the cheap member's scores (steps of 2.5%).
    """
    full = roc_auc(labels, stacked_probability)
    edges = np.unique(np.quantile(cheap_probability, np.linspace(0, 1, 41)))
    edges[-1] = np.nextafter(edges[-1], np.inf)  # the top quantile included
    candidates = []
    for low, high in itertools.combinations(edges, 2):
        share = float(in_band(cheap_probability, (low, high)).mean())
        auc = roc_auc(labels, cascade_scores(cheap_probability, stacked_probability, (low, high)))
        candidates.append((share, auc, (float(low), float(high))))
    bands = {}
    for name, loss in losses.items():
        fitting = [c for c in candidates if c[1] >= full - loss] or [max(candidates, key=lambda c: c[1])]
        share, auc, band = min(fitting, key=lambda c: (c[0], -c[1]))
        bands[name] = {"band": list(band), "allowed_auc_loss": loss, "val_share_consulted": share, "val_auc": auc,
                       "val_auc_full_stack": full}
    return bands
