"""forensic-svm's evidence maps: the ELA difference image and the noise-residual energy.

These are the pictures behind the SVM's features (`aidetect.features.ela`,
`aidetect.features.noise`), at full resolution, for a person to look at:

- ``ela``: ``|image - jpeg(image, 90)|`` amplified `ELA_GAIN` times. An area
  that was saved as JPEG before at a lower quality barely changes (dark); a
  never-compressed or differently compressed area lights up, often with a
  visible 8x8 grid on it. A pasted region with its own compression history
  stands out from its surroundings.
- ``noise``: the local RMS of the median-filter noise residual (luminance,
  `NOISE_WINDOW` px box), in 8-bit levels, drawn with the colour map scaled
  to `NOISE_FULL_SCALE`. Camera photos carry sensor noise everywhere; many
  generated images are too clean in flat areas. Texture also lights it up.

Neither is a verdict: they show where the image's compression history and
noise differ, which a person has to interpret. Needs OpenCV (the
``forensic`` extra), like forensic-svm itself.
"""

from __future__ import annotations

import numpy as np

ELA_QUALITY = 90
ELA_GAIN = 20
NOISE_WINDOW = 16
NOISE_FULL_SCALE = 8.0
"""Noise-residual RMS (8-bit levels) drawn at the top of the colour map; typical camera noise is 1-5."""


def ela_image(image: np.ndarray, quality: int = ELA_QUALITY, gain: float = ELA_GAIN) -> np.ndarray:
    """The amplified ELA difference of an RGB ``uint8`` image, as RGB ``uint8``."""
    from aidetect.features.ela import error_level

    result: np.ndarray = np.clip(error_level(image, quality).astype(np.float32) * gain, 0, 255).astype(np.uint8)
    return result


def noise_energy(image: np.ndarray, window: int = NOISE_WINDOW) -> np.ndarray:
    """``float32`` ``HxW``: local RMS (8-bit levels) of the luminance noise residual over ``window`` px boxes."""
    import cv2

    from aidetect.features._stats import luma
    from aidetect.features.noise import noise_residual

    residual = luma(noise_residual(image)).astype(np.float32)
    return np.sqrt(cv2.blur(residual * residual, (window, window))).astype(np.float32)


def evidence_maps(image: np.ndarray) -> dict[str, np.ndarray]:
    """``{"ela": RGB uint8, "noise": RGB uint8}``: both evidence maps, ready to save or show."""
    from aidetect.explain.render import colourise

    noise = np.clip(noise_energy(image) / NOISE_FULL_SCALE, 0.0, 1.0)
    return {"ela": ela_image(image), "noise": colourise(noise, signed=False)}
