"""Training augmentation that attacks the shortcuts in real-vs-AI data sets.

mixed-v1 (and most public sets) let a model tell the classes apart by file
format, JPEG quality and original size rather than by how the pixels were
made. So both classes get the same treatment: random rescaling (0.25x-2x,
several resampling filters: web images are resized in both directions), a
simulated social-media pipeline (resize, optional sharpening, JPEG 60-95,
sometimes twice), random JPEG re-compression at random qualities (before
cropping, so the 8x8 grid lands anywhere in the crop, as it does at
inference), random crops at native resolution (sometimes a random *resized*
crop), flips and a little colour jitter. Works on RGB uint8 arrays; numpy and
Pillow only.
"""

from __future__ import annotations

import numpy as np

from aidetect import preprocess
from aidetect.trainconfig import AugmentConfig

__all__ = ["AugmentConfig", "augment", "rescale", "social_pipeline"]


def augment(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """One random training view of ``image``, ``crop_size x crop_size``."""
    if rng.random() < config.rescale_p:
        image = rescale(image, _log_uniform(rng, config.rescale_range), rng)
    if config.color_jitter > 0:
        image = _color_jitter(image, config.color_jitter, rng)
    if rng.random() < config.social_p:
        image = social_pipeline(image, rng, scale=config.social_scale, quality=config.social_quality)
    elif rng.random() < config.jpeg_p:
        low, high = config.jpeg_quality
        image = preprocess.jpeg_recompress(image, int(rng.integers(low, high + 1)))
    if min(image.shape[:2]) < config.crop_size:
        image = preprocess.resize_short_side(image, config.crop_size)  # as inference treats small images
    if rng.random() < config.resized_crop_p:
        image = preprocess.random_resized_crop(image, config.crop_size, rng, scale=config.resized_crop_scale)
    else:
        image = preprocess.random_crop(image, config.crop_size, rng)
    if rng.random() < config.flip_p:
        image = image[:, ::-1]
    return np.ascontiguousarray(image)


# Pillow's filters, as resizers in browsers, CMSs and phones choose differently.
_FILTERS = ("nearest", "box", "bilinear", "hamming", "bicubic", "lanczos")


def rescale(image: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    """Resize by ``factor`` with a randomly chosen resampling filter (at least 8 px a side)."""
    height, width = image.shape[:2]
    size = (max(8, round(height * factor)), max(8, round(width * factor)))
    return preprocess.resize(image, size, resample=_FILTERS[int(rng.integers(len(_FILTERS)))])


def social_pipeline(
    image: np.ndarray,
    rng: np.random.Generator,
    *,
    scale: tuple[float, float] = (0.4, 1.0),
    quality: tuple[int, int] = (60, 95),
) -> np.ndarray:
    """What a social network does to an upload: resize, maybe sharpen, JPEG, sometimes twice.

    Platforms bring the long side to 1080-2048 px; for the <=256 px native
    crops we train on, that is a shrink by ``scale`` of the original, applied
    here to the crop. The settings are drawn here; `aidetect.preprocess.social_share` applies them.
    """
    factor = float(rng.uniform(*scale))
    resample = _FILTERS[int(rng.integers(len(_FILTERS)))]
    sharpen = (float(rng.uniform(0.5, 2.0)), int(rng.integers(30, 120))) if rng.random() < 0.3 else None
    qualities = [int(rng.integers(quality[0], quality[1] + 1))]
    if rng.random() < 0.3:
        qualities.append(int(rng.integers(quality[0], quality[1] + 1)))
    return preprocess.social_share(image, scale=factor, resample=resample, sharpen=sharpen, qualities=qualities)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Uniform in log space: halving and doubling are equally likely."""
    return float(np.exp(rng.uniform(np.log(bounds[0]), np.log(bounds[1]))))


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
    result: np.ndarray = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
    return result
