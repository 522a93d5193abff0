"""`Explanation`: where in an image a detector sees generation, and the cells that say so.

An explanation is a heat map at the image's native resolution plus the grid
of cells it was computed from (the sliding windows, the occluded patches),
the detector's global prediction, and for detectors that have them, evidence
images (the forensic maps of `aidetect.explain.evidence`). It knows nothing
about how it was computed; `aidetect.explain.explain` builds it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from aidetect.detector import Prediction

if TYPE_CHECKING:
    from PIL import Image as PILImage

WINDOW, OCCLUSION, EVIDENCE = "window", "occlusion", "evidence"


@dataclass(frozen=True)
class Cell:
    """One square cell of the grid: a window that was scored, or a patch that was hidden.

    ``value`` is in the explanation's units (`Explanation.value_label`):
    a calibrated crop score for the window method, the drop of that score
    when the patch is hidden for occlusion.
    """

    top: int
    left: int
    size: int
    value: float

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)``, right and bottom exclusive (PIL's convention)."""
        return self.left, self.top, self.left + self.size, self.top + self.size

    @property
    def centre(self) -> tuple[float, float]:
        """``(row, column)`` of the cell's centre."""
        return self.top + self.size / 2, self.left + self.size / 2

    def to_dict(self) -> dict[str, Any]:
        return {"top": self.top, "left": self.left, "size": self.size, "value": round(self.value, 6)}


@dataclass(frozen=True, eq=False)
class Explanation:
    """A detector's explanation of one image.

    heatmap
        ``float32`` array of shape ``(H, W)``, the original image's size. For
        ``method="window"`` each pixel is the mean calibrated score of the
        windows that contain it: a crop score spread over the crop, not a
        per-pixel segmentation.
    cells
        The grid the map was computed from (windows or occluded patches), with their values.
    prediction
        The detector's ordinary verdict on the whole image (its own crop policy).
    method, cell_size, stride
        How the map was computed.
    value_label, value_range
        What the values mean and the range the colour map spans.
    threshold
        The detector's threshold when the values are crop scores (else ``None``):
        a cell at or above it would be labelled AI on its own.
    image
        The RGB ``uint8`` image the map belongs to (what `overlay` draws on).
    evidence
        Named evidence images (``uint8`` ``HxW`` or ``HxWx3``), e.g. ``"ela"`` and ``"noise"``.
    """

    heatmap: np.ndarray
    cells: tuple[Cell, ...]
    prediction: Prediction
    method: str
    cell_size: int
    stride: int
    value_label: str
    value_range: tuple[float, float]
    threshold: float | None
    image: np.ndarray = field(repr=False)
    evidence: Mapping[str, np.ndarray] = field(default_factory=dict, repr=False)

    @property
    def signed(self) -> bool:
        """Whether values can be negative (occlusion: hiding a patch may raise the score)."""
        return self.value_range[0] < 0

    def hottest(self, k: int = 1) -> list[Cell]:
        """The ``k`` cells with the highest values, highest first."""
        return sorted(self.cells, key=lambda cell: cell.value, reverse=True)[:k]

    def cells_above(self, threshold: float | None = None) -> list[Cell]:
        """Cells whose value is at or above ``threshold`` (default: the detector's threshold)."""
        limit = self.threshold if threshold is None else threshold
        if limit is None:
            raise ValueError(f"a {self.method} explanation has no threshold of its own; pass one")
        return [cell for cell in self.cells if cell.value >= limit]

    def overlay(
        self, *, alpha: float = 0.5, legend: bool = True, min_side: int = 512, mark_hottest: bool = True
    ) -> PILImage.Image:
        """The heat map in colour over the original, the hottest cell outlined, a legend below.

        ``alpha`` is the colour map's opacity. Images whose longer side is
        under ``min_side`` pixels are enlarged for display only (the map was
        computed at native resolution).
        """
        from aidetect.explain.render import render_overlay

        return render_overlay(self, alpha=alpha, legend=legend, min_side=min_side, mark_hottest=mark_hottest)

    def evidence_images(self) -> dict[str, PILImage.Image]:
        """The evidence maps as PIL images (empty for detectors that have none)."""
        from PIL import Image

        return {name: Image.fromarray(array) for name, array in self.evidence.items()}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: the prediction, how the map was made and every cell (no pixel arrays)."""
        return {
            "prediction": self.prediction.to_dict(),
            "method": self.method,
            "cell_size": self.cell_size,
            "stride": self.stride,
            "value_label": self.value_label,
            "value_range": list(self.value_range),
            "threshold": self.threshold,
            "height": int(self.heatmap.shape[0]),
            "width": int(self.heatmap.shape[1]),
            "cells": [cell.to_dict() for cell in self.cells],
            "evidence": sorted(self.evidence),
        }
