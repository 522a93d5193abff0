"""Shared image transforms on RGB ``uint8`` arrays of shape ``(H, W, 3)``.

Deterministic transforms (resize, crops, tiling, normalisation) serve
inference; the random ones take an explicit ``numpy.random.Generator`` so that
training is reproducible from a seed. Nothing here shrinks a whole large image
to the network input: `tile_crops` keeps native resolution, because resampling
erases the high-frequency traces generators leave.
"""

from __future__ import annotations

import io as _io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from aidetect.io import encode_jpeg


def resize(image: np.ndarray, size: tuple[int, int], *, resample: str = "bicubic") -> np.ndarray:
    """Resize to ``(height, width)`` with an antialiased filter (Pillow's ``resample`` by name)."""
    from PIL import Image

    height, width = size
    if image.shape[:2] == (height, width):
        return image
    resized = Image.fromarray(image).resize((width, height), Image.Resampling[resample.upper()])
    return np.array(resized)  # np.array, not asarray: an array over a PIL buffer is read-only


def resize_short_side(image: np.ndarray, short_side: int) -> np.ndarray:
    """Resize keeping the aspect ratio so that the shorter side is ``short_side``."""
    height, width = image.shape[:2]
    scale = short_side / min(height, width)
    return resize(image, (max(short_side, round(height * scale)), max(short_side, round(width * scale))))


def center_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The central ``size x size`` crop; the image must be at least that large."""
    height, width = image.shape[:2]
    _require_at_least(image, size)
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]


def random_crop(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly placed ``size x size`` crop; smaller images are reflect-padded first."""
    image = pad_to(image, size)
    height, width = image.shape[:2]
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    return image[top : top + size, left : left + size]


def random_tile(image: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly placed ``size x size`` crop; an image smaller than ``size`` is treated as `tile_crops` treats it.

    That is ``random_crop(resize_short_side(image, size), size, rng)`` (same draws), computed from the crop's
    source region only, so an extreme aspect ratio costs no more than a square image.
    """
    height, width = image.shape[:2]
    if min(height, width) >= size:
        return random_crop(image, size, rng)
    scaled_height, scaled_width = upscaled_shape(height, width, size)
    top = int(rng.integers(0, scaled_height - size + 1))
    left = int(rng.integers(0, scaled_width - size + 1))
    return resized_region(image, (scaled_height, scaled_width), (top, left), size)


def pad_to(image: np.ndarray, size: int) -> np.ndarray:
    """Reflect-pad so both sides are at least ``size`` (no resampling of the pixels)."""
    height, width = image.shape[:2]
    pad_h, pad_w = max(0, size - height), max(0, size - width)
    if not pad_h and not pad_w:
        return image
    mode: Literal["reflect", "symmetric", "wrap"] = "reflect" if pad_h < height and pad_w < width else "symmetric"
    if pad_h >= 2 * height or pad_w >= 2 * width:
        mode = "wrap"
    result: np.ndarray
    result = np.pad(image, ((pad_h // 2, pad_h - pad_h // 2), (pad_w // 2, pad_w - pad_w // 2), (0, 0)), mode=mode)
    return result


def random_resized_crop(
    image: np.ndarray,
    size: int,
    rng: np.random.Generator,
    scale: tuple[float, float] = (0.25, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
) -> np.ndarray:
    """Crop a random area share and aspect ratio, then resize it to ``size x size``."""
    height, width = image.shape[:2]
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = np.exp(rng.uniform(np.log(ratio[0]), np.log(ratio[1])))
        crop_w, crop_h = round(np.sqrt(target * aspect)), round(np.sqrt(target / aspect))
        if 0 < crop_w <= width and 0 < crop_h <= height:
            top = int(rng.integers(0, height - crop_h + 1))
            left = int(rng.integers(0, width - crop_w + 1))
            return resize(image[top : top + crop_h, left : left + crop_w], (size, size))
    side = min(height, width)
    return resize(center_crop(image, side), (size, size))


def downscale(image: np.ndarray, factor: float) -> np.ndarray:
    """Shrink by ``factor`` (0 < factor <= 1), as a resharing platform would."""
    if not 0 < factor <= 1:
        raise ValueError(f"downscale factor must be in (0, 1], got {factor}")
    height, width = image.shape[:2]
    return resize(image, (max(1, round(height * factor)), max(1, round(width * factor))))


def jpeg_recompress(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode as JPEG at ``quality`` and decode again: what sharing a photo does to it."""
    from PIL import Image

    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must be in [1, 100], got {quality}")
    with Image.open(_io.BytesIO(encode_jpeg(image, quality))) as decoded:
        return np.array(decoded.convert("RGB"))


def upscale(image: np.ndarray, factor: float) -> np.ndarray:
    """Enlarge by ``factor`` (>= 1), as a viewer or a re-upload at a larger size would."""
    if factor < 1:
        raise ValueError(f"upscale factor must be >= 1, got {factor}")
    height, width = image.shape[:2]
    return resize(image, (round(height * factor), round(width * factor)))


def unsharp_mask(image: np.ndarray, radius: float = 1.0, percent: int = 80) -> np.ndarray:
    """Pillow's unsharp mask: the sharpening many upload pipelines apply after shrinking."""
    from PIL import Image, ImageFilter

    return np.array(Image.fromarray(image).filter(ImageFilter.UnsharpMask(radius=radius, percent=percent, threshold=2)))


def social_share(
    image: np.ndarray,
    *,
    scale: float = 0.75,
    resample: str = "bicubic",
    sharpen: tuple[float, int] | None = (1.0, 80),
    qualities: Sequence[int] = (85, 75),
) -> np.ndarray:
    """What a social network does to an upload, with fixed settings: deterministic, for evaluation.

    Resize by ``scale`` with ``resample`` (at least 8 px a side), unsharp-mask with
    ``sharpen = (radius, percent)`` unless None, then JPEG-encode at each of
    ``qualities`` in turn. Training draws these settings at random
    (`aidetect.training.augment.social_pipeline`) and calls this.
    """
    height, width = image.shape[:2]
    image = resize(image, (max(8, round(height * scale)), max(8, round(width * scale))), resample=resample)
    if sharpen is not None:
        image = unsharp_mask(image, radius=sharpen[0], percent=sharpen[1])
    for quality in qualities:
        image = jpeg_recompress(image, quality)
    return image


REENCODINGS = ("jpeg", "webp", "gif", "cmyk-jpeg", "png")
"""Containers `reencode` can save an image in."""


def reencode(image: np.ndarray, container: str, quality: int = 90) -> np.ndarray:
    """Save in ``container`` and decode again through the library's loader (what a file in that format gives).

    ``jpeg``/``webp`` at ``quality``; ``gif`` through an adaptive 256-colour palette; ``cmyk-jpeg`` a JPEG of the
    CMYK conversion (as print workflows write); ``png`` lossless.
    """
    from PIL import Image

    from aidetect.io import load_image

    if container not in REENCODINGS:
        raise ValueError(f"container must be one of {REENCODINGS}, got {container!r}")
    pil = Image.fromarray(image)
    buffer = _io.BytesIO()
    if container == "gif":
        pil.quantize(colors=256).save(buffer, format="GIF")
    elif container == "cmyk-jpeg":
        pil.convert("CMYK").save(buffer, format="JPEG", quality=quality)
    else:
        pil.save(buffer, format=container.upper(), **({} if container == "png" else {"quality": quality}))
    return load_image(buffer.getvalue())


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels."""
    from PIL import Image, ImageFilter

    return np.array(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=sigma)))


def tile_positions(length: int, size: int, max_tiles: int) -> list[int]:
    """Evenly spaced start offsets of ``size``-long windows spread over ``length``.

    About one window per ``size`` pixels, rounded to the nearest count and
    capped at ``max_tiles``. The windows sample the image rather than tile it
    exactly: the traces detectors look for are everywhere in an image, so
    rounding (not ceiling) keeps the crop count, and the cost, down. Below
    the cap, every gap between windows and every uncovered margin is smaller
    than half a window.
    """
    count = int(min(max_tiles, max(1, math.floor(length / size + 0.5))))  # half up, not banker's rounding
    if count == 1:
        return [(length - size) // 2]
    return [round(offset) for offset in np.linspace(0, length - size, count)]


def tile_crops(image: np.ndarray, size: int, max_tiles_per_side: int = 3) -> list[np.ndarray]:
    """Native-resolution ``size x size`` crops on a grid covering the image.

    An image smaller than ``size`` is judged as if first upscaled so its short
    side is ``size`` (the only case where we resample). Only the source region
    of each crop is resampled, never the whole image, so the cost is bounded by
    the crops judged however extreme the aspect ratio: a 16 x 300,000 strip
    would otherwise be upscaled to 224 x 4,200,000 px before three crops are
    cut from it. At most ``max_tiles_per_side ** 2`` crops.
    """
    height, width = image.shape[:2]
    if min(height, width) >= size:
        return [
            image[top : top + size, left : left + size]
            for top in tile_positions(height, size, max_tiles_per_side)
            for left in tile_positions(width, size, max_tiles_per_side)
        ]
    scaled_height, scaled_width = upscaled_shape(height, width, size)
    return [
        resized_region(image, (scaled_height, scaled_width), (top, left), size)
        for top in tile_positions(scaled_height, size, max_tiles_per_side)
        for left in tile_positions(scaled_width, size, max_tiles_per_side)
    ]


def upscaled_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """The ``(height, width)`` `resize_short_side` gives: short side ``short_side``, aspect ratio kept."""
    scale = short_side / min(height, width)
    return max(short_side, round(height * scale)), max(short_side, round(width * scale))


def resized_region(
    image: np.ndarray, scaled_shape: tuple[int, int], origin: tuple[int, int], size: int, *, resample: str = "bicubic"
) -> np.ndarray:
    """The ``size x size`` crop at ``origin`` of ``image`` resized to ``scaled_shape``, computed without resizing it.

    Pillow resamples just the source box of the crop (its filter still reads
    the pixels around the box), so the pixels match cropping the fully resized
    image while memory and time depend on ``size`` only.
    """
    from PIL import Image

    height, width = image.shape[:2]
    (scaled_height, scaled_width), (top, left) = scaled_shape, origin
    y_scale, x_scale = height / scaled_height, width / scaled_width
    row_from, row_to = _source_span(top, size, y_scale, height)
    col_from, col_to = _source_span(left, size, x_scale, width)
    box = (left * x_scale - col_from, top * y_scale - row_from,
           (left + size) * x_scale - col_from, (top + size) * y_scale - row_from)
    # Only the pixels the filter can reach are handed to Pillow (fromarray copies what it is given).
    region = Image.fromarray(np.ascontiguousarray(image[row_from:row_to, col_from:col_to]))
    return np.array(region.resize((size, size), Image.Resampling[resample.upper()], box=box))


def _source_span(start: int, size: int, scale: float, length: int) -> tuple[int, int]:
    """The source pixels a resampling filter around a crop's box can read, with a safety margin.

    When upscaling, bicubic reaches 2 and Lanczos 3 source pixels beyond the box; 4 is a margin
    that also absorbs rounding. Cutting there keeps the filter's edge handling at the real image edges.
    """
    margin = 4
    return max(0, math.floor(start * scale) - margin), min(length, math.ceil((start + size) * scale) + margin)


@dataclass(frozen=True)
class Normalisation:
    """Per-channel ``(x / 255 - mean) / std``, as the model card states it."""

    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)


def to_nchw_float(crops: Sequence[np.ndarray], norm: Normalisation) -> np.ndarray:
    """Stack ``HxWx3`` uint8 crops into a normalised float32 ``NCHW`` batch."""
    batch = np.stack(crops).astype(np.float32) / 255.0
    batch -= np.asarray(norm.mean, dtype=np.float32)
    batch /= np.asarray(norm.std, dtype=np.float32)
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2))


def normalise_format(image: np.ndarray, size: int = 256, quality: int = 90) -> np.ndarray:
    """The format-normalised copy used in evaluation: same processing for both classes.

    Centre-crop to a square, resize to ``size x size`` (a no-op for most
    mixed-v1 files, which already are 256 px squares) and re-encode as JPEG at
    ``quality``, so neither file format, JPEG tables nor size can carry the label.
    """
    side = min(image.shape[:2])
    return jpeg_recompress(resize(center_crop(image, side), (size, size)), quality)


def _require_at_least(image: np.ndarray, size: int) -> None:
    if min(image.shape[:2]) < size:
        raise ValueError(f"image {image.shape[1]}x{image.shape[0]} is smaller than the {size} px crop")
