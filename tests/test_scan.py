"""The batch scanner: streaming, labels, broken files, worker processes, run-level failures."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from aidetect.errors import DetectorError, MissingDependencyError, UnknownDetectorError, WeightsError
from aidetect.scan import ScanPathError, ScanResult, ScanSummary, scan, score_files

pytestmark = pytest.mark.usefixtures("test_detectors")


def by_name(results: list[ScanResult]) -> dict[str, ScanResult]:
    return {Path(result.path).name: result for result in results}


def test_labels_scores_and_crops_come_from_the_detector(image_dir: Path) -> None:
    results = by_name(list(scan([image_dir], "test-brightness", workers=1)))
    assert set(results) == {"bright-1.png", "bright-2.jpg", "dark-1.png", "dark-2.png"}  # not notes.txt, not nested/
    assert {name: r.label for name, r in results.items()} == {
        "bright-1.png": "ai", "bright-2.jpg": "ai", "dark-1.png": "real", "dark-2.png": "real",
    }
    bright = results["bright-1.png"]
    assert bright.ok and bright.error is None and bright.error_type is None
    assert bright.score > 0.99 and bright.threshold == 0.5 and bright.detector == "test-brightness"
    assert len(bright.crop_scores) == 4  # 32 px judged as a 2x2 grid of 16 px crops


def test_recursive_descends_into_subfolders(image_dir: Path) -> None:
    flat = {Path(r.path).name for r in scan(image_dir, "test-brightness", workers=1)}
    deep = {Path(r.path).name for r in scan(image_dir, "test-brightness", workers=1, recursive=True)}
    assert deep - flat == {"bright-3.png"}


def test_an_explicit_file_is_tried_whatever_its_name(image_dir: Path) -> None:
    odd = image_dir / "notes.txt"
    (result,) = scan([odd], "test-brightness", workers=1)
    assert result.path == str(odd) and result.error_type == "UnsupportedImageError"


def test_broken_files_yield_typed_errors_and_the_scan_goes_on(
    image_dir: Path, broken_images: dict[str, Path]
) -> None:
    results = by_name(list(scan(image_dir, "test-brightness", workers=1, batch_size=3)))
    assert results["empty.png"].error_type == "EmptyImageError"
    assert results["garbage.jpg"].error_type == "UnsupportedImageError"
    assert results["truncated.png"].error_type == "CorruptImageError"
    assert results["tiny.png"].error_type == "ImageTooSmallError"
    for name in ("empty.png", "garbage.jpg", "truncated.png", "tiny.png"):
        broken = results[name]
        assert not broken.ok and broken.error and broken.score is None and broken.label is None
    assert results["tiny.png"].error.startswith("image is 4x4 px")  # the reason, without the path again
    assert all(results[name].ok for name in ("bright-1.png", "dark-1.png", "dark-2.png", "bright-2.jpg"))


def test_detector_options_set_threshold_and_uncertain_band(tmp_path: Path) -> None:
    from conftest import GREY, write_image

    grey = write_image(tmp_path / "grey.png", GREY)
    (default,) = scan(grey, "test-brightness", workers=1)
    (banded,) = scan(grey, "test-brightness", workers=1, options={"uncertain_band": (0.3, 0.7)})
    (strict,) = scan(grey, "test-brightness", workers=1, options={"threshold": 0.9})
    assert 0.3 < default.score < 0.7
    assert banded.label == "uncertain" and strict.label == "real" and strict.threshold == 0.9


def test_aliases_work_and_results_name_the_detector(image_dir: Path) -> None:
    results = list(scan(image_dir / "dark-1.png", "test-bright", workers=1))
    assert [r.detector for r in results] == ["test-brightness"]


def test_workers_give_the_same_results_as_in_process(image_dir: Path, broken_images: dict[str, Path]) -> None:
    serial = {r.path: (r.label, r.error_type) for r in scan(image_dir, "test-brightness", workers=1, batch_size=2)}
    pooled = list(scan(image_dir, "test-brightness", workers=2, batch_size=2, recursive=False))
    assert {r.path: (r.label, r.error_type) for r in pooled} == serial
    assert len(pooled) == len(serial) == 8


def huge_folder(path: Path, counter: list[int], size: int = 2000):
    """A stand-in for iter_images over a folder of ``size`` files; counts how many were taken from it."""

    def iter_images(root, *, recursive=True):
        for _ in range(size):
            counter[0] += 1
            yield path

    return iter_images


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_streams_and_keeps_a_bounded_number_of_files_in_flight(
    image_dir: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    taken = [0]
    monkeypatch.setattr("aidetect.scan.iter_images", huge_folder(image_dir / "dark-1.png", taken))
    results = scan(image_dir, "test-brightness", workers=workers, batch_size=2)
    first = list(itertools.islice(results, 5))
    results.close()
    assert [r.label for r in first] == ["real"] * 5
    # in flight: at most 2 chunks per worker (plus the chunk being submitted) of 2 files each
    assert taken[0] <= 5 + 2 * (2 * workers + 2)


def test_missing_paths_fail_before_any_work(image_dir: Path) -> None:
    with pytest.raises(ScanPathError, match="no-such-folder"):
        scan([image_dir, image_dir / "no-such-folder"], "test-brightness")
    with pytest.raises(ScanPathError):
        scan([], "test-brightness")


def test_unknown_detectors_and_missing_packages_fail_before_any_work(image_dir: Path) -> None:
    with pytest.raises(UnknownDetectorError, match="test-brightness"):
        scan(image_dir, "no-such-detector")
    with pytest.raises(MissingDependencyError, match=r"aidetect-images\[fake-extra\]"):
        scan(image_dir, "test-needs-module")


@pytest.mark.parametrize("workers", [1, 2])
def test_a_detector_that_cannot_run_ends_the_scan_with_its_error(image_dir: Path, workers: int) -> None:
    with pytest.raises(WeightsError, match="missing on purpose"):
        list(scan(image_dir, "test-broken", workers=workers, batch_size=1))


def test_bad_detector_options_are_a_run_failure_not_a_per_file_error(image_dir: Path) -> None:
    with pytest.raises(DetectorError, match="threshold or target_fpr"):
        list(scan(image_dir, "test-brightness", workers=1, options={"threshold": 0.5, "target_fpr": 0.01}))


def test_score_files_isolates_the_file_a_detector_raises_on(image_dir: Path) -> None:
    from conftest import BrightnessDetector

    class Fussy(BrightnessDetector):
        def raw_scores(self, crops):
            if any(crop.mean() < 30 for crop in crops):
                raise RuntimeError("cannot handle very dark crops")
            return super().raw_scores(crops)

    paths = [str(image_dir / name) for name in ("bright-1.png", "dark-1.png", "dark-2.png")]
    results = score_files(Fussy(), paths)
    assert [r.path for r in results] == paths
    assert [r.label for r in results] == ["ai", None, "real"]
    assert results[1].error_type == "RuntimeError" and "very dark" in results[1].error


def test_summary_counts_labels_errors_and_rate() -> None:
    summary = ScanSummary()
    for label in ("ai", "ai", "real", "uncertain"):
        summary.add(ScanResult("x.png", 0.5, label, 0.5, "d"))
    summary.add(ScanResult("bad.png", None, None, None, "d", error="broken", error_type="CorruptImageError"))
    data = summary.finish().to_dict()
    assert data | {"seconds": 0, "images_per_second": 0} == {
        "images": 5, "ai": 2, "real": 1, "uncertain": 1, "errors": 1, "image_errors": 1, "detector_errors": 0,
        "seconds": 0, "images_per_second": 0,
    }
    assert data["images_per_second"] > 0
    assert "5 images: 2 ai, 1 real, 1 uncertain, 1 errors" in str(summary)


def test_scan_result_serialises_to_plain_json_types() -> None:
    import json

    result = ScanResult("a.png", 0.25, "real", 0.5, "d", crop_scores=(0.2, 0.3))
    assert json.loads(json.dumps(result.to_dict()))["crop_scores"] == [0.2, 0.3]


def test_batch_size_and_workers_must_be_positive(image_dir: Path) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        scan(image_dir, "test-brightness", batch_size=0)
    with pytest.raises(ValueError, match="workers"):
        scan(image_dir, "test-brightness", workers=0)
