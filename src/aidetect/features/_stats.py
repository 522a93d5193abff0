"""Small numeric helpers shared by the feature extractors (OpenCV imported only inside `luma`).

Every helper returns finite numbers for degenerate inputs (flat images, tiny
images), because a single NaN in a feature vector breaks the SVM downstream.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-6


def tame(values: np.ndarray | float) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: keeps heavy-tailed statistics (kurtosis, ratios) on a usable scale."""
    values = np.asarray(values, dtype=np.float64)
    result: np.ndarray = np.sign(values) * np.log1p(np.abs(values))
    return result


def moments_from_histogram(counts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Mean, standard deviation, skewness and excess kurtosis of a histogrammed variable.

    ``counts`` is ``(..., K)`` and ``values`` the ``K`` bin values; working on
    histograms of integer images is much cheaper than on the pixels.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = np.maximum(counts.sum(axis=-1, keepdims=True), 1.0)
    prob = counts / total
    mean = (prob * values).sum(axis=-1, keepdims=True)
    centred = values - mean
    var = (prob * centred**2).sum(axis=-1)
    std = np.sqrt(var)
    safe = np.where(std > EPS, std, 1.0)
    skew = np.where(std > EPS, (prob * centred**3).sum(axis=-1) / safe**3, 0.0)
    kurt = np.where(std > EPS, (prob * centred**4).sum(axis=-1) / safe**4 - 3.0, 0.0)
    return np.stack([mean[..., 0], std, skew, kurt], axis=-1)


def log_ratio(numerator: float, denominator: float) -> float:
    """``log((a + eps) / (b + eps))``: a scale-free comparison of two energies."""
    return float(np.log((numerator + EPS) / (denominator + EPS)))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two equally long vectors; 0 when either is constant."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size < 2:
        return 0.0
    a = a - a.mean()
    b = b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > EPS else 0.0


def luma(image: np.ndarray) -> np.ndarray:
    """Float32 luminance (BT.601 weights) of an ``HxWx3`` RGB array of any numeric type, without rounding."""
    import cv2

    return cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)

