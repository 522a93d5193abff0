"""Grids of square cells over an image, and the heat map they add up to.

Both explanation methods score square cells (windows, occluded patches) on a
regular grid whose last cell is pushed back to end at the image border, so
every pixel is covered. A pixel's heat is the mean value of the cells that
contain it. Images smaller than a detector's input are enlarged first (as
`aidetect.preprocess.tile_crops` does at prediction) and the map is brought
back to the original size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aidetect.explain.explanation import Cell


def positions(length: int, size: int, stride: int) -> list[int]:
    """Start offsets of ``size``-long cells at most ``stride`` apart, evenly spread from 0 to ``length - size``.

    The first cell starts at the image's edge and the last one ends at the
    other, so every pixel is covered; the spacing is the largest even one
    not over ``stride``.
    """
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if length <= size:
        return [0]
    count = math.ceil((length - size) / stride) + 1
    return [round(start) for start in np.linspace(0, length - size, count)]


def grid(shape: tuple[int, int], size: int, stride: int) -> list[tuple[int, int]]:
    """``(top, left)`` of every cell of a ``size`` / ``stride`` grid over an image of ``shape`` (rows first)."""
    height, width = shape
    return [(top, left) for top in positions(height, size, stride) for left in positions(width, size, stride)]


def mean_map(cells: Sequence[Cell], shape: tuple[int, int]) -> np.ndarray:
    """``float32`` map: each pixel the mean value of the cells covering it (0 where none does)."""
    total = np.zeros(shape, dtype=np.float64)
    count = np.zeros(shape, dtype=np.float64)
    for cell in cells:
        total[cell.top : cell.top + cell.size, cell.left : cell.left + cell.size] += cell.value
        count[cell.top : cell.top + cell.size, cell.left : cell.left + cell.size] += 1.0
    return (total / np.maximum(count, 1.0)).astype(np.float32)


@dataclass(frozen=True)
class Workspace:
    """The image a grid is laid over: the original, or a copy enlarged to the detector's input size."""

    original: np.ndarray
    image: np.ndarray
    scale: float

    @classmethod
    def at_least(cls, image: np.ndarray, size: int) -> Workspace:
        """Enlarge ``image`` so its short side is at least ``size``, exactly as prediction does."""
        from aidetect.preprocess import resize_short_side

        short = min(image.shape[:2])
        if short >= size:
            return cls(image, image, 1.0)
        enlarged = resize_short_side(image, size)
        return cls(image, enlarged, enlarged.shape[0] / image.shape[0])

    def to_original(self, cells: Sequence[Cell], heatmap: np.ndarray) -> tuple[list[Cell], np.ndarray]:
        """Cells and map in the original image's coordinates."""
        if self.scale == 1.0:
            return list(cells), heatmap
        from PIL import Image

        height, width = self.original.shape[:2]
        picture = Image.fromarray(heatmap.astype(np.float32))
        resized = np.asarray(picture.resize((width, height), Image.Resampling.BILINEAR))
        back = [
            Cell(round(c.top / self.scale), round(c.left / self.scale), max(1, round(c.size / self.scale)), c.value)
            for c in cells
        ]
        return back, resized.astype(np.float32)
