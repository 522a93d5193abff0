"""Training augmentation: rescaling and the simulated social-media pipeline act on both classes alike."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PIL")

from aidetect.training.augment import AugmentConfig, augment, rescale, social_pipeline


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (96, 128, 3), dtype=np.uint8)


def test_rescale_changes_size_in_both_directions(noise):
    rng = np.random.default_rng(0)
    assert rescale(noise, 2.0, rng).shape == (192, 256, 3)
    assert rescale(noise, 0.25, rng).shape == (24, 32, 3)


def test_social_pipeline_shrinks_and_recompresses(noise):
    out = social_pipeline(noise, np.random.default_rng(3), scale=(0.5, 0.5), quality=(60, 60))
    assert out.shape == (48, 64, 3)
    # JPEG at q60 cannot keep white noise: the result differs from a plain resize.
    assert np.abs(out.astype(int) - rescale(noise, 0.5, np.random.default_rng(3)).astype(int)).mean() > 2


@pytest.mark.parametrize("shape", [(20, 300, 3), (256, 256, 3), (64, 64, 3)])
def test_every_view_has_the_crop_size_even_from_tiny_images(shape):
    image = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    config = AugmentConfig(crop_size=96, rescale_p=1.0, social_p=0.5)
    rng = np.random.default_rng(2)
    for _ in range(20):
        assert augment(image, config, rng).shape == (96, 96, 3)


def test_views_are_reproducible_from_the_generator(noise):
    config = AugmentConfig(crop_size=64)
    first = augment(noise, config, np.random.default_rng(7))
    again = augment(noise, config, np.random.default_rng(7))
    assert np.array_equal(first, again)
