"""Forensic features of inference tiles: what the SVM sees for each crop."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def features_of(crops: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, len(FEATURE_NAMES))`` float32 matrix of `aidetect.features.forensic_features` rows."""
    from aidetect.features import FEATURE_NAMES, forensic_features

    if not crops:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    rows: np.ndarray = np.stack([forensic_features(crop) for crop in crops])
    return rows
