"""Drawing explanations with Pillow alone: colour maps, the overlay and its legend.

Scores (0 to 1) use a perceptually uniform sequential map (inferno: dark is
low, bright yellow is high); signed values (occlusion drops) a diverging
blue-grey-red map centred on zero. Small images are enlarged by an integer
factor with nearest-neighbour sampling for display only, so every source
pixel stays a visible block.
"""

from __future__ import annotations

import math
import textwrap
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from aidetect.explain.explanation import Explanation

_INFERNO = [(0, 0, 4), (31, 12, 72), (85, 15, 109), (136, 34, 106), (186, 54, 85),
            (227, 89, 51), (249, 140, 10), (249, 201, 50), (252, 255, 164)]
_DIVERGING = [(59, 76, 192), (141, 176, 254), (221, 221, 221), (244, 154, 123), (180, 4, 38)]
LEGEND_BACKGROUND, INK = (255, 255, 255), (20, 20, 20)


def _lut(anchors: list[tuple[int, int, int]]) -> np.ndarray:
    """256 RGB colours linearly interpolated between evenly spaced anchors."""
    steps = np.linspace(0.0, 1.0, len(anchors))
    values = np.linspace(0.0, 1.0, 256)
    return np.stack([np.interp(values, steps, [c[i] for c in anchors]) for i in range(3)], axis=1).astype(np.uint8)


SEQUENTIAL, DIVERGING = _lut(_INFERNO), _lut(_DIVERGING)


def colourise(values: np.ndarray, *, signed: bool) -> np.ndarray:
    """RGB ``uint8`` colours of ``values`` in [0, 1] (sequential) or [-1, 1] (``signed``, diverging)."""
    unit = (np.clip(values, -1.0, 1.0) + 1.0) / 2.0 if signed else np.clip(values, 0.0, 1.0)
    result: np.ndarray = (SEQUENTIAL if not signed else DIVERGING)[np.round(unit * 255).astype(np.intp)]
    return result


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: only the fixed bitmap font
        return ImageFont.load_default()


def _normalised(explanation: Explanation) -> np.ndarray:
    low, high = explanation.value_range
    if explanation.signed:
        return explanation.heatmap / max(abs(low), abs(high))
    return (explanation.heatmap - low) / (high - low)


def _blend(explanation: Explanation, alpha: float) -> np.ndarray:
    """The original with the colour map over it; a signed map fades out where it is near zero."""
    values = _normalised(explanation)
    colours = colourise(values, signed=explanation.signed).astype(np.float32)
    weight = np.full(values.shape, alpha, dtype=np.float32)
    if explanation.signed:
        weight = alpha * np.clip(np.abs(values) * 2.0, 0.0, 1.0)
    weight = weight[..., None]
    result: np.ndarray
    result = (explanation.image.astype(np.float32) * (1.0 - weight) + colours * weight).round().astype(np.uint8)
    return result


def render_overlay(
    explanation: Explanation, *, alpha: float, legend: bool, min_side: int, mark_hottest: bool
) -> PILImage.Image:
    """The overlay image `Explanation.overlay` returns."""
    from PIL import Image, ImageDraw

    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    height, width = explanation.heatmap.shape
    factor = max(1, math.ceil(min_side / max(height, width)))
    picture = Image.fromarray(_blend(explanation, alpha))
    if factor > 1:
        picture = picture.resize((width * factor, height * factor), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(picture)
    font = _font(max(12, picture.width // 40))
    for cell in explanation.hottest(1) if mark_hottest else []:
        box = [coordinate * factor for coordinate in cell.box]
        draw.rectangle([box[0], box[1], box[2] - 1, box[3] - 1], outline=(0, 0, 0), width=3)
        draw.rectangle([box[0] + 1, box[1] + 1, box[2] - 2, box[3] - 2], outline=(255, 255, 255), width=1)
        draw.text((box[0] + 4, box[1] + 3), f"{cell.value:+.2f}" if explanation.signed else f"{cell.value:.2f}",
                  fill=(255, 255, 255), font=font, stroke_width=2, stroke_fill=(0, 0, 0))
    return _with_legend(picture, _legend_lines(explanation, mark_hottest), explanation, font) if legend else picture


def _legend_lines(explanation: Explanation, mark_hottest: bool) -> list[str]:
    prediction = explanation.prediction
    verdict = f"{prediction.detector}: P(AI) = {prediction.score:.2f}, label {prediction.label!r} " \
              f"(threshold {prediction.threshold:.2f})"
    grid = f"{explanation.method}: {explanation.value_label}; {explanation.cell_size} px cells, " \
           f"stride {explanation.stride}"
    return [verdict, grid + ("; outlined: the hottest cell" if mark_hottest else "")]


def _ticks(explanation: Explanation) -> list[tuple[float, str]]:
    """Positions along the bar (0..1) and their labels; the threshold is marked when the values are scores."""
    low, high = explanation.value_range
    values = np.linspace(low, high, 5)
    ticks = [((v - low) / (high - low), f"{v:+.2f}" if explanation.signed else f"{v:.2f}") for v in values]
    if explanation.threshold is not None and low <= explanation.threshold <= high:
        ticks.append(((explanation.threshold - low) / (high - low), "threshold"))
    return ticks


def _with_legend(picture: PILImage.Image, text: list[str], explanation: Explanation, font: Any) -> PILImage.Image:
    from PIL import Image, ImageDraw

    size = int(getattr(font, "size", 11))
    margin, bar_height = size, size
    chars = max(20, int(picture.width / (0.55 * size)) - 2)
    lines = [wrapped for line in text for wrapped in textwrap.wrap(line, chars)]
    text_height = len(lines) * (size + 4)
    panel = 2 * margin + text_height + bar_height + 2 * size + 8
    canvas = Image.new("RGB", (picture.width, picture.height + panel), LEGEND_BACKGROUND)
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    y = picture.height + margin
    for line in lines:
        draw.text((margin, y), line, fill=INK, font=font)
        y += size + 4
    left, right = margin, picture.width - margin
    bar = np.linspace(-1.0, 1.0, right - left) if explanation.signed else np.linspace(0.0, 1.0, right - left)
    strip = np.repeat(colourise(bar, signed=explanation.signed)[None], bar_height, axis=0)
    canvas.paste(Image.fromarray(strip), (left, y + 4))
    draw.rectangle([left, y + 4, right - 1, y + 4 + bar_height], outline=INK)
    for position, label in _ticks(explanation):
        x = left + position * (right - left - 1)
        draw.line([x, y + 4 + bar_height, x, y + 8 + bar_height], fill=INK, width=2 if label == "threshold" else 1)
        anchor = "la" if position < 0.02 else "ra" if position > 0.98 else "ma"
        draw.text((x, y + 10 + bar_height + (size if label == "threshold" else 0)), label, fill=INK, font=font,
                  anchor=anchor)
    return canvas
