"""The contract around detectors: decision rules, early validation, deprecated names, multi-set training."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest

import aidetect
from aidetect.cli import main
from aidetect.errors import InvalidOptionError, PluginError
from aidetect.evaluation import ROBUSTNESS_CONDITIONS, condition_names
from aidetect.preprocess import social_share
from conftest import BRIGHT, DARK, RecordingDetector, write_image

pytestmark = pytest.mark.usefixtures("test_detectors")


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# -- decision rules ----------------------------------------------------------------------------------


def test_decision_rule_object_and_keywords_are_the_same_rule() -> None:
    rule = aidetect.DecisionRule(threshold=0.8, uncertain_band=(0.4, 0.6))
    by_object = aidetect.load("test-brightness", decision=rule)
    by_keywords = aidetect.load("test-brightness", threshold=0.8, uncertain_band=(0.4, 0.6))
    assert by_object.decision == by_keywords.decision
    assert by_object.decision_rule() == aidetect.DecisionRule(0.8, (0.4, 0.6))


@pytest.mark.parametrize("options", [
    {"threshold": 0.5, "target_fpr": 0.01},
    {"threshold": 1.5},
    {"decision": aidetect.DecisionRule(threshold=0.3), "threshold": 0.4},
])
def test_a_bad_decision_rule_is_refused_when_the_detector_is_made(options: dict) -> None:
    with pytest.raises((InvalidOptionError, ValueError)):
        aidetect.load("test-brightness", **options)


def test_a_resolved_rule_takes_the_card_threshold_for_a_target_fpr() -> None:
    rule = aidetect.DecisionRule(target_fpr=0.01, uncertain_band=(0.1, 0.2))
    assert rule.resolve(0.5, {0.01: 0.93, 0.1: 0.6}) == aidetect.DecisionRule(0.93, (0.1, 0.2))
    assert aidetect.DecisionRule().resolve(0.42, {}).threshold == 0.42
    with pytest.raises(ValueError, match=r"no validated threshold for target_fpr=0\.05"):
        rule.__class__(target_fpr=0.05).resolve(0.5, {0.01: 0.9})


# -- registry: deprecated names, the Detector contract -------------------------------------------------


def test_a_deprecated_name_still_loads_and_warns() -> None:
    with pytest.warns(DeprecationWarning, match="'test-luminance' is deprecated; use 'test-brightness'"):
        detector = aidetect.load("test-luminance")
    assert detector.name == "test-brightness"


def test_the_current_name_loads_without_a_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert aidetect.load("test-brightness").name == "test-brightness"


def test_a_factory_that_returns_no_detector_is_refused(test_detectors) -> None:
    test_detectors.detectors["test-not-a-detector"] = test_detectors.detectors["test-brightness"].__class__(
        "test-not-a-detector", lambda **options: object())
    with pytest.raises(PluginError, match=r"lacks the aidetect\.Detector protocol"):
        aidetect.load("test-not-a-detector")


def test_plugins_show_their_distribution_and_version(capsys) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    (builtin,) = [line for line in out.splitlines() if line.startswith("aidetect.detectors.cnn ")]
    assert f"aidetect-images {aidetect.__version__}" in builtin


# -- aidetect train: everything checked before any work ---------------------------------------------


def write_manifest(root: Path, count: int, *, sources: int, val: int) -> Path:
    """``count`` dark reals and bright fakes; image ``i`` comes from ``src{i % sources}``; the first ``val`` are val."""
    root.mkdir()
    with (root / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "source", "split"])
        for index in range(count):
            for label, level in (("real", DARK), ("fake", BRIGHT)):
                write_image(root / f"{label}{index}.png", level + index % 10)
                writer.writerow([f"{label}{index}.png", label, f"src{index % sources}",
                                 "val" if index < val else "train"])
    return root


@pytest.mark.parametrize(("argv", "message"), [
    (["forensic-svm", "--out", "m.pt"], "forensic-svm weights are saved as .skops files"),
    (["forensic-svm", "--out", "m.skops", "--grid", "C=1;bogus=2"], "bad grid entry"),
    (["forensic-svm", "--out", "m.skops", "-o", "calibration=x"], "calibration must be one of"),
    (["cnn", "--out", "m.pt", "-o", "optimizer=x"], "optimizer must be one of"),
    (["cnn", "--out", "m.pt", "-o", "no_such_option=1"], "unknown training option(s) ['no_such_option']"),
])
def test_train_refuses_bad_options_before_reading_data(capsys, tmp_path: Path, argv: list[str],
                                                       message: str) -> None:
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    absent = tmp_path / "absent"  # never read: the options fail first
    code, out, err = run(capsys, "train", *argv, "--data", absent)
    assert code == 2 and out == ""
    assert err.startswith("aidetect: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_train_on_several_sets_concatenates_them_with_source_prefixes(capsys, tmp_path: Path) -> None:
    roots = [write_manifest(tmp_path / "set-a", 10, sources=2, val=1),
             write_manifest(tmp_path / "set-b", 6, sources=2, val=1)]
    code, _, err = run(capsys, "train", "test-recorder", "--data", roots[0], "--data", roots[1],
                       "--out", tmp_path / "model.json")
    assert code == 0, err
    (recorder,) = RecordingDetector.instances
    _, train, val = recorder.calls[0]
    assert (len(train), len(val)) == (2 * 9 + 2 * 5, 2 + 2)
    assert {source.partition(":")[0] for source in train.sources} == {"set-a", "set-b"}
    assert train.name == "set-a+set-b"


def test_hold_out_sources_moves_whole_sources_to_validation(capsys, tmp_path: Path) -> None:
    root = write_manifest(tmp_path / "sourced", 40, sources=8, val=4)
    code, _, err = run(capsys, "train", "test-recorder", "--data", root, "--hold-out-sources", "0.3",
                       "--out", tmp_path / "model.json")
    assert code == 0, err
    _, train, val = RecordingDetector.instances[-1].calls[0]
    held = {(s.label, s.source) for s in val.samples if s.split == "train"}  # moved from training to validation
    assert held and not held & {(s.label, s.source) for s in train.samples}  # whole sources (per class), unseen
    assert len(train) + len(val) == 80


# -- evaluation conditions ------------------------------------------------------------------------------


def test_robustness_includes_rescaling_and_social_media() -> None:
    assert {"upscale2", "downscale0.25", "social"} <= set(condition_names(robustness=True))
    image = np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8)
    assert ROBUSTNESS_CONDITIONS["upscale2"](image).shape == (128, 160, 3)
    assert ROBUSTNESS_CONDITIONS["downscale0.25"](image).shape == (16, 20, 3)
    shared = ROBUSTNESS_CONDITIONS["social"](image)
    assert shared.shape == (48, 60, 3)  # 0.75x
    np.testing.assert_array_equal(shared, social_share(image))  # deterministic: the same copy every time
    assert not np.array_equal(social_share(image, sharpen=None), shared)  # the sharpening is applied
