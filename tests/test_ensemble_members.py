"""The default ensemble says which members it combined, and refuses to be a one-detector "ensemble"."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import aidetect
from aidetect.detectors import ensemble as ensemble_module
from aidetect.errors import DetectorError
from aidetect.registry import DetectorInfo, get_registry


def pretend_missing(monkeypatch: pytest.MonkeyPatch, *absent: str) -> None:
    """Make the registry report ``absent`` detectors' packages as not installed (as in the core install)."""
    real_missing = DetectorInfo.missing

    def missing(self: DetectorInfo) -> list[str]:
        return ["torch"] if self.name in absent else real_missing(self)

    monkeypatch.setattr(DetectorInfo, "missing", missing)
    monkeypatch.setattr(ensemble_module, "_warned_missing", set())


def test_core_install_refuses_a_one_member_ensemble_with_an_install_hint(monkeypatch):
    pretend_missing(monkeypatch, "cnn", "forensic-svm")
    detector = aidetect.load("ensemble")
    with pytest.raises(DetectorError) as excinfo:
        detector.predict(np.zeros((64, 64, 3), dtype=np.uint8))
    message = str(excinfo.value)
    assert "only efficientnet can run here" in message
    assert "pip install 'aidetect-images[torch]'" in message and "members=" in message


def test_a_missing_member_is_warned_about_once_and_predictions_list_the_members(monkeypatch):
    pretend_missing(monkeypatch, "cnn")
    if get_registry().get("forensic-svm").missing():
        pytest.skip("needs the forensic extra")
    image = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = aidetect.load("ensemble").predict(image)
        second = aidetect.load("ensemble").predict(image)
    messages = [str(w.message) for w in caught if "ensemble runs with" in str(w.message)]
    assert messages == ["ensemble runs with efficientnet, forensic-svm only: cnn needs pip install "
                        "'aidetect-images[torch]'"]
    assert first.members == second.members == ("efficientnet", "forensic-svm")
    assert len(first.crop_scores) == 2 and first.to_dict()["members"] == ["efficientnet", "forensic-svm"]


def test_single_detectors_list_no_members():
    from conftest import BrightnessDetector

    prediction = BrightnessDetector().predict(np.full((32, 32, 3), 200, dtype=np.uint8))
    assert prediction.members == ()
