"""Error Level Analysis (ELA): how much an image changes when it is saved as JPEG again.

Re-saving at quality ``q`` and taking ``|image - resaved|`` measures how far
the pixels are from a fixed point of that JPEG quantiser. A never-compressed
image (a camera raw conversion, a generator's PNG) changes a lot and evenly;
an image already JPEG-compressed at or below ``q`` barely changes, and what
does change concentrates on its 8x8 block grid. The spread of the error over
smooth and textured areas also reflects how much fine detail the image has,
which differs between photographs and generated images.

All statistics are normalised (means, fractions, ratios), so the vector
length and scale do not depend on the image size.
"""

from __future__ import annotations

import itertools

import numpy as np

from aidetect.features._stats import log_ratio, luma, moments_from_histogram, tame

QUALITIES: tuple[int, ...] = (95, 85, 75)
"""JPEG qualities the image is re-saved at."""

HIST_EDGES: tuple[int, ...] = (0, 1, 2, 3, 5, 9, 17, 33, 256)
"""Bin edges of the coarse error histogram (integer error levels, last bin open)."""

_CHANNELS = ("r", "g", "b")
_MOMENTS = ("mean", "std", "skew", "kurt")


def _names_for_quality(quality: int) -> list[str]:
    names = [f"ela_q{quality}_{c}_{m}" for m in _MOMENTS for c in _CHANNELS]
    names += [f"ela_q{quality}_hist_{lo}_{hi - 1}" for lo, hi in itertools.pairwise(HIST_EDGES)]
    names += [f"ela_q{quality}_grid_on_off", f"ela_q{quality}_grid_periodicity"]
    return names


NAMES: list[str] = [name for q in QUALITIES for name in _names_for_quality(q)] + [
    "jpeg_blockiness_h",
    "jpeg_blockiness_v",
]
"""One name per value of `ela_features`, in order.

Per quality ``q``: per-channel mean / std / skewness / excess kurtosis of the
error (skewness and kurtosis log-compressed), the fraction of error values in
each `HIST_EDGES` bin, the log ratio of error energy on the 8x8 grid lines to
inside the blocks, and the coefficient of variation of the error over the 64
grid phases (alignment-free periodicity). Finally the blockiness of the image
itself: the largest of the 8 column (row) phases of the horizontal (vertical)
gradient over their median, which is high for a previously JPEG-compressed image.
"""


def _bgr_roundtrip(bgr: np.ndarray, quality: int) -> np.ndarray:
    import cv2

    ok, buffer = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError(f"OpenCV could not JPEG-encode an image of shape {bgr.shape}")
    decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if decoded is None:  # cannot happen for a buffer cv2.imencode just wrote; narrows the Optional
        raise ValueError(f"OpenCV could not decode its own JPEG of an image of shape {bgr.shape}")
    return decoded


def jpeg_roundtrip(image: np.ndarray, quality: int) -> np.ndarray:
    """Encode an RGB ``uint8`` image as JPEG (4:2:0, OpenCV/libjpeg) and decode it again."""
    import cv2

    bgr = _bgr_roundtrip(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR), quality)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def error_level(image: np.ndarray, quality: int) -> np.ndarray:
    """The ELA map: ``|image - jpeg(image, quality)|`` as ``uint8`` ``HxWx3`` (RGB order)."""
    import cv2

    return cv2.absdiff(np.ascontiguousarray(image), jpeg_roundtrip(image, quality))


def _channel_histograms(diff: np.ndarray, channels: tuple[int, int, int] = (0, 1, 2)) -> np.ndarray:
    """``(3, 256)`` counts of the error levels of each channel, in the order ``channels``."""
    import cv2

    return np.stack([cv2.calcHist([diff], [c], None, [256], [0, 256]).ravel() for c in channels])


def _error_statistics(counts: np.ndarray) -> np.ndarray:
    """Channel moments (skew/kurtosis tamed) and the pooled coarse histogram."""
    moments = moments_from_histogram(counts, np.arange(256, dtype=np.float64))  # (3, 4)
    moments[:, 2:] = tame(moments[:, 2:])
    pooled = counts.sum(axis=0)
    coarse = np.add.reduceat(pooled, HIST_EDGES[:-1]) / max(float(pooled.sum()), 1.0)
    return np.concatenate([moments.T.ravel(), coarse])


def grid_statistics(energy: np.ndarray) -> np.ndarray:
    """Grid-vs-interior log ratio and phase periodicity of a 2-D energy map on the 8x8 JPEG grid.

    Phase ``(i, j)`` averages the pixels at ``row % 8 == i`` and ``col % 8 == j``;
    grid lines are phases 0 and 7 (either side of a block boundary).
    """
    rows, cols = energy.shape[0] // 8, energy.shape[1] // 8
    if rows == 0 or cols == 0:
        return np.zeros(2)
    phases = energy[: rows * 8, : cols * 8].reshape(rows, 8, cols, 8).mean(axis=(0, 2))
    on_grid = np.zeros((8, 8), dtype=bool)
    on_grid[[0, 7], :] = True
    on_grid[:, [0, 7]] = True
    ratio = log_ratio(phases[on_grid].mean(), phases[~on_grid].mean())
    periodicity = float(phases.std() / (phases.mean() + 1e-6))
    return np.array([ratio, periodicity])


def jpeg_blockiness(image: np.ndarray) -> np.ndarray:
    """Alignment-free blockiness of the image: peak-over-median of the 8 gradient phases, per direction."""
    plane = luma(image)
    values = []
    for grad in (np.abs(np.diff(plane, axis=1)).mean(axis=0), np.abs(np.diff(plane, axis=0)).mean(axis=1)):
        usable = grad.size // 8 * 8
        if usable == 0:
            values.append(0.0)
            continue
        phases = grad[:usable].reshape(-1, 8).mean(axis=0)
        values.append(log_ratio(float(phases.max()), float(np.median(phases))))
    return np.array(values)


def ela_features(image: np.ndarray) -> np.ndarray:
    """ELA feature vector (see `NAMES`) of an RGB ``uint8`` ``HxWx3`` image, as float32."""
    import cv2

    bgr = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)
    parts = []
    for quality in QUALITIES:
        diff = cv2.absdiff(bgr, _bgr_roundtrip(bgr, quality))  # BGR order: histogram channels 2, 1, 0 = R, G, B
        parts.append(_error_statistics(_channel_histograms(diff, (2, 1, 0))))
        parts.append(grid_statistics(cv2.cvtColor(diff.astype(np.float32), cv2.COLOR_BGR2GRAY)))
    parts.append(jpeg_blockiness(image))
    result: np.ndarray = np.nan_to_num(np.concatenate(parts)).astype(np.float32)
    return result
