"""Cost bounded by the crops judged, not by the image: extreme aspect ratios, whole-image features, bombs.

A 42 KB solid 16 x 300,000 PNG (4.8 MP, far below the pixel limit) used to be upscaled whole (short side
16 -> 224) before three crops were cut from it: 35 s and 5 GB. The detector tests run in a subprocess under
an address-space limit (`resource.RLIMIT_AS`), so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zlib

import numpy as np
import pytest
from PIL import Image

from aidetect.errors import ImageTooLargeError
from aidetect.features import MAX_PIXELS, MAX_SIDE, forensic_features
from aidetect.io import load_image
from aidetect.preprocess import random_crop, random_tile, resize_short_side, tile_crops, tile_positions

HEADROOM_BYTES = 1_000_000_000
"""Address space granted beyond what the warmed-up detector already holds (the old code needed ~5 GB)."""

PEAK_RSS_LIMIT_MB = 400
"""Most the resident set may grow while judging the strip (the decoded image itself is ~15-35 MB)."""


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def upscaled_then_cropped(image: np.ndarray, size: int, cap: int) -> list[np.ndarray]:
    """What `tile_crops` computed before: resize the whole image, then cut the grid."""
    scaled = resize_short_side(image, size)
    height, width = scaled.shape[:2]
    return [
        scaled[top : top + size, left : left + size]
        for top in tile_positions(height, size, cap)
        for left in tile_positions(width, size, cap)
    ]


@pytest.mark.parametrize(
    ("height", "width", "size", "cap"),
    [(20, 60, 64, 5), (100, 150, 224, 3), (16, 2000, 224, 3), (37, 91, 64, 9), (200, 223, 224, 3), (10, 10, 224, 3)],
)
def test_small_image_crops_match_resizing_the_whole_image(height, width, size, cap):
    """Cropping the source region first gives the same pixels (at most 1 level of rounding, on < 0.5%)."""
    image = noise(height, width, seed=height)
    expected = upscaled_then_cropped(image, size, cap)
    crops = tile_crops(image, size, cap)
    assert len(crops) == len(expected)
    for crop, reference in zip(crops, expected, strict=True):
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
        difference = np.abs(crop.astype(int) - reference.astype(int))
        assert difference.max() <= 1
        assert (difference > 0).mean() < 0.005


def test_tile_crops_of_a_strip_allocate_only_the_crops():
    strip = np.full((16, 20_000, 3), 90, dtype=np.uint8)  # upscaled whole: 224 x 280,000 px = 188 MB
    tracemalloc.start()
    try:
        crops = tile_crops(strip, 224, 3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(crops) == 3 and all(crop.shape == (224, 224, 3) for crop in crops)
    assert all((crop == 90).all() for crop in crops)
    assert peak < 5_000_000


def test_random_tile_draws_as_random_crop_of_the_upscaled_image():
    image = noise(30, 90, seed=3)
    for seed in range(5):
        tile = random_tile(image, 64, np.random.default_rng(seed))
        reference = random_crop(resize_short_side(image, 64), 64, np.random.default_rng(seed))
        assert np.abs(tile.astype(int) - reference.astype(int)).max() <= 1
    large = noise(300, 300)
    assert np.array_equal(random_tile(large, 64, np.random.default_rng(1)), random_crop(large, 64,
                                                                                      np.random.default_rng(1)))


def test_whole_image_features_refuse_beyond_their_limit_by_a_typed_error():
    with pytest.raises(ImageTooLargeError, match=f"{MAX_SIDE:,} px a side"):
        forensic_features(np.zeros((16, MAX_SIDE + 1, 3), dtype=np.uint8))
    side = int(MAX_PIXELS**0.5) + 1
    with pytest.raises(ImageTooLargeError, match=f"{MAX_PIXELS:,} px"):
        forensic_features(np.zeros((side, side, 3), dtype=np.uint8))


def png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(50_000, 50_000), (12_000, 12_000)])
def test_bomb_message_is_the_librarys_own(width, height):
    """Pillow's guard fires first above 179 MP; its "DOS attack" wording must not reach the user."""
    with pytest.raises(ImageTooLargeError) as excinfo:
        load_image(png_header_only(width, height))
    message = str(excinfo.value)
    assert "exceeds the limit of 120,000,000 px" in message
    assert f"{width * height:,} px" in message
    assert "DOS" not in message and "decompression bomb" not in message.lower()


# -- every detector, in a subprocess under an address-space limit ------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import io, json, resource, sys
    import numpy as np
    from PIL import Image
    import aidetect

    detector = aidetect.load(sys.argv[1])
    detector.predict(np.full((300, 300, 3), 60, dtype=np.uint8))  # load the model before measuring
    with open("/proc/self/status") as status:
        size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = size_kb * 1024 + int(sys.argv[2])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    data = sys.stdin.buffer.read()
    prediction = detector.predict(data)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"score": prediction.score, "crops": len(prediction.crop_scores),
                      "grown_mb": (after - before) / 1024}))
    """
)


def strip_png(width: int = 300_000, height: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (120, 30, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def judge_strip_in_subprocess(detector: str) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, detector, str(HEADROOM_BYTES)],
        input=strip_png(), capture_output=True, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return json.loads(result.stdout.decode().strip().splitlines()[-1])


def _detector_params() -> list[object]:
    slow = pytest.mark.slow
    return ["efficientnet", pytest.param("forensic-svm", marks=slow), pytest.param("cnn", marks=slow),
            pytest.param("ensemble", marks=slow)]


@pytest.mark.parametrize("detector", _detector_params())
def test_a_16_by_300000_strip_costs_what_its_crops_cost(detector):
    from aidetect.registry import get_registry

    missing = get_registry().get(detector).missing()
    if missing:
        pytest.skip(f"{detector} needs {', '.join(missing)}")
    measured = judge_strip_in_subprocess(detector)
    assert 0.0 <= measured["score"] <= 1.0
    assert measured["crops"] in (0, 2, 3)  # three crops along the strip (two 256 px tiles for forensic-svm)
    assert measured["grown_mb"] < PEAK_RSS_LIMIT_MB


_OUT_OF_MEMORY_PROBE = textwrap.dedent(
    """
    import resource, sys
    from aidetect.errors import ImageTooLargeError
    from aidetect.io import load_image

    data = sys.stdin.buffer.read()
    with open("/proc/self/status") as status:
        size_kb = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    limit = size_kb * 1024 + 200_000_000  # the declared 103 MP need ~700 MB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        load_image(data)
    except ImageTooLargeError as exc:
        print("typed:", exc)
    """
)


def forged_jpeg(width: int, height: int) -> bytes:
    """A 17 x 17 JPEG whose SOF marker declares ``width x height``: libjpeg decodes the missing rest as grey."""
    buffer = io.BytesIO()
    Image.new("L", (17, 17), 90).save(buffer, format="JPEG")
    data = bytearray(buffer.getvalue())
    at = data.find(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def test_pixels_that_do_not_fit_in_memory_are_a_typed_error():
    """Found by benchmarks/fuzz_loader.py: a 600-byte JPEG declaring 9545 x 10810 px (under the 120 MP limit)."""
    result = subprocess.run([sys.executable, "-c", _OUT_OF_MEMORY_PROBE], input=forged_jpeg(9545, 10810),
                            capture_output=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    assert "typed:" in result.stdout.decode() and "not enough memory to decode the declared 9545x10810 px" in (
        result.stdout.decode())
