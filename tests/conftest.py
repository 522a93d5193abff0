"""Shared fixtures: tiny synthetic images, and detectors that need no trained weights.

`BrightnessDetector` scores an image by its mean brightness (bright = "AI"),
so tests of the scanner and the CLI know every expected label without a
model. The test detectors reach the registry the way a third-party plugin
does, through an entry point in the ``aidetect`` group: `plugin_entry_points`
makes `importlib.metadata` report entry points of our choosing.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import types
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import aidetect
from aidetect.datasets import Dataset
from aidetect.detector import BaseDetector, CropPolicy
from aidetect.registry import ENTRY_POINT_GROUP, PLUGINS_ENV, get_registry, reset_registry

TEST_PLUGIN_MODULE = "aidetect_test_plugin"
BRIGHT, DARK, GREY = 230, 20, 128


class BrightnessDetector(BaseDetector):
    """P(AI) rises with mean brightness: a 230-grey image is "ai", a 20-grey one "real", 128 about 0.5.

    32 px images are judged from a 2x2 grid of 16 px crops, so results carry crop scores.
    """

    name: ClassVar[str] = "test-brightness"
    min_side: ClassVar[int] = 8

    def crop_policy(self) -> CropPolicy:
        return CropPolicy(input_size=16, max_tiles_per_side=2)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        return np.array([(crop.mean() / 255.0 - 0.5) * 20.0 for crop in crops])


class RecordingDetector(BrightnessDetector):
    """A trainable, saveable, exportable detector that records every call, for the CLI's train/export tests."""

    name: ClassVar[str] = "test-recorder"
    instances: ClassVar[list[RecordingDetector]] = []

    def __init__(self, weights: str | None = None, **options: Any) -> None:
        decision = {key: options.pop(key) for key in ("threshold", "target_fpr", "uncertain_band") if key in options}
        super().__init__(**decision)
        self.options = {"weights": weights, **options} if weights is not None else dict(options)
        self.calls: list[tuple[Any, ...]] = []
        RecordingDetector.instances.append(self)

    def fit(self, dataset: Dataset, val: Dataset | None = None) -> RecordingDetector:
        self.calls.append(("fit", dataset, val))
        return self

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"detector": self.name, "options": self.options}), encoding="utf-8")
        self.calls.append(("save", path))
        return path

    def export_onnx(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(b"not really onnx")
        self.calls.append(("export_onnx", path))
        return path


class BrokenDetector(BrightnessDetector):
    """Fails the way a detector without usable weights does: on its first decision."""

    name: ClassVar[str] = "test-broken"

    def default_threshold(self) -> float:
        raise aidetect.errors.WeightsError("test-broken: weights are missing on purpose")


@aidetect.hookimpl
def register_detectors(register: Any) -> None:
    """The test plugin's hook: the same call a third-party plugin makes."""
    register("test-brightness", BrightnessDetector, description="mean brightness (tests)", backend="numpy",
             aliases=["test-bright"], deprecated_names=["test-luminance"])
    register("test-recorder", RecordingDetector, description="records calls (tests)", backend="numpy")
    register("test-broken", BrokenDetector, description="never works (tests)", backend="numpy")
    register("test-needs-module", BrightnessDetector, description="needs a module nobody has (tests)",
             requires=["aidetect_no_such_module"], extra="fake-extra")


# -- entry points and the registry -------------------------------------------------------------------


@pytest.fixture
def plugin_entry_points(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A dict ``entry-point name -> module`` that replaces the installed ``aidetect`` entry points.

    Other groups are untouched. The registry is rebuilt before and after the
    test, and ``AIDETECT_PLUGINS`` is cleared (tests set it themselves).
    """
    entries: dict[str, str] = {}
    real_entry_points = importlib.metadata.entry_points

    def entry_points(**params: Any) -> Any:
        if params.get("group") == ENTRY_POINT_GROUP:
            return importlib.metadata.EntryPoints(
                importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP) for name, value in entries.items()
            )
        return real_entry_points(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    reset_registry()
    yield entries
    reset_registry()


@pytest.fixture
def test_detectors(plugin_entry_points: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The registry with the built-ins plus the test detectors of `register_detectors`."""
    module = types.ModuleType(TEST_PLUGIN_MODULE)
    module.register_detectors = register_detectors  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, TEST_PLUGIN_MODULE, module)
    plugin_entry_points["aidetect-tests"] = TEST_PLUGIN_MODULE
    RecordingDetector.instances.clear()
    return get_registry()


# -- images --------------------------------------------------------------------------------------------


def write_image(path: Path, value: int, size: int = 32) -> Path:
    """A ``size`` x ``size`` image of one grey level (with faint noise), in the format the suffix names."""
    from PIL import Image

    rng = np.random.default_rng(value)
    pixels = np.clip(value + rng.integers(-3, 4, size=(size, size, 3)), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def image_dir(tmp_path: Path) -> Path:
    """``bright-*.png/jpg`` (ai for test-brightness), ``dark-*.png`` (real), ``nested/bright-3.png``."""
    root = tmp_path / "images"
    write_image(root / "bright-1.png", BRIGHT)
    write_image(root / "bright-2.jpg", BRIGHT - 30)
    write_image(root / "dark-1.png", DARK)
    write_image(root / "dark-2.png", DARK + 40)
    write_image(root / "nested" / "bright-3.png", BRIGHT)
    (root / "notes.txt").write_text("not an image, and not named like one", encoding="utf-8")
    return root


@pytest.fixture
def broken_images(image_dir: Path) -> dict[str, Path]:
    """Files with image names that cannot be read, added to `image_dir`: empty, garbage, truncated, tiny."""
    truncated = image_dir / "truncated.png"
    full = write_image(image_dir / "full.bin.png", BRIGHT, size=64).read_bytes()
    (image_dir / "full.bin.png").unlink()
    truncated.write_bytes(full[: len(full) // 2])
    (image_dir / "empty.png").write_bytes(b"")
    (image_dir / "garbage.jpg").write_bytes(b"this is not a jpeg at all" * 10)
    write_image(image_dir / "tiny.png", BRIGHT, size=4)
    return {
        "empty": image_dir / "empty.png",
        "garbage": image_dir / "garbage.jpg",
        "truncated": truncated,
        "tiny": image_dir / "tiny.png",
    }


@pytest.fixture
def labelled_dir(tmp_path: Path) -> Path:
    """A labelled folder, ``real/`` (dark) and ``fake/gen-a/`` (bright), 10 images each."""
    root = tmp_path / "labelled"
    for index in range(10):
        write_image(root / "real" / f"r{index}.png", DARK + 3 * index)
        write_image(root / "fake" / "gen-a" / f"f{index}.png", BRIGHT - 3 * index)
    return root
