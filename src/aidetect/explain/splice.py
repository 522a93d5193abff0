"""Spliced composites and the pointing game: checking that a heat map points at generated pixels.

A map is only worth showing if it points at the right place when the answer
is known. `splice` pastes a generated region into a canvas of real photos
at a random position; `pointing` says whether the explanation's hottest cell
lies on it, and how likely that would be by chance (the share of the grid's
cells that lie on it). `benchmarks/bench_explain.py` runs this over many
composites, and so can you on your own photos and generators.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aidetect.explain.explanation import Cell, Explanation

if TYPE_CHECKING:
    from aidetect.datasets import Dataset


@dataclass(frozen=True)
class Composite:
    """A spliced image and the box ``(left, top, right, bottom)`` of the pasted region."""

    image: np.ndarray
    box: tuple[int, int, int, int]


def mosaic(photos: Sequence[np.ndarray], tile: int) -> np.ndarray:
    """A square canvas of ``n x n`` centre crops of ``tile`` px (``len(photos)`` must be a square number)."""
    from aidetect.preprocess import center_crop

    side = round(len(photos) ** 0.5)
    if side * side != len(photos) or side == 0:
        raise ValueError(f"a mosaic needs a square number of photos, got {len(photos)}")
    rows = [np.concatenate([center_crop(p, tile) for p in photos[r * side : (r + 1) * side]], axis=1)
            for r in range(side)]
    return np.concatenate(rows, axis=0)


def splice(canvas: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> Composite:
    """Paste ``region`` into a copy of ``canvas`` at a uniformly random position (any pixel offset)."""
    height, width = region.shape[:2]
    if height > canvas.shape[0] or width > canvas.shape[1]:
        raise ValueError(f"a {width}x{height} region does not fit a {canvas.shape[1]}x{canvas.shape[0]} canvas")
    top = int(rng.integers(0, canvas.shape[0] - height + 1))
    left = int(rng.integers(0, canvas.shape[1] - width + 1))
    image = canvas.copy()
    image[top : top + height, left : left + width] = region
    return Composite(image, (left, top, left + width, top + height))


def _centre_inside(cell: Cell, box: tuple[int, int, int, int]) -> bool:
    row, column = cell.centre
    left, top, right, bottom = box
    return left <= column < right and top <= row < bottom


def pointing(explanation: Explanation, box: tuple[int, int, int, int]) -> tuple[bool, float]:
    """Whether the hottest cell's centre lies in ``box``, and the chance of that for a random cell of the grid."""
    hit = _centre_inside(explanation.hottest(1)[0], box)
    chance = float(np.mean([_centre_inside(cell, box) for cell in explanation.cells]))
    return hit, chance


def coverage(cell: Cell, box: tuple[int, int, int, int]) -> float:
    """Share of ``cell``'s area inside ``box``."""
    left, top, right, bottom = box
    c_left, c_top, c_right, c_bottom = cell.box
    overlap = max(0, min(right, c_right) - max(left, c_left)) * max(0, min(bottom, c_bottom) - max(top, c_top))
    return overlap / float(cell.size * cell.size)


@dataclass(frozen=True)
class Trial:
    """One test case: the composite, the same canvas without the paste, one unmodified photo, the pasted fake."""

    composite: Composite
    canvas: np.ndarray
    photo: np.ndarray
    fake: np.ndarray
    fake_path: Path


def trials(dataset: Dataset, n: int, *, region: int = 192, tile: int = 256, seed: int = 0) -> Iterator[Trial]:
    """``n`` trials from a labelled dataset: canvases of 4 distinct reals (``2 tile`` px square), one fake each.

    Photos and fakes smaller than ``tile`` / ``region`` are skipped; the
    pasted region is the fake's central ``region`` square. The same dataset
    and seed give the same trials.
    """
    from aidetect.datasets import AI, REAL
    from aidetect.io import load_image
    from aidetect.preprocess import center_crop

    rng = np.random.default_rng(seed)
    reals = _large_enough([s.path for s in dataset.samples if s.label == REAL], tile, rng)
    fakes = _large_enough([s.path for s in dataset.samples if s.label == AI], region, rng)
    for _ in range(n):
        photos = [load_image(_next(reals, f"real photos of at least {tile} px")) for _ in range(4)]
        fake_path = _next(fakes, f"generated images of at least {region} px")
        fake = load_image(fake_path)
        canvas = mosaic(photos, tile)
        yield Trial(splice(canvas, center_crop(fake, region), rng), canvas, photos[0], fake, Path(fake_path))


def _next(paths: Iterator[Path], what: str) -> Path:
    try:
        return next(paths)
    except StopIteration:
        raise ValueError(f"the dataset has too few {what} for this many trials") from None


def _large_enough(paths: list[Path], side: int, rng: np.random.Generator) -> Iterator[Path]:
    """The paths in a random order, skipping images whose short side is under ``side`` (header read only)."""
    from PIL import Image

    for index in rng.permutation(len(paths)):
        with Image.open(paths[index]) as image:
            if min(image.size) >= side:
                yield paths[index]
