"""Tests of aidetect.evaluation with a tiny brightness detector on synthetic images in tmp_path."""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aidetect import metrics
from aidetect.datasets import REAL, Dataset, from_folder
from aidetect.detector import BaseDetector, CropPolicy
from aidetect.evaluation import (
    ROBUSTNESS_CONDITIONS,
    condition_names,
    evaluate,
    leave_one_generator_out,
    logo_to_markdown,
)
from aidetect.io import load_image
from aidetect.preprocess import downscale, jpeg_recompress, normalise_format

SIDE = 40


class BrightnessDetector(BaseDetector):
    """Mean brightness of the crop as a logit: bright images look 'AI'."""

    name = "brightness"

    def __init__(self, *, offset: float = 0.5, **kwargs) -> None:
        super().__init__(**kwargs)
        self.offset = offset

    def crop_policy(self) -> CropPolicy:
        return CropPolicy(input_size=32)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([(crop.mean() / 255.0 - self.offset) * 8.0 for crop in crops])


class TrainableBrightness(BrightnessDetector):
    """Learns its offset as the midpoint of the mean brightness of each class; remembers what it saw."""

    name = "trainable"

    def fit(self, dataset: Dataset) -> TrainableBrightness:
        self.train_set_ = dataset
        means = np.array([load_image(path).mean() / 255.0 for path in dataset.paths])
        labels = dataset.labels
        self.offset = float((means[labels == 0].mean() + means[labels == 1].mean()) / 2)
        return self


def textured(level: float, seed: int) -> np.ndarray:
    """A noisy image around ``level``, so JPEG and blur actually change it."""
    noise = np.random.default_rng(seed).normal(0, 25, size=(SIDE, SIDE, 3))
    return np.clip(level + noise, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def image_root(tmp_path_factory) -> Path:
    """real/ (PNG, darker) and fake/sd, fake/mj (JPEG, brighter), overlapping; one corrupt file."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    folders = {"real": (60, 150, "png"), "fake/sd": (110, 200, "jpg"), "fake/mj": (90, 170, "jpg")}
    for index, (folder, (low, high, ext)) in enumerate(folders.items()):
        (root / folder).mkdir(parents=True)
        for item in range(8):
            image = textured(rng.uniform(low, high), seed=100 * index + item)
            Image.fromarray(image).save(root / folder / f"{item}.{ext}")
    (root / "fake" / "sd" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    return root


@pytest.fixture(scope="module")
def dataset(image_root) -> Dataset:
    return from_folder(image_root)


def readable(dataset: Dataset) -> Dataset:
    return dataset.where(lambda sample: sample.path.name != "broken.png")


def direct_scores(detector: BaseDetector, dataset: Dataset, transform=None) -> tuple[np.ndarray, float]:
    """Scores computed without the evaluation runner: load, transform, predict."""
    arrays = [load_image(path) for path in dataset.paths]
    if transform is not None:
        arrays = [transform(array) for array in arrays]
    predictions = detector.predict_batch(arrays)
    return np.array([p.score for p in predictions]), predictions[0].threshold


def assert_reports_equal(ours: dict, expected: dict) -> None:
    assert ours.keys() == expected.keys()
    for key, value in expected.items():
        if isinstance(value, float):
            assert ours[key] == pytest.approx(value, nan_ok=True), key
        else:
            assert ours[key] == value, key


def test_clean_metrics_match_direct_computation(dataset):
    detector = BrightnessDetector(threshold=0.6)  # not the default: the prediction's own threshold must be used
    report = evaluate([detector], dataset, batch_size=5)
    good = readable(dataset)
    scores, threshold = direct_scores(detector, good)
    result = report.result("brightness")
    np.testing.assert_allclose(result.scores, scores)
    np.testing.assert_array_equal(result.labels, good.labels)
    assert result.generators == good.generators
    assert threshold == 0.6 and result.metrics["threshold"] == 0.6
    assert_reports_equal(result.metrics, metrics.binary_report(good.labels, scores, threshold))
    expected_groups = metrics.per_group_report(good.labels, scores, good.generators, threshold)
    assert result.per_generator.keys() == {"real", "sd", "mj"}
    for group, row in expected_groups.items():
        assert_reports_equal(result.per_generator[group], row)
    assert report.conditions == ["clean"]


def test_corrupt_file_is_recorded_and_skipped(dataset):
    report = evaluate([BrightnessDetector(), BrightnessDetector(threshold=0.7)], dataset)
    broken = [e for e in report.errors if e.path.endswith("broken.png")]
    assert len(broken) == 1  # loaded by both detectors, reported once
    assert broken[0].detector is None and "broken.png" in broken[0].path and broken[0].message
    assert report.detectors == ["brightness", "brightness#2"]
    single = evaluate(BrightnessDetector(), readable(dataset))
    assert single.detectors == ["brightness"] and not single.errors
    for name in report.detectors:
        assert report.result(name).metrics["n"] == len(dataset) - 1


def test_threshold_override_replaces_prediction_thresholds(dataset):
    detector = BrightnessDetector()
    report = evaluate([detector], dataset, threshold=0.8)
    good = readable(dataset)
    scores, _ = direct_scores(detector, good)
    result = report.result("brightness")
    assert result.metrics["threshold"] == 0.8
    assert result.metrics["accuracy"] == pytest.approx(metrics.accuracy(good.labels, scores >= 0.8))


def test_robustness_conditions_and_deltas(dataset):
    detector = BrightnessDetector()
    calls: list[int] = []
    report = evaluate([detector], dataset, robustness=True, normalise=True, batch_size=7, progress=calls.append)
    expected_conditions = condition_names(robustness=True, normalise=True)
    assert report.conditions == expected_conditions == ["clean", "normalised", *ROBUSTNESS_CONDITIONS]
    assert sum(calls) == len(dataset) * len(expected_conditions)
    by_condition = report.results["brightness"]
    clean = by_condition["clean"]
    assert clean.delta is None
    for condition in expected_conditions[1:]:
        result = by_condition[condition]
        for key in ("roc_auc", "accuracy"):
            assert result.delta[key] == pytest.approx(result.metrics[key] - clean.metrics[key], nan_ok=True)
    good = readable(dataset)
    for condition, transform in [
        ("normalised", normalise_format),
        ("jpeg50", lambda image: jpeg_recompress(image, 50)),
        ("downscale0.5", lambda image: downscale(image, 0.5)),
    ]:
        scores, _ = direct_scores(detector, good, transform)
        np.testing.assert_allclose(by_condition[condition].scores, scores, err_msg=condition)
    assert not np.allclose(by_condition["jpeg50"].scores, clean.scores)


def test_failure_in_one_condition_only_loses_that_condition(dataset):
    class NeedsLargeImages(BrightnessDetector):
        min_side = 30  # the 0.5 downscale (20 px) is too small for it

    report = evaluate([NeedsLargeImages()], dataset, robustness=True)
    downscaled = [e for e in report.errors if e.condition == "downscale0.5"]
    assert len(downscaled) == len(dataset) - 1
    assert report.result("brightness", "downscale0.5").metrics["n"] == 0
    assert math.isnan(report.result("brightness", "downscale0.5").metrics["roc_auc"])
    assert report.result("brightness", "jpeg75").metrics["n"] == len(dataset) - 1


def test_report_files_are_written_and_parse(dataset, tmp_path):
    report = evaluate([BrightnessDetector()], dataset, robustness=True)
    written = report.write(tmp_path / "out")
    data = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert data["detectors"] == ["brightness"]
    assert set(data["results"]["brightness"]) == set(report.conditions)
    clean = data["results"]["brightness"]["clean"]["metrics"]
    assert clean["roc_auc"] == pytest.approx(report.result("brightness").metrics["roc_auc"])
    assert any(error["path"].endswith("broken.png") for error in data["errors"])
    markdown = (tmp_path / "out" / "report.md").read_text(encoding="utf-8")
    assert "## Overall" in markdown and "| brightness | jpeg50 |" in markdown
    assert "Recall per generator" in markdown and "| sd |" in markdown
    assert "broken.png" in markdown
    if importlib.util.find_spec("matplotlib") is not None:
        pngs = {path.name for path in written if path.suffix == ".png"}
        kinds = ("roc", "pr", "confusion", "reliability")
        assert pngs == {f"{kind}_brightness.png" for kind in kinds}
        assert all((tmp_path / "out" / name).stat().st_size > 0 for name in pngs)


def test_to_dict_is_strict_json_even_with_nan(dataset):
    only_real = dataset.where(lambda sample: sample.label == REAL)
    report = evaluate([BrightnessDetector()], only_real)
    data = report.to_dict(include_scores=True)
    text = json.dumps(data, allow_nan=False)
    clean = json.loads(text)["results"]["brightness"]["clean"]
    assert clean["metrics"]["roc_auc"] is None
    assert len(clean["scores"]) == len(only_real)


def test_leave_one_generator_out_trains_without_the_held_out_generator(dataset):
    made: list[TrainableBrightness] = []

    def make_detector() -> TrainableBrightness:
        made.append(TrainableBrightness())
        return made[-1]

    good = readable(dataset)
    table = leave_one_generator_out(make_detector, good, ["sd", "mj"], seed=3)
    assert list(table) == ["sd", "mj"] and len(made) == 2
    all_reals = {s.path for s in good.samples if s.label == REAL}
    for generator, detector in zip(["sd", "mj"], made, strict=True):
        seen = detector.train_set_
        assert generator not in seen.generators
        assert set(seen.generators) == {"real", "mj" if generator == "sd" else "sd"}
        held_out_reals = sorted(all_reals - {s.path for s in seen.samples})
        assert len(held_out_reals) == round(0.2 * len(all_reals))
        # Recompute the row from the fitted detector's own scores on G's images plus the held-out reals.
        test_paths = [s.path for s in good.samples if s.generator == generator] + held_out_reals
        labels = np.array([1] * (len(test_paths) - len(held_out_reals)) + [0] * len(held_out_reals))
        predictions = detector.predict_batch(test_paths)
        scores = np.array([p.score for p in predictions])
        assert table[generator]["recall"] == pytest.approx(metrics.recall(labels, scores >= predictions[0].threshold))
        assert table[generator]["auc"] == pytest.approx(metrics.roc_auc(labels, scores))
        assert table[generator]["n_ai"] == 8 and table[generator]["n_real"] == len(held_out_reals)
    assert "| sd |" in logo_to_markdown(table)


def test_leave_one_generator_out_rejects_unknown_generator(dataset):
    with pytest.raises(ValueError, match="dalle"):
        leave_one_generator_out(TrainableBrightness, readable(dataset), ["dalle"])
