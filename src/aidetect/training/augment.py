"""Training augmentation that attacks the shortcuts in real-vs-AI data sets.

mixed-v1 (and most public sets) let a model tell the classes apart by file
format, JPEG quality and original size rather than by how the pixels were
made. So both classes get the same treatment: random down-scaling, random
JPEG re-compression at random qualities (before cropping, so the 8x8 grid
lands anywhere in the crop, as it does at inference), random crops at native
resolution (sometimes a random *resized* crop), flips and a little colour
jitter. Works on RGB uint8 arrays; numpy and Pillow only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from aidetect import preprocess


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (all applied to both classes)."""

    crop_size: int = 160
    resized_crop_p: float = 0.25
    resized_crop_scale: tuple[float, float] = (0.3, 1.0)
    downscale_p: float = 0.2
    downscale_range: tuple[float, float] = (0.5, 0.95)
    jpeg_p: float = 0.8
    jpeg_quality: tuple[int, int] = (50, 100)
    flip_p: float = 0.5
    color_jitter: float = 0.1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def augment(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """One random training view of ``image``, ``crop_size x crop_size``."""
    if rng.random() < config.downscale_p and min(image.shape[:2]) * config.downscale_range[0] >= 32:
        image = preprocess.downscale(image, float(rng.uniform(*config.downscale_range)))
    if config.color_jitter > 0:
        image = _color_jitter(image, config.color_jitter, rng)
    if rng.random() < config.jpeg_p:
        low, high = config.jpeg_quality
        image = preprocess.jpeg_recompress(image, int(rng.integers(low, high + 1)))
    if rng.random() < config.resized_crop_p:
        image = preprocess.random_resized_crop(image, config.crop_size, rng, scale=config.resized_crop_scale)
    else:
        image = preprocess.random_crop(image, config.crop_size, rng)
    if rng.random() < config.flip_p:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)


def _color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Small brightness / contrast / saturation changes, so colour statistics stop being a cue."""
    pixels = image.astype(np.float32)
    brightness = 1.0 + rng.uniform(-strength, strength)
    contrast = 1.0 + rng.uniform(-strength, strength)
    saturation = 1.0 + rng.uniform(-strength, strength)
    grey = pixels.mean(axis=2, keepdims=True)
    pixels = grey + (pixels - grey) * saturation
    pixels = (pixels - pixels.mean()) * contrast + pixels.mean()
    pixels *= brightness
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)
