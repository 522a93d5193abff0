"""Where the crops behind ``crop_scores`` lie in the image, so the page can draw each score over its region.

A detector built on `aidetect.BaseDetector` with the default cropping judges a
grid of native-resolution squares (`aidetect.preprocess.tile_positions`); its
`crop_policy()` says the square size and the grid cap. The boxes are given as
fractions of the image's width and height (after EXIF orientation, which is
also how browsers show it). For a detector that crops some other way the
number of boxes would not match its scores, and none are given.
"""

from __future__ import annotations

import io
from typing import Any

EXIF_ORIENTATION = 0x0112
TRANSPOSED_ORIENTATIONS = frozenset({5, 6, 7, 8})  # rotated by 90 degrees: width and height swap


def crop_boxes(detector: Any, data: bytes, count: int) -> list[list[float]] | None:
    """``[[left, top, right, bottom], ...]`` in ``[0, 1]``, one per crop score; ``None`` when unknown."""
    policy = getattr(detector, "crop_policy", None)
    if count < 2 or not callable(policy):
        return None
    size = oriented_size(data)
    if size is None:
        return None
    boxes = grid_boxes(size[0], size[1], policy().input_size, policy().max_tiles_per_side)
    return boxes if len(boxes) == count else None


def oriented_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` as displayed, read from the header only."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    except Exception:  # the detector already read it; a header Pillow now refuses just means no boxes
        return None
    return (height, width) if orientation in TRANSPOSED_ORIENTATIONS else (width, height)


def grid_boxes(width: int, height: int, size: int, max_tiles: int) -> list[list[float]]:
    """The boxes of `aidetect.preprocess.tile_crops`, row by row, as fractions of the image."""
    from aidetect.preprocess import tile_positions

    scale = max(1.0, size / min(width, height))  # tile_crops first upscales a short side below the crop size
    scaled_w, scaled_h = max(size, round(width * scale)), max(size, round(height * scale))
    return [
        [left / scaled_w, top / scaled_h, min(1.0, (left + size) / scaled_w), min(1.0, (top + size) / scaled_h)]
        for top in tile_positions(scaled_h, size, max_tiles)
        for left in tile_positions(scaled_w, size, max_tiles)
    ]
