"""The sliding-window heat map: the detector's calibrated score of every crop on a dense grid.

Works for any detector: each window (the detector's input size, so it is
judged exactly as one of its prediction crops is) goes through the public
``predict_batch``, so plugins, ensembles and detectors without raw scores
are explained the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from aidetect.explain.explanation import Cell
from aidetect.explain.grid import grid


def default_stride(size: int) -> int:
    """Half the window: each pixel is judged in up to 4 overlapping windows.

    A finer stride smooths the map but adds little information (every window
    is as large as the detector's input) and costs quadratically more.
    """
    return max(1, size // 2)


def window_cells(detector: Any, image: np.ndarray, size: int, stride: int, batch_size: int) -> list[Cell]:
    """One cell per ``size`` window every ``stride`` pixels of ``image`` (short side >= ``size``)."""
    starts = grid(image.shape[:2], size, stride)
    crops = [image[top : top + size, left : left + size] for top, left in starts]
    scores = crop_scores(detector, crops, batch_size)
    return [Cell(top, left, size, float(score)) for (top, left), score in zip(starts, scores, strict=True)]


def crop_scores(detector: Any, crops: list[np.ndarray], batch_size: int) -> np.ndarray:
    """The detector's calibrated score of each crop, judged as a whole image of the input size."""
    return np.array([prediction.score for prediction in detector.predict_batch(crops, batch_size=batch_size)])
