"""Explanations over HTTP: one upload explained by a served detector, as JSON or as the overlay PNG.

Uses the public `aidetect.explain.explain`, so every served detector (plugins
included) has at least the sliding-window map. The map is made of calibrated
crop scores on a grid of windows, not a pixel mask.
"""

from __future__ import annotations

import base64
import dataclasses
import io
from typing import Any

from aidetect.serve.inference import ServedDetector
from aidetect.serve.uploads import Upload

METHODS = ("auto", "window", "occlusion")
"""The methods the endpoint offers (``evidence`` images are attached by ``auto`` for detectors that have them)."""


LEGIBLE_SIDE = 512
"""With the legend, smaller images are enlarged (by an integer factor) so its text stays legible."""


def overlay_png(explanation: Any, legend: bool = True) -> bytes:
    """The overlay as PNG bytes: with the legend below, or without it at exactly the image's size."""
    buffer = io.BytesIO()
    explanation.overlay(legend=legend, min_side=LEGIBLE_SIDE if legend else 0).save(buffer, format="PNG")
    return buffer.getvalue()


def explain_upload(served: ServedDetector, upload: Upload, method: str, stride: int | None) -> Any:
    """`aidetect.explain.explain` on one upload; image and method errors propagate as library errors."""
    from aidetect.explain import explain

    return explain(served.detector, upload.data, stride=stride, method=method)


def explanation_json(upload: Upload, explanation: Any, legend: bool = True) -> dict[str, Any]:
    """The prediction's fields, the cell grid and its values, and the overlay as base64 PNG."""
    prediction = dataclasses.asdict(explanation.prediction)
    prediction.pop("source", None)  # "<N bytes>": the upload's own name is in "file"
    height, width = explanation.heatmap.shape
    return {
        "file": upload.name,
        **prediction,
        "explanation": {
            "method": explanation.method,
            "cell_size": explanation.cell_size,
            "stride": explanation.stride,
            "value_label": explanation.value_label,
            "value_range": list(explanation.value_range),
            "threshold": explanation.threshold,
            "width": width,
            "height": height,
            "cells": [cell.to_dict() for cell in explanation.cells],
        },
        "overlay_png": base64.b64encode(overlay_png(explanation, legend)).decode("ascii"),
        "error": None,
    }
