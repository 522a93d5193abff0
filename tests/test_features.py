"""Tests of aidetect.features on small synthetic images: shapes, determinism, and that each cue shows."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from aidetect.errors import ImageTooSmallError  # noqa: E402
from aidetect.features import FEATURE_NAMES, ela, forensic_features, noise, spectrum  # noqa: E402
from aidetect.preprocess import jpeg_recompress  # noqa: E402

INDEX = {name: i for i, name in enumerate(FEATURE_NAMES)}


def texture(height: int, width: int, seed: int = 0, noise_sd: float = 4.0) -> np.ndarray:
    """A never-compressed photo-like image: smooth random structure plus pixel noise."""
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur((rng.random((height, width, 3)) * 255).astype(np.float32), (0, 0), 3)
    base = (base - base.min()) / (base.max() - base.min()) * 200 + 20
    return np.clip(np.rint(base + rng.normal(0, noise_sd, base.shape)), 0, 255).astype(np.uint8)


def feature(image: np.ndarray, name: str) -> float:
    return float(forensic_features(image)[INDEX[name]])


# -- shape, names, determinism -------------------------------------------------------------------


def test_names_are_unique_and_match_the_families() -> None:
    assert len(FEATURE_NAMES) == len(set(FEATURE_NAMES))
    assert [*ela.NAMES, *noise.NAMES, *spectrum.NAMES] == FEATURE_NAMES


@pytest.mark.parametrize(("height", "width"), [(64, 64), (200, 300), (512, 512), (16, 21)])
def test_length_is_fixed_whatever_the_size(height: int, width: int) -> None:
    vector = forensic_features(texture(height, width))
    assert vector.shape == (len(FEATURE_NAMES),)
    assert vector.dtype == np.float32
    assert np.isfinite(vector).all()


@pytest.mark.parametrize("extractor", [ela.ela_features, noise.noise_features, spectrum.spectrum_features])
def test_each_family_matches_its_names(extractor) -> None:
    names = {ela.ela_features: ela.NAMES, noise.noise_features: noise.NAMES, spectrum.spectrum_features: spectrum.NAMES}
    assert extractor(texture(48, 80)).shape == (len(names[extractor]),)


def test_deterministic() -> None:
    image = texture(96, 128, seed=3)
    first = forensic_features(image)
    second = forensic_features(image.copy())
    np.testing.assert_array_equal(first, second)


def test_degenerate_images_give_finite_values() -> None:
    for image in (np.zeros((32, 32, 3), np.uint8), np.full((32, 32, 3), 255, np.uint8)):
        assert np.isfinite(forensic_features(image)).all()


def test_accepts_grayscale_and_refuses_tiny_images() -> None:
    gray = texture(40, 40)[:, :, 0]
    assert forensic_features(gray).shape == (len(FEATURE_NAMES),)
    with pytest.raises(ImageTooSmallError):
        forensic_features(np.zeros((8, 40, 3), np.uint8))


def test_import_does_not_load_opencv_or_sklearn() -> None:
    code = "import sys, aidetect.features; print('cv2' in sys.modules, 'sklearn' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- ELA -----------------------------------------------------------------------------------------


def test_ela_separates_never_compressed_from_recompressed() -> None:
    original = texture(128, 128, seed=1)
    recompressed = jpeg_recompress(original, 75)
    # Re-saving at the quality it already has barely changes a JPEG; an uncompressed image changes a lot.
    assert feature(recompressed, "ela_q75_g_mean") < 0.3 * feature(original, "ela_q75_g_mean")
    assert feature(recompressed, "ela_q75_hist_0_0") > 0.4 > feature(original, "ela_q75_hist_0_0")
    # The earlier compression left its 8x8 grid in the pixels.
    assert feature(recompressed, "jpeg_blockiness_h") > feature(original, "jpeg_blockiness_h") + 0.1


def test_ela_grid_statistics_find_energy_on_block_boundaries() -> None:
    energy = np.ones((64, 64))
    energy[:, ::8] = 5.0  # column phase 0 lies on the grid
    ratio, periodicity = ela.grid_statistics(energy)
    assert ratio > 0.5
    assert periodicity > 0.5
    flat_ratio, flat_periodicity = ela.grid_statistics(np.ones((64, 64)))
    assert abs(flat_ratio) < 1e-6 and flat_periodicity < 1e-6


# -- noise ---------------------------------------------------------------------------------------


def test_noise_channel_correlation() -> None:
    rng = np.random.default_rng(2)
    shared = rng.normal(0, 6, (96, 96, 1))
    same = np.clip(128 + np.repeat(shared, 3, axis=2), 0, 255).astype(np.uint8)
    independent = np.clip(128 + rng.normal(0, 6, (96, 96, 3)), 0, 255).astype(np.uint8)
    assert feature(same, "noise_corr_rg") > 0.95
    assert abs(feature(independent, "noise_corr_rg")) < 0.1


def test_noise_that_grows_with_brightness_is_seen() -> None:
    rng = np.random.default_rng(3)
    ramp = np.linspace(20, 230, 128)[None, :, None] * np.ones((128, 1, 3))
    shot = np.clip(ramp + rng.normal(0, 1, ramp.shape) * ramp * 0.05, 0, 255).astype(np.uint8)
    constant = np.clip(ramp + rng.normal(0, 5, ramp.shape), 0, 255).astype(np.uint8)
    assert feature(shot, "noise_localvar_intensity_corr") > 0.6
    assert abs(feature(constant, "noise_localvar_intensity_corr")) < 0.4


def test_smooth_image_has_less_residual_than_noisy() -> None:
    assert feature(texture(64, 64, noise_sd=0.0), "noise_g_std") < feature(texture(64, 64, noise_sd=8.0), "noise_g_std")


def test_cooccurrence_is_a_unit_vector_of_symmetry_classes() -> None:
    assert noise.N_COOC_BINS == 39  # 125 triples of {-2..2} up to sign and reversal
    planes = noise._cooc_planes(texture(40, 56))
    values = noise.cooccurrence(planes["y"], 2, 2)
    assert values.shape == (noise.N_COOC_BINS,)
    assert np.isclose((values**2).sum(), 1.0)


def test_cooccurrence_sees_a_staircase() -> None:
    ramp = np.tile(np.arange(64, dtype=np.int16) // 2, (64, 1))  # steps of 1 every 2 pixels
    values = noise.cooccurrence(ramp, 1, 1)
    smooth = noise.cooccurrence(np.zeros((64, 64), np.int16), 1, 1)
    assert np.count_nonzero(values) >= 2 and np.count_nonzero(smooth) == 1


# -- spectrum ------------------------------------------------------------------------------------


def test_upsampling_shows_as_a_period_2_peak() -> None:
    small = texture(128, 128, seed=4)
    native = feature(texture(256, 256, seed=5), "spec_energy_peak_p2_axis")
    for interpolation in (cv2.INTER_NEAREST, cv2.INTER_LINEAR):
        upsampled = cv2.resize(small, (256, 256), interpolation=interpolation)
        assert feature(upsampled, "spec_energy_peak_p2_axis") > native + 3.0


def test_upsampled_noise_differs_from_plain_noise() -> None:
    rng = np.random.default_rng(8)
    plain = (rng.random((128, 128, 3)) * 255).astype(np.uint8)
    upsampled = cv2.resize((rng.random((64, 64, 3)) * 255).astype(np.uint8), (128, 128), interpolation=cv2.INTER_LINEAR)
    assert feature(upsampled, "spec_energy_peak_p2_axis") > feature(plain, "spec_energy_peak_p2_axis") + 3.0


def test_added_sinusoid_shows_in_the_residual_spectrum() -> None:
    plain = texture(128, 128, seed=6)
    wave = 6 * np.sin(2 * np.pi * np.arange(128) / 4)[None, :, None]
    periodic = np.clip(plain + wave, 0, 255).astype(np.uint8)
    assert feature(periodic, "spec_resid_peak_p4_axis") > feature(plain, "spec_resid_peak_p4_axis") + 2.0
    assert feature(periodic, "spec_resid_peak_max") > feature(plain, "spec_resid_peak_max") + 1.0


def test_radial_profile_is_level_free_and_sees_smoothing() -> None:
    noisy = texture(128, 128, seed=7, noise_sd=8)
    blurred = cv2.GaussianBlur(noisy, (0, 0), 1.0)
    names = [f"spec_radial_{i:02d}" for i in range(spectrum.N_RADIAL_BINS)]
    profile = forensic_features(noisy)[[INDEX[n] for n in names]]
    assert abs(profile.mean()) < 1e-4
    # Blurring removes the highest frequencies relative to the rest.
    high = INDEX[names[-8]]
    assert forensic_features(blurred)[high] < forensic_features(noisy)[high]
