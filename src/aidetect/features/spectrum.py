"""Fourier-spectrum features of the noise residual: shape of the spectrum and periodic peaks.

Generators up-sample feature maps (transposed convolutions, nearest or
bilinear resizing, patch-based decoders); that leaves periodic correlations
with periods of 2, 4 or 8 pixels. In the spectrum of the noise residual they
show as isolated peaks at frequencies 1/2, 1/4, 1/8 cycles per pixel, and
the decoder's smoothness shows as a power deficit at high frequencies.
Periodic *correlation* (resampling) is invisible in a residual's own
spectrum; it shows in the spectrum of a local energy map instead: the
luminance gradient magnitude ``|dY/dx| + |dY/dy|``, which is periodically
small where pixels were interpolated (nearest, bilinear and bicubic 2x
up-sampling all give a clear peak at 1/2 cycle per pixel). Peaks are measured
in both spectra.

The radial profile uses normalised frequency (cycles per pixel) and a fixed
number of bins, so the vector length does not depend on the image size; it
is log power minus its mean, i.e. independent of the overall noise level
(which `aidetect.features.noise` measures).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from aidetect.features._stats import luma

N_RADIAL_BINS = 32
"""Radial bins over normalised frequency ``0 < r <= sqrt(0.5)`` cycles per pixel."""

PERIODS: tuple[int, ...] = (2, 4, 8)
"""Periods (pixels) whose spectral peaks are measured: up-sampling by 2 and 4, the 8x8 JPEG / patch grid."""

LOW_CUTOFF = 0.05
"""Frequencies below this (cycles per pixel) hold scene content and are left out of peak statistics."""


def _peak_names(prefix: str) -> list[str]:
    names = [f"{prefix}_peak_max", f"{prefix}_spike_fraction"]
    return names + [f"{prefix}_peak_p{period}_{where}" for period in PERIODS for where in ("axis", "diag")]


NAMES: list[str] = (
    [f"spec_radial_{i:02d}" for i in range(N_RADIAL_BINS)] + _peak_names("spec_resid") + _peak_names("spec_energy")
)
"""One name per value of `spectrum_features`, in order.

``spec_radial_XX``: mean-removed log10 power of the residual in radial bin XX
(low to high frequency). For the residual spectrum (``spec_resid``) and the
energy-map spectrum (``spec_energy``), with power *whitened* by dividing by
the mean power at the same radius: the log of the largest whitened power
above `LOW_CUTOFF` and the log10 fraction of frequencies more than
`SPIKE_FACTOR` times their radius' mean (spikiness); then, for each period in
`PERIODS`, the log ratio of the power at that frequency on the axes and on the
diagonals to the median power of the ring 3 to 5 bins around it.
"""

SPIKE_FACTOR = 10.0
"""Whitened power above which a frequency counts as a spike."""

@lru_cache(maxsize=16)
def _window(height: int, width: int) -> np.ndarray:
    return np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)


@lru_cache(maxsize=16)
def _radial_layout(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-frequency radial bin index (-1 at DC), bin counts, and the mask of frequencies above the cut-off."""
    radius = np.hypot(np.fft.fftfreq(height)[:, None], np.fft.fftfreq(width)[None, :])
    index = np.minimum((radius / np.sqrt(0.5) * N_RADIAL_BINS).astype(np.int64), N_RADIAL_BINS - 1)
    index[0, 0] = -1
    counts = np.bincount(index[index >= 0], minlength=N_RADIAL_BINS)
    return index.ravel(), counts, (radius >= LOW_CUTOFF)


def power_spectrum(plane: np.ndarray) -> np.ndarray:
    """``|FFT|^2`` of a 2-D float plane after removing its mean and applying a Hann window."""
    import scipy.fft

    plane = plane.astype(np.float32, copy=False)
    windowed = (plane - plane.mean()) * _window(*plane.shape)
    spectrum = scipy.fft.fft2(windowed, workers=1)
    result: np.ndarray = (spectrum.real**2 + spectrum.imag**2).astype(np.float64)
    return result


def radial_means(power: np.ndarray) -> np.ndarray:
    """Azimuthal mean of ``power`` in each of the `N_RADIAL_BINS` radial bins (DC left out)."""
    index, counts, _ = _radial_layout(*power.shape)
    keep = index >= 0
    sums = np.bincount(index[keep], weights=power.ravel()[keep], minlength=N_RADIAL_BINS)
    filled = counts > 0
    means = np.zeros(N_RADIAL_BINS)
    means[filled] = sums[filled] / counts[filled]
    if not filled.all():  # tiny images: some annuli hold no frequency sample
        centres = np.arange(N_RADIAL_BINS)
        means = np.interp(centres, centres[filled], means[filled])
    return means


def radial_profile(means: np.ndarray) -> np.ndarray:
    """Mean-removed log10 of the radial means: the spectrum's shape, whatever the noise level."""
    profile = np.log10(means + 1e-12)
    result: np.ndarray = profile - profile.mean()
    return result


def _ring_peaks(power: np.ndarray, points: list[tuple[int, int]]) -> np.ndarray:
    """Per point, log of the strongest power within 1 bin over the median power of the ring 3-5 bins away."""
    height, width = power.shape
    offsets = np.arange(-5, 6)
    dist = np.maximum(np.abs(offsets)[:, None], np.abs(offsets)[None, :]).ravel()
    patches = np.stack(
        [power[np.ix_((row + offsets) % height, (col + offsets) % width)].ravel() for row, col in points]
    )
    peak = patches[:, dist <= 1].max(axis=1)
    ring = np.median(patches[:, dist >= 3], axis=1)
    result: np.ndarray = np.log((peak + 1e-12) / (ring + 1e-12))
    return result


def peak_statistics(power: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Whitened peak height, spike fraction, and the ring-relative peak at each period's frequencies."""
    height, width = power.shape
    index, _, high = _radial_layout(height, width)
    selected = high.ravel()
    whitened = power.ravel()[selected] / (means[index[selected]] + 1e-12)
    if whitened.size:
        stats = [float(np.log(whitened.max() + 1e-12)), float(np.log10((whitened > SPIKE_FACTOR).mean() + 1e-4))]
    else:
        stats = [0.0, -4.0]
    points = []
    for period in PERIODS:
        row, col = round(height / period), round(width / period)
        points += [(0, col), (row, 0), (row, col), (-row, col)]
    peaks = _ring_peaks(power, points).reshape(len(PERIODS), 2, 2).mean(axis=2)  # (period, axis|diag)
    return np.concatenate([stats, peaks.ravel()])


def gradient_energy(image: np.ndarray) -> np.ndarray:
    """``|dY/dx| + |dY/dy|`` of the luminance (forward differences, edge-replicated): the resampling energy map."""
    plane = luma(image)
    dx = np.abs(np.diff(plane, axis=1, append=plane[:, -1:]))
    dy = np.abs(np.diff(plane, axis=0, append=plane[-1:, :]))
    return dx + dy


def luma_residual(image: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
    """Luminance of the median-filter noise residual (see `aidetect.features.noise.noise_residual`)."""
    if residual is None:
        from aidetect.features.noise import noise_residual

        residual = noise_residual(image)
    return luma(residual)


def spectrum_features(image: np.ndarray, residual: np.ndarray | None = None) -> np.ndarray:
    """Spectrum feature vector (see `NAMES`) of an RGB ``uint8`` image, as float32.

    ``residual`` may pass in a precomputed `aidetect.features.noise.noise_residual` of the same image.
    """
    plane = luma_residual(image, residual)
    resid_power = power_spectrum(plane)
    energy_power = power_spectrum(gradient_energy(image))
    resid_means, energy_means = radial_means(resid_power), radial_means(energy_power)
    parts = [
        radial_profile(resid_means),
        peak_statistics(resid_power, resid_means),
        peak_statistics(energy_power, energy_means),
    ]
    result: np.ndarray = np.nan_to_num(np.concatenate(parts)).astype(np.float32)
    return result
