"""The conditions an evaluation scores images under: as loaded, format-normalised, and degraded copies."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import numpy as np

from aidetect.preprocess import (
    center_crop,
    downscale,
    gaussian_blur,
    jpeg_recompress,
    normalise_format,
    social_share,
    upscale,
)

Transform = Callable[[np.ndarray], np.ndarray]
"""An image-to-image function on RGB uint8 arrays."""

CLEAN = "clean"
NORMALISED = "normalised"
CENTER_CROP_SHARE = 0.75


def center_crop_share(image: np.ndarray, share: float = CENTER_CROP_SHARE) -> np.ndarray:
    """The central square whose side is ``share`` of the image's short side."""
    side = max(1, round(share * min(image.shape[:2])))
    return center_crop(image, side)


ROBUSTNESS_CONDITIONS: dict[str, Transform] = {
    "jpeg95": partial(jpeg_recompress, quality=95),
    "jpeg75": partial(jpeg_recompress, quality=75),
    "jpeg50": partial(jpeg_recompress, quality=50),
    "downscale0.5": partial(downscale, factor=0.5),
    "downscale0.25": partial(downscale, factor=0.25),
    "upscale2": partial(upscale, factor=2.0),
    "blur1": partial(gaussian_blur, sigma=1.0),
    "centercrop": center_crop_share,
    "social": social_share,
}
"""Degradations a shared image typically goes through, by condition name (``social``: resize to 0.75x,
unsharp mask, JPEG q85 then q75, a fixed instance of the training augmentation's social-media pipeline)."""


def condition_names(*, robustness: bool = False, normalise: bool = False) -> list[str]:
    """The conditions `aidetect.evaluation.evaluate` runs with these options, in report order."""
    names = [CLEAN]
    if normalise:
        names.append(NORMALISED)
    if robustness:
        names.extend(ROBUSTNESS_CONDITIONS)
    return names


def condition_transforms(names: Sequence[str]) -> dict[str, Transform | None]:
    """Name -> transform (None: the image as loaded) for each of ``names``."""
    known: dict[str, Transform | None] = {CLEAN: None, NORMALISED: normalise_format, **ROBUSTNESS_CONDITIONS}
    return {name: known[name] for name in names}
