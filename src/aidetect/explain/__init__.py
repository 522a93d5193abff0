"""Explanations: where in an image a detector sees generation.

    >>> explanation = aidetect.load("efficientnet").explain("photo.jpg")
    >>> explanation.overlay().save("overlay.png")
    >>> explanation.hottest(3)

Three methods, each a heat map at the image's native resolution:

- ``"window"`` (every detector): the detector's calibrated score of every
  crop of its input size on a dense sliding grid (`aidetect.explain.window`);
- ``"occlusion"`` (neural detectors): the drop of a crop's score when one
  patch of it is hidden (`aidetect.explain.occlusion`);
- ``"evidence"`` (forensic-svm): the ELA difference image and the
  noise-residual energy (`aidetect.explain.evidence`).

``"auto"`` is the window map, with the evidence images attached for detectors
that offer them. A detector says what it offers in ``explain_methods``;
`aidetect.detector.BaseDetector.explain` calls `explain` here, so every
detector, plugins included, has at least the window map.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from aidetect.errors import DetectorError
from aidetect.explain.explanation import EVIDENCE, OCCLUSION, WINDOW, Cell, Explanation
from aidetect.io import ImageInput, describe_source, load_image

__all__ = ["AUTO", "EVIDENCE", "METHODS", "OCCLUSION", "WINDOW", "Cell", "Explanation", "explain", "methods_of"]

AUTO = "auto"
METHODS = (AUTO, WINDOW, OCCLUSION, EVIDENCE)
DEFAULT_INPUT_SIZE = 224
"""Window size for a detector that does not state a crop policy."""
EVIDENCE_CELL = 32


def methods_of(detector: Any) -> tuple[str, ...]:
    """The methods ``detector`` offers (``explain_methods``; the window map for a detector that says nothing)."""
    return tuple(getattr(detector, "explain_methods", (WINDOW,)))


def input_size_of(detector: Any) -> int:
    """The side of the crops the detector judges (its crop policy), the size of the windows."""
    policy = getattr(detector, "crop_policy", None)
    return int(policy().input_size) if callable(policy) else DEFAULT_INPUT_SIZE


def explain(
    detector: Any,
    image: ImageInput,
    *,
    stride: int | None = None,
    method: str = AUTO,
    patch: int | None = None,
    batch_size: int = 8,
) -> Explanation:
    """Explain ``detector``'s verdict on ``image``.

    ``stride``: the largest distance between windows (``"window"``, default
    half the input size) or between hidden patches (``"occlusion"``, default
    the patch size, ``patch`` being a third of the input size by default);
    cells are spread evenly so the first and last touch the image's edges.
    ``batch_size``: crops per backend call. Raises
    `aidetect.errors.DetectorError` for a method the detector does not offer,
    and the loader's `aidetect.errors.ImageError` for an unreadable image.
    """
    chosen = _check_method(detector, method)
    if stride is not None and stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    load = getattr(detector, "load", None)
    array = load(image) if callable(load) else load_image(image, min_side=16)
    prediction = detector.predict(array)
    if not isinstance(image, np.ndarray):
        prediction = dataclasses.replace(prediction, source=describe_source(image))
    explanation = _BUILDERS[chosen](detector, array, prediction, stride, patch, batch_size)
    if method == AUTO and EVIDENCE in methods_of(detector):
        from aidetect.explain.evidence import evidence_maps

        explanation = dataclasses.replace(explanation, evidence=evidence_maps(array))
    return explanation


def _check_method(detector: Any, method: str) -> str:
    if method not in METHODS:
        raise DetectorError(f"unknown explanation method {method!r}; choose one of {', '.join(METHODS)}")
    offered = methods_of(detector)
    chosen = WINDOW if method == AUTO else method
    if chosen not in offered:
        name = getattr(detector, "name", type(detector).__name__)
        raise DetectorError(f"{name} offers the explanation method(s) {', '.join(offered)}, not {method!r}")
    return chosen


def _window(detector: Any, array: np.ndarray, prediction: Any, stride: int | None, patch: int | None,
            batch_size: int) -> Explanation:
    from aidetect.explain.grid import Workspace, mean_map
    from aidetect.explain.window import default_stride, window_cells

    size = input_size_of(detector)
    stride = stride or default_stride(size)
    space = Workspace.at_least(array, size)
    cells = window_cells(detector, space.image, size, stride, batch_size)
    cells, heatmap = space.to_original(cells, mean_map(cells, space.image.shape[:2]))
    return Explanation(heatmap, tuple(cells), prediction, WINDOW, cells[0].size, stride,
                       "calibrated P(AI) of each window, averaged per pixel", (0.0, 1.0), prediction.threshold, array)


def _occlusion(detector: Any, array: np.ndarray, prediction: Any, stride: int | None, patch: int | None,
               batch_size: int) -> Explanation:
    from aidetect.explain.grid import Workspace, mean_map
    from aidetect.explain.occlusion import default_patch, occlusion_cells

    size = input_size_of(detector)
    patch = patch or default_patch(size)
    stride = stride or patch
    space = Workspace.at_least(array, size)
    cells = occlusion_cells(detector, space.image, size, patch, stride, batch_size)
    cells, heatmap = space.to_original(cells, mean_map(cells, space.image.shape[:2]))
    return Explanation(heatmap, tuple(cells), prediction, OCCLUSION, cells[0].size, stride,
                       "drop of the crop's P(AI) when the patch is hidden", _symmetric_range(heatmap), None, array)


def _evidence(detector: Any, array: np.ndarray, prediction: Any, stride: int | None, patch: int | None,
              batch_size: int) -> Explanation:
    from aidetect.explain.evidence import NOISE_FULL_SCALE, evidence_maps, noise_energy
    from aidetect.explain.grid import grid

    heatmap = np.clip(noise_energy(array) / NOISE_FULL_SCALE, 0.0, 1.0)
    size = min(EVIDENCE_CELL, *array.shape[:2])
    step = stride or size
    cells = tuple(
        Cell(top, left, size, float(heatmap[top : top + size, left : left + size].mean()))
        for top, left in grid(array.shape[:2], size, step)
    )
    return Explanation(heatmap, cells, prediction, EVIDENCE, size, step,
                       f"noise-residual RMS / {NOISE_FULL_SCALE:g} levels (not a score)", (0.0, 1.0), None, array,
                       evidence_maps(array))


def _symmetric_range(heatmap: np.ndarray) -> tuple[float, float]:
    """``(-r, r)`` with ``r`` the largest absolute value rounded up to 0.05 (at least 0.05)."""
    reach = max(0.05, math.ceil(float(np.abs(heatmap).max()) / 0.05 - 1e-9) * 0.05)
    return -reach, reach


_BUILDERS = {WINDOW: _window, OCCLUSION: _occlusion, EVIDENCE: _evidence}
