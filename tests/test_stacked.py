"""The fitted ``stacked`` ensemble: fitting on member scores, the card, the cascade, refusing missing members."""

from __future__ import annotations

import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import aidetect
from aidetect.detectors.stacked import StackedEnsembleDetector
from aidetect.errors import DetectorError, WeightsError
from aidetect.metrics import roc_auc
from aidetect.stacking import StackedModel
from aidetect.training.stacking import choose_bands, cross_validated_auc, fit_stacked, select_members
from conftest import BrightnessDetector


class RednessDetector(BrightnessDetector):
    """Raw score: red minus blue channel mean; counts the images it is asked about."""

    name: ClassVar[str] = "test-redness"
    calls: ClassVar[list[int]] = []

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([(crop[..., 0].mean() - crop[..., 2].mean()) / 20.0 for crop in crops])

    def decision_function(self, images: Any, batch_size: int = 32) -> np.ndarray:
        images = list(images)
        RednessDetector.calls.append(len(images))
        return super().decision_function(images, batch_size)


class RulelessDetector:
    """A duck-typed plugin detector: predict and predict_batch, nothing a stacked member needs beyond that."""

    name = "test-ruleless"

    def predict(self, image: Any) -> aidetect.Prediction:
        return aidetect.Prediction(0.5, "real", 0.5, self.name)

    def predict_batch(self, images: Any, batch_size: int = 32) -> list[aidetect.Prediction]:
        return [self.predict(image) for image in images]


@aidetect.hookimpl
def register_detectors(register: Any) -> None:
    register("test-redness", RednessDetector, description="red minus blue (tests)", backend="numpy")
    register("test-ruleless", RulelessDetector, description="no decision rule (tests)", backend="numpy")


@pytest.fixture
def members(test_detectors: Any, plugin_entry_points: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    module = types.ModuleType("aidetect_test_redness")
    module.register_detectors = register_detectors  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aidetect_test_redness", module)
    plugin_entry_points["aidetect-tests-redness"] = "aidetect_test_redness"
    aidetect.registry.reset_registry()
    RednessDetector.calls.clear()
    return aidetect.registry.get_registry()


def synthetic_scores(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two informative members on different scales, one pure-noise member; 12 sources."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(int)
    signal = labels * 2.0 - 1.0
    raw = np.column_stack([
        signal * 1.0 + rng.normal(size=n) * 1.5,           # a logit
        (signal * 0.8 + rng.normal(size=n) * 1.5) * 10.0,  # a margin on another scale
        rng.normal(size=n) * 3.0,                           # noise
    ])
    return raw, labels, [f"src{i % 12}" for i in range(n)]


def test_select_members_drops_a_member_that_does_not_help() -> None:
    raw, labels, sources = synthetic_scores()
    chosen, table = select_members(raw, labels, ["a", "b", "noise"], sources)
    assert chosen == ["a", "b"]
    assert len(table) == 7
    pair = cross_validated_auc(raw[:, :2], labels, sources)
    assert pair > max(cross_validated_auc(raw[:, [0]], labels, sources),
                      cross_validated_auc(raw[:, [1]], labels, sources)) + 0.01


def test_fit_stacked_round_trips_through_its_card(tmp_path: Path) -> None:
    raw, labels, sources = synthetic_scores()
    held = np.arange(len(labels)) >= 400
    model = fit_stacked(raw[:, :2], labels, ["a", "b"], calibration_rows=held, sources=sources)
    assert (model.coef > 0).all()
    probabilities = model.probability(raw[:, :2])
    assert roc_auc(labels, probabilities) > roc_auc(labels, raw[:, 0])
    assert 0.0 < model.threshold < 1.0
    real_sources = np.array(sources)[held & (labels == 0)]
    rates = [(probabilities[held & (labels == 0)][real_sources == s] >= model.threshold).mean()
             for s in sorted(set(real_sources))]
    assert np.mean(rates) <= 0.05 + 1e-9  # the default-threshold rule holds where it was chosen
    loaded = StackedModel.read(model.write(tmp_path / "stacked.json"))
    assert np.allclose(loaded.probability(raw[:, :2]), probabilities)
    with pytest.raises(WeightsError):
        StackedModel.from_dict({"members": [{"name": "a"}]})


def test_choose_bands_keeps_auc_and_consults_fewer() -> None:
    raw, labels, sources = synthetic_scores()
    cheap = 1 / (1 + np.exp(-raw[:, 0]))
    model = fit_stacked(raw[:, :2], labels, ["a", "b"], calibration_rows=np.ones(len(labels), bool),
                        sources=sources)
    stacked = model.probability(raw[:, :2])
    bands = choose_bands(cheap, stacked, labels, {"wide": 0.002, "narrow": 0.01})
    for band in bands.values():
        assert band["val_auc"] >= band["val_auc_full_stack"] - band["allowed_auc_loss"]
        assert 0.0 < band["val_share_consulted"] < 1.0
    assert bands["narrow"]["val_share_consulted"] <= bands["wide"]["val_share_consulted"]


def colour_images(count: int = 40, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """AI = brighter and redder, with noise, so each member alone is imperfect."""
    rng = np.random.default_rng(seed)
    labels = (np.arange(count) % 2).astype(int)
    images = []
    for label in labels:
        grey = 128 + (30 if label else -30) + rng.normal() * 40
        red_minus_blue = (40 if label else -40) + rng.normal() * 60
        colour = np.clip([grey + red_minus_blue / 2, grey, grey - red_minus_blue / 2], 0, 255)
        images.append(np.full((32, 32, 3), colour, dtype=np.uint8))
    return images, labels


def fitted_card(tmp_path: Path, names: list[str]) -> Path:
    images, labels = colour_images()
    detectors = [aidetect.load(name) for name in names]
    raw = np.column_stack([m.decision_function(images) for m in detectors])
    model = fit_stacked(raw, labels, names, calibration_rows=np.ones(len(labels), bool),
                        sources=["s"] * len(labels))
    cheap = detectors[0].calibrate(raw[:, 0])
    bands = choose_bands(cheap, model.probability(raw), labels, {"narrow": 0.02})
    model = StackedModel(**{**vars(model), "cascade": {"cheap": names[0], "bands": bands},
                            "member_versions": {names[0]: {"sha256": "abc"}}})
    return model.write(tmp_path / "stacked.json")


def test_stacked_detector_predicts_and_cascade_consults_only_the_band(members: Any, tmp_path: Path) -> None:
    card = fitted_card(tmp_path, ["test-brightness", "test-redness"])
    images, labels = colour_images(seed=1)
    full = StackedEnsembleDetector(card)
    scores = np.array([p.score for p in full.predict_batch(images)])
    assert roc_auc(labels, scores) > 0.8
    RednessDetector.calls.clear()
    cascade = StackedEnsembleDetector(card, cascade="narrow")
    cascaded = np.array([p.score for p in cascade.predict_batch(images)])
    band = cascade.cascade_band()
    cheap = aidetect.load("test-brightness")
    cheap_probability = cheap.calibrate(cheap.decision_function(images))
    inside = (cheap_probability >= band[0]) & (cheap_probability < band[1])
    assert RednessDetector.calls == ([int(inside.sum())] if inside.any() else [])
    assert np.allclose(cascaded[~inside], cheap_probability[~inside])
    assert np.allclose(cascaded[inside], scores[inside])
    with pytest.raises(DetectorError, match="no cascade band 'wide'"):
        StackedEnsembleDetector(card, cascade="wide").predict(images[0])


@pytest.mark.parametrize(("member", "message"), [
    ("test-broken", "weights are missing on purpose"),
    ("test-needs-module", "pip install 'aidetect-images\\[fake-extra\\]'"),
])
def test_a_missing_member_is_refused_with_its_install_hint(members: Any, tmp_path: Path, member: str,
                                                           message: str) -> None:
    model = StackedModel(("test-brightness", member), np.zeros(2), np.ones(2), np.ones(2), 0.0,
                         {"method": "sigmoid"})
    card = model.write(tmp_path / "stacked.json")
    with pytest.raises(DetectorError, match=message) as caught:
        StackedEnsembleDetector(card).predict(np.zeros((32, 32, 3), np.uint8))
    assert member in str(caught.value) and "refuses" in str(caught.value)


def test_a_member_without_the_clip_encoder_is_refused_with_the_install_command(
        members: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDETECT_HOME", str(tmp_path / "empty-cache"))
    model = StackedModel(("test-brightness", "clip"), np.zeros(2), np.ones(2), np.ones(2), 0.0, {"method": "sigmoid"})
    with pytest.raises(DetectorError, match="aidetect weights install clip"):
        StackedEnsembleDetector(model.write(tmp_path / "stacked.json")).predict(np.zeros((32, 32, 3), np.uint8))


def test_a_member_of_another_version_warns_to_refit(members: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    card = fitted_card(tmp_path, ["test-brightness", "test-redness"])
    monkeypatch.setattr(BrightnessDetector, "card_", property(lambda self: {"weights": {"sha256": "def"}}),
                        raising=False)
    with pytest.warns(UserWarning, match="fit_ensemble.py"):
        StackedEnsembleDetector(card).predict(np.zeros((32, 32, 3), np.uint8))


def test_a_member_without_a_decision_rule_is_a_typed_refusal(members: Any, tmp_path: Path) -> None:
    model = StackedModel(("test-brightness", "test-ruleless"), np.zeros(2), np.ones(2), np.ones(2), 0.0,
                         {"method": "sigmoid"})
    with pytest.raises(DetectorError, match="offers no decision_rule"):
        StackedEnsembleDetector(model.write(tmp_path / "stacked.json")).predict(np.zeros((32, 32, 3), np.uint8))


def test_member_version_tells_apart_the_same_weights_judged_on_other_crops() -> None:
    """An input-size change in a card changes a member's logits without touching its weights file."""
    from aidetect.stacking import member_version

    bundled = aidetect.load("efficientnet")
    resized = aidetect.load("efficientnet")
    resized.adopt_card(resized.card_.replace(input_size=resized.card_.input_size + 32))
    assert member_version(bundled)["sha256"] == member_version(resized)["sha256"]
    assert member_version(bundled) != member_version(resized)
