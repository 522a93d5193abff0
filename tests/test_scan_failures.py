"""A scan under failure: a worker process that dies, a detector that raises, a constructor that raises.

The misbehaving detectors arrive the way a third-party plugin's do, through an entry point, so the
registry, `aidetect.load` and the scan treat them exactly as they would a real plugin.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

import aidetect
from aidetect.errors import DetectorError
from aidetect.registry import get_registry
from aidetect.scan import ScanSummary, scan
from conftest import BRIGHT, DARK, TEST_PLUGIN_MODULE, BrightnessDetector, write_image
from conftest import register_detectors as register_test_detectors

CRASH_MARK = "kill-the-worker"
FAILURE_PLUGIN = "aidetect_failure_plugin"


class CrashingDetector(BrightnessDetector):
    """Kills its own process, as the OOM killer or a segfault would, on any file whose name has `CRASH_MARK`."""

    name: ClassVar[str] = "test-crasher"

    def load(self, source: Any) -> Any:
        if CRASH_MARK in str(source):
            os._exit(9)
        return super().load(source)


class RaisingDetector(BrightnessDetector):
    """Reads images fine, then fails to score any of them: a broken detector, not broken files."""

    name: ClassVar[str] = "test-raiser"

    def raw_scores(self, crops: Any) -> Any:
        raise RuntimeError("model output has the wrong shape")


class UnbuildableDetector(BrightnessDetector):
    name: ClassVar[str] = "test-unbuildable"

    def __init__(self, **options: Any) -> None:
        raise OSError("cannot open /nonexistent/model.bin")


@aidetect.hookimpl
def register_failing_detectors(register: Any) -> None:
    register("test-crasher", CrashingDetector, description="dies on some files (tests)", backend="numpy")
    register("test-raiser", RaisingDetector, description="raises on every image (tests)", backend="numpy")
    register("test-unbuildable", UnbuildableDetector, description="constructor raises (tests)", backend="numpy")


@pytest.fixture
def failing_detectors(plugin_entry_points: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    module = types.ModuleType(FAILURE_PLUGIN)
    module.register_detectors = register_failing_detectors  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, FAILURE_PLUGIN, module)
    plugin_entry_points["aidetect-failures"] = FAILURE_PLUGIN
    tests_module = types.ModuleType(TEST_PLUGIN_MODULE)
    tests_module.register_detectors = register_test_detectors  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, TEST_PLUGIN_MODULE, tests_module)
    plugin_entry_points["aidetect-tests"] = TEST_PLUGIN_MODULE
    return get_registry()


@pytest.fixture
def folder_with_a_killer(tmp_path: Path) -> Path:
    """20 images (bright ones are "ai", dark ones "real") and one that kills whichever worker judges it."""
    root = tmp_path / "scan"
    for index in range(10):
        write_image(root / f"b{index:02d}.png", BRIGHT)
        write_image(root / f"d{index:02d}.png", DARK)
    write_image(root / f"c05-{CRASH_MARK}.png", BRIGHT)
    return root


pytestmark = pytest.mark.usefixtures("failing_detectors")


def test_a_worker_killed_on_one_file_does_not_end_the_scan(folder_with_a_killer: Path) -> None:
    results = list(scan(folder_with_a_killer, "test-crasher", workers=2, batch_size=2))
    by_name = {Path(result.path).name: result for result in results}
    assert len(results) == len(by_name) == 21  # every file exactly once: nothing lost, nothing repeated
    killer = by_name[f"c05-{CRASH_MARK}.png"]
    assert killer.error_type == "WorkerCrashed" and killer.error_kind == "detector"
    assert "died" in (killer.error or "")
    others = [result for name, result in by_name.items() if CRASH_MARK not in name]
    assert all(result.ok for result in others)
    assert {Path(r.path).name[0]: r.label for r in others} == {"b": "ai", "d": "real"}


def test_results_before_the_crash_are_kept_and_the_rest_goes_on(folder_with_a_killer: Path) -> None:
    """The killer is in the first chunks: the files after it are judged by a fresh pool."""
    for index in range(30):
        write_image(folder_with_a_killer / f"z{index:02d}.png", DARK)
    summary = ScanSummary()
    names = [Path(summary.add(result).path).name for result in scan(folder_with_a_killer, "test-crasher",
                                                                      workers=2, batch_size=3)]
    assert len(names) == len(set(names)) == 51
    assert summary.detector_errors == 1 and summary.image_errors == 0 and summary.labels["real"] == 40


def test_a_detector_that_raises_on_every_image_is_a_detector_failure(
    tmp_path: Path, broken_images: dict[str, Path]
) -> None:
    folder = broken_images["empty"].parent
    summary = ScanSummary()
    results = [summary.add(result) for result in scan(folder, "test-raiser", workers=1)]
    kinds = {Path(result.path).name: result.error_kind for result in results}
    assert kinds["empty.png"] == kinds["truncated.png"] == "image"
    assert kinds["dark-1.png"] == kinds["bright-1.png"] == "detector"
    assert summary.image_errors == 4 and summary.detector_errors == 4 and summary.errors == 8
    assert summary.detector_failed
    assert summary.first_detector_error is not None
    assert "wrong shape" in (summary.first_detector_error.error or "")
    data = summary.to_dict()
    assert (data["image_errors"], data["detector_errors"]) == (4, 4)
    assert "(4 unreadable, 4 detector)" in str(summary)


def test_bad_files_alone_are_no_detector_failure(image_dir: Path, broken_images: dict[str, Path]) -> None:
    summary = ScanSummary()
    for result in scan(image_dir, "test-brightness", workers=1):
        summary.add(result)
    assert summary.image_errors == 4 and summary.detector_errors == 0 and not summary.detector_failed


def test_load_wraps_a_failing_constructor_in_a_detector_error_naming_the_plugin() -> None:
    with pytest.raises(DetectorError) as excinfo:
        aidetect.load("test-unbuildable")
    message = str(excinfo.value)
    assert "test-unbuildable" in message and "aidetect-failures" in message
    assert "OSError: cannot open /nonexistent/model.bin" in message
    assert isinstance(excinfo.value.__cause__, OSError)
