"""``example-saturation``: scores an image by how saturated its colours are.

A toy heuristic, not a good detector: many generators favour vivid colours,
but so do sunsets and phone cameras. It is here to show the whole shape of a
real detector in a few lines: subclass `aidetect.BaseDetector`, say how
images are cut into crops (`crop_policy`), and return one raw score per crop
(`raw_scores`); loading, tiling, calibration (a logistic by default), the
threshold, ``target_fpr`` and the uncertain band all come from the base class.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np

from aidetect import BaseDetector, CropPolicy, DecisionRule


def mean_saturation(crop: np.ndarray) -> float:
    """Mean HSV saturation, ``(max - min) / max`` per pixel, in ``[0, 1]``; black pixels count as 0."""
    pixels = crop.astype(np.float32)
    high, low = pixels.max(axis=2), pixels.min(axis=2)
    saturation = np.divide(high - low, high, out=np.zeros_like(high), where=high > 0)
    return float(saturation.mean())


class SaturationDetector(BaseDetector):
    """P(AI) = logistic(``scale`` * (mean saturation - ``center``)).

    ``center`` is the saturation judged a coin flip and ``scale`` how fast the
    score leaves 0.5 around it. ``decision`` (or ``threshold``, ``target_fpr``
    and ``uncertain_band``) works as for every detector.
    """

    name: ClassVar[str] = "example-saturation"

    def __init__(
        self,
        *,
        center: float = 0.35,
        scale: float = 10.0,
        tile_size: int = 256,
        decision: DecisionRule | None = None,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(decision=decision, threshold=threshold, target_fpr=target_fpr,
                         uncertain_band=uncertain_band)
        self.center = center
        self.scale = scale
        self.tile_size = tile_size

    def crop_policy(self) -> CropPolicy:
        return CropPolicy(input_size=self.tile_size, max_tiles_per_side=2)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([self.scale * (mean_saturation(crop) - self.center) for crop in crops])
