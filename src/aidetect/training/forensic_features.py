"""forensic-svm's training data: features of augmented training views and of validation tiles, in parallel."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from aidetect.datasets import Dataset
from aidetect.detector import CropPolicy
from aidetect.detectors.forensic_svm.constants import CONTAINERS, JPEG_PROBABILITY, JPEG_QUALITY_RANGE
from aidetect.detectors.forensic_svm.features import features_of
from aidetect.errors import AidetectError

if TYPE_CHECKING:
    from aidetect.detectors.forensic_svm.detector import ForensicSVMDetector

__all__ = ["augmented_tile", "image_margins", "scoring_features", "training_features"]


def augmented_tile(image: np.ndarray, tile_size: int, augment_jpeg: bool, rng: np.random.Generator) -> np.ndarray:
    """One training view: maybe a re-save in a random container (both classes alike), then a random native tile.

    Images smaller than a tile are enlarged the way `aidetect.preprocess.tile_crops` does at inference.
    """
    from aidetect.preprocess import random_tile, reencode

    if augment_jpeg and rng.random() < JPEG_PROBABILITY:
        names, shares = zip(*CONTAINERS, strict=True)
        container = names[int(rng.choice(len(names), p=np.asarray(shares) / sum(shares)))]
        image = reencode(image, container, int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1)))
    return random_tile(image, tile_size, rng)  # crops before enlarging: a thin strip costs one tile


def _training_row(path: str, index: int, tile_size: int, augment_jpeg: bool, seed: int) -> np.ndarray | None:
    """Features of one augmented training view; ``None`` if the image cannot be read."""
    from aidetect.features import MIN_SIDE, forensic_features
    from aidetect.io import load_image

    try:
        image = load_image(path, min_side=MIN_SIDE)
    except AidetectError as exc:
        warnings.warn(f"forensic-svm: skipping unreadable training image: {exc}", stacklevel=2)
        return None
    rng = np.random.default_rng([seed, index])
    return forensic_features(augmented_tile(image, tile_size, augment_jpeg, rng))


def _scoring_rows(path: str, tile_size: int, max_tiles: int, normalise: bool) -> np.ndarray | None:
    """Features of the inference tiles of one image (optionally of its format-normalised copy)."""
    from aidetect.features import MIN_SIDE
    from aidetect.io import load_image
    from aidetect.preprocess import normalise_format, tile_crops

    try:
        image = load_image(path, min_side=MIN_SIDE)
    except AidetectError as exc:
        warnings.warn(f"forensic-svm: skipping unreadable image: {exc}", stacklevel=2)
        return None
    if normalise:
        image = normalise_format(image)
    return features_of(tile_crops(image, tile_size, max_tiles))


def _parallel(function: Callable[..., Any], argument_lists: list[tuple[Any, ...]], n_jobs: int) -> list[Any]:
    if n_jobs == 1 or len(argument_lists) < 8:
        return [function(*arguments) for arguments in argument_lists]
    from joblib import Parallel, delayed

    results: list[Any] = Parallel(n_jobs=n_jobs, batch_size=16)(
        delayed(function)(*arguments) for arguments in argument_lists
    )
    return results


def training_features(detector: ForensicSVMDetector, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``views_per_image`` augmented views per training image: ``(X, y)``, unreadable images left out."""
    views = max(1, int(detector.views_per_image))
    tile_size = detector.training_policy().input_size
    arguments = [
        (str(sample.path), index * views + view, tile_size, detector.augment_jpeg, detector.seed)
        for index, sample in enumerate(dataset.samples)
        for view in range(views)
    ]
    rows = _parallel(_training_row, arguments, detector.n_jobs)
    labels = np.repeat(dataset.labels, views)
    keep = [i for i, row in enumerate(rows) if row is not None]
    return np.stack([rows[i] for i in keep]), labels[keep]


def scoring_features(
    detector: ForensicSVMDetector, dataset: Dataset, policy: CropPolicy, *, normalise: bool = False
) -> tuple[list[np.ndarray], np.ndarray, list[int]]:
    """Per image, the features of its tiles under ``policy``; with the labels and indices of readable images."""
    arguments = [
        (str(sample.path), policy.input_size, policy.max_tiles_per_side, normalise) for sample in dataset.samples
    ]
    rows = _parallel(_scoring_rows, arguments, detector.n_jobs)
    keep = [i for i, row in enumerate(rows) if row is not None]
    return [rows[i] for i in keep], dataset.labels[keep], keep


def image_margins(pipeline: Any, tiles_per_image: list[np.ndarray]) -> np.ndarray:
    """Mean SVM margin over each image's tiles, as `BaseDetector` combines them at inference."""
    if not tiles_per_image:
        return np.zeros(0)
    margins = pipeline.decision_function(np.concatenate(tiles_per_image))
    bounds = np.cumsum([0] + [len(t) for t in tiles_per_image])
    return np.array([margins[a:b].mean() for a, b in itertools.pairwise(bounds)])
