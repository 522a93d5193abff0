"""Shared by the serve tests: test detectors reached through a plugin entry point, and image bytes.

`GatedDetector` holds every inference until the test opens its gate, which
makes the queue-full (503) and timeout (504) cases deterministic.
"""

from __future__ import annotations

import io
import sys
import threading
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest

import aidetect
import conftest
from aidetect import Prediction
from aidetect.registry import get_registry

SERVE_PLUGIN_MODULE = "aidetect_serve_test_plugin"


class ThresholdTableDetector(conftest.BrightnessDetector):
    """test-brightness with a validated threshold table, as a model card would give."""

    name: ClassVar[str] = "test-table"

    def fpr_thresholds(self) -> dict[float, float]:
        return {0.01: 0.97, 0.05: 0.8}


class GatedDetector(conftest.BrightnessDetector):
    """Waits at ``gate`` before loading each upload; ``started`` is set when one waits. The warm-up passes."""

    name: ClassVar[str] = "test-gated"
    gate: ClassVar[threading.Event] = threading.Event()
    started: ClassVar[threading.Event] = threading.Event()
    calls: ClassVar[list[int]] = []

    def load(self, source: Any) -> np.ndarray:
        if isinstance(source, bytes):  # an upload (the server's warm-up image is an array)
            GatedDetector.calls.append(len(source))
            GatedDetector.started.set()
            GatedDetector.gate.wait(timeout=20)
        return super().load(source)

    @classmethod
    def reset(cls) -> None:
        cls.gate.clear()
        cls.started.clear()
        cls.calls.clear()


class CrashingDetector(conftest.BrightnessDetector):
    """Works for the warm-up, then fails on uploads with a bug (not a library error)."""

    name: ClassVar[str] = "test-crash"

    def load(self, source: Any) -> np.ndarray:
        if isinstance(source, bytes):
            raise RuntimeError("secret internal detail")
        return super().load(source)


@dataclass(frozen=True)
class EvidencePrediction(Prediction):
    """A Prediction with one more field, the way a plugin detector adds its own."""

    notes: dict[str, Any] = field(default_factory=dict)


class EvidenceDetector(conftest.BrightnessDetector):
    name: ClassVar[str] = "test-evidence"

    def predict_batch(self, images: Iterable[Any], batch_size: int = 32) -> list[Prediction]:
        return [EvidencePrediction(**vars(p), notes={"exif": {"Software": "test"}})
                for p in super().predict_batch(images, batch_size)]


@aidetect.hookimpl
def register_detectors(register: Any) -> None:
    conftest.register_detectors(register)
    register("test-table", ThresholdTableDetector, description="brightness with a threshold table (tests)")
    register("test-gated", GatedDetector, description="waits for the test (tests)")
    register("test-crash", CrashingDetector, description="fails after warm-up (tests)")
    register("test-evidence", EvidenceDetector, description="adds an evidence field (tests)")


@pytest.fixture
def serve_detectors(plugin_entry_points: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """The registry with the built-ins, conftest's test detectors and the ones above."""
    module = types.ModuleType(SERVE_PLUGIN_MODULE)
    module.register_detectors = register_detectors  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, SERVE_PLUGIN_MODULE, module)
    plugin_entry_points["aidetect-serve-tests"] = SERVE_PLUGIN_MODULE
    GatedDetector.reset()
    yield get_registry()
    GatedDetector.gate.set()  # never leave an inference thread waiting


def encode(value: int, size: int = 32, fmt: str = "PNG") -> bytes:
    """An image of one grey level (faint noise), encoded as ``fmt``."""
    from PIL import Image

    rng = np.random.default_rng(value)
    pixels = np.clip(value + rng.integers(-3, 4, size=(size, size, 3)), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, fmt)
    return buffer.getvalue()
