"""Tests of the example plugin; run with ``pip install -e '.[test]' && pytest`` in examples/plugin."""

from __future__ import annotations

import numpy as np
from aidetect_plugin_example import SaturationDetector
from aidetect_plugin_example.detector import mean_saturation

import aidetect
from aidetect.registry import reset_registry


def test_mean_saturation() -> None:
    grey = np.full((8, 8, 3), 120, dtype=np.uint8)
    red = np.zeros((8, 8, 3), dtype=np.uint8)
    red[..., 0] = 200
    assert mean_saturation(grey) == 0.0 and mean_saturation(red) == 1.0
    assert mean_saturation(np.zeros((8, 8, 3), dtype=np.uint8)) == 0.0  # black: no division by zero


def test_vivid_images_score_higher_than_grey_ones() -> None:
    rng = np.random.default_rng(0)
    grey = np.repeat(rng.integers(0, 255, (64, 64, 1), dtype=np.uint8), 3, axis=2)
    vivid = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    vivid[..., 2] //= 8
    detector = SaturationDetector()
    low, high = detector.predict_batch([grey, vivid])
    assert low.label == "real" and high.label == "ai" and low.score < 0.5 < high.score


def test_installed_plugin_is_found_through_its_entry_point() -> None:
    reset_registry()
    assert isinstance(aidetect.load("example-saturation"), SaturationDetector)
    assert isinstance(aidetect.load("saturation", threshold=0.9), SaturationDetector)
