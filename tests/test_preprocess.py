"""Tests of aidetect.preprocess: tiling, crops, resizing, re-compression and normalisation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aidetect.preprocess import (
    Normalisation,
    center_crop,
    downscale,
    gaussian_blur,
    jpeg_recompress,
    normalise_format,
    pad_to,
    random_crop,
    random_resized_crop,
    resize,
    resize_short_side,
    tile_crops,
    tile_positions,
    to_nchw_float,
)


def noise(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def smooth(height: int, width: int) -> np.ndarray:
    """A photo-like image: gradients plus mild texture (JPEG behaves on it as on photos)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    rng = np.random.default_rng(1)
    channels = [
        128 + 100 * np.sin(x / 13.0) * np.cos(y / 17.0),
        255 * x / max(width - 1, 1),
        255 * y / max(height - 1, 1),
    ]
    image = np.stack(channels, axis=2) + rng.normal(0, 8, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def coordinates(height: int, width: int) -> np.ndarray:
    """Each pixel stores its own (row, column), so a crop tells where it came from (see `origin`).

    Channels 0 and 1 hold the low bytes of row and column, channel 2 their high nibbles (up to 4096 px).
    """
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([y % 256, x % 256, (y // 256) | ((x // 256) << 4)], axis=2).astype(np.uint8)


def origin(crop: np.ndarray) -> tuple[int, int]:
    """The (top, left) of a crop of a `coordinates` image."""
    low_y, low_x, high = (int(v) for v in crop[0, 0])
    return low_y + 256 * (high & 0xF), low_x + 256 * (high >> 4)


# -- tile_positions / tile_crops ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "size", "max_tiles"), [(1000, 224, 3), (448, 224, 3), (700, 224, 9), (225, 32, 5), (10_000, 100, 4)]
)
def test_tile_positions_span_the_whole_length(length, size, max_tiles):
    positions = tile_positions(length, size, max_tiles)
    assert 1 < len(positions) <= max_tiles
    assert positions[0] == 0
    assert positions[-1] + size == length  # the last window ends at the far edge
    gaps = np.diff(positions)
    assert (gaps > 0).all()
    assert gaps.max() - gaps.min() <= 1  # evenly spaced


@pytest.mark.parametrize(("length", "size"), [(448, 224), (600, 224), (120, 32), (88, 32), (1000, 100)])
def test_tile_positions_overlap_when_not_capped(length, size):
    positions = tile_positions(length, size, max_tiles=100)
    assert (np.diff(positions) <= size).all()  # windows overlap or touch: no strip is left out


@pytest.mark.parametrize(("length", "size"), [(700, 224), (100, 32), (300, 224), (80, 32), (1000, 224), (257, 256)])
def test_tile_positions_leave_only_gaps_under_half_a_window(length, size):
    positions = tile_positions(length, size, max_tiles=100)
    covered = np.zeros(length, dtype=bool)
    for start in positions:
        covered[start : start + size] = True
    uncovered_runs = np.diff(np.flatnonzero(np.diff(np.r_[1, covered.astype(int), 1]) != 0))[::2]
    assert positions == sorted(positions) and positions[0] >= 0 and positions[-1] + size <= length
    assert all(run < size / 2 for run in uncovered_runs), uncovered_runs


def test_tile_positions_count_and_cap():
    assert len(tile_positions(224 * 10, 224, 3)) == 3
    assert len(tile_positions(224 * 10, 224, 20)) == 10
    assert len(tile_positions(224, 224, 3)) == 1
    assert tile_positions(224, 224, 3) == [0]
    assert tile_positions(300, 224, 3) == [38]  # one window (300/224 rounds to 1), centred
    assert tile_positions(10_000, 224, 1) == [(10_000 - 224) // 2]


@pytest.mark.parametrize(("height", "width"), [(64, 64), (96, 128), (88, 120), (256, 256), (500, 341), (600, 312)])
def test_tile_crops_cover_the_image(height, width):
    size = 32
    image = coordinates(height, width)
    crops = tile_crops(image, size, max_tiles_per_side=20)
    assert all(crop.shape == (size, size, 3) for crop in crops)
    covered = np.zeros((height, width), dtype=bool)
    for crop in crops:
        top, left = origin(crop)
        np.testing.assert_array_equal(crop, image[top : top + size, left : left + size])  # native resolution
        covered[top : top + size, left : left + size] = True
    assert covered.all()


@pytest.mark.parametrize(
    ("height", "width", "cap", "expected"),
    [(224, 224, 3, 1), (448, 448, 3, 4), (2000, 3000, 3, 9), (2000, 3000, 2, 4), (224, 1000, 3, 3), (500, 500, 1, 1)],
)
def test_tile_crops_counts_and_cap(height, width, cap, expected):
    crops = tile_crops(np.zeros((height, width, 3), dtype=np.uint8), 224, max_tiles_per_side=cap)
    assert len(crops) == expected
    assert all(crop.shape == (224, 224, 3) for crop in crops)


def test_tile_crops_keep_native_resolution():
    image = noise(300, 300)
    crops = tile_crops(image, 100, max_tiles_per_side=3)
    assert len(crops) == 9
    np.testing.assert_array_equal(crops[0], image[:100, :100])
    np.testing.assert_array_equal(crops[4], image[100:200, 100:200])
    np.testing.assert_array_equal(crops[-1], image[200:, 200:])


@pytest.mark.parametrize(("height", "width"), [(16, 16), (20, 50), (50, 20), (1, 1)])
def test_tile_crops_upscale_small_images(height, width):
    crops = tile_crops(noise(height, width), 64, max_tiles_per_side=3)
    assert len(crops) >= 1
    assert all(crop.shape == (64, 64, 3) and crop.dtype == np.uint8 for crop in crops)


def test_small_image_upscaling_keeps_the_aspect_ratio():
    crops = tile_crops(noise(20, 60), 64, max_tiles_per_side=5)  # short side 20 -> 64, long side 60 -> 192
    assert len(crops) == 3


# -- resizing ------------------------------------------------------------------------------------------------------


def test_resize_shape_and_identity():
    image = noise(40, 60)
    assert resize(image, (20, 30)).shape == (20, 30, 3)
    assert resize(image, (80, 10)).shape == (80, 10, 3)
    assert resize(image, (40, 60)) is image


def test_resize_short_side():
    assert resize_short_side(noise(100, 200), 50).shape == (50, 100, 3)
    assert resize_short_side(noise(300, 100), 64).shape == (192, 64, 3)
    assert resize_short_side(noise(10, 10), 32).shape == (32, 32, 3)


@pytest.mark.parametrize(("factor", "expected"), [(1.0, (100, 60)), (0.5, (50, 30)), (0.25, (25, 15)), (0.001, (1, 1))])
def test_downscale_shapes(factor, expected):
    assert downscale(noise(100, 60), factor).shape[:2] == expected


@pytest.mark.parametrize("factor", [0, -0.5, 1.01, 2])
def test_downscale_bounds(factor):
    with pytest.raises(ValueError, match="factor"):
        downscale(noise(10, 10), factor)


def test_downscale_preserves_the_mean():
    image = smooth(128, 128)
    assert abs(float(downscale(image, 0.5).mean()) - float(image.mean())) < 2


# -- crops and padding ---------------------------------------------------------------------------------------------


def test_center_crop():
    image = coordinates(100, 80)
    crop = center_crop(image, 40)
    assert crop.shape == (40, 40, 3)
    assert origin(crop) == (30, 20)


def test_center_crop_refuses_small_images():
    with pytest.raises(ValueError, match="smaller"):
        center_crop(noise(30, 100), 31)


def test_random_crop_is_a_window_of_the_image_and_deterministic():
    image = coordinates(100, 120)
    first = random_crop(image, 32, np.random.default_rng(7))
    again = random_crop(image, 32, np.random.default_rng(7))
    np.testing.assert_array_equal(first, again)
    top, left = origin(first)
    np.testing.assert_array_equal(first, image[top : top + 32, left : left + 32])
    positions = {origin(random_crop(image, 32, np.random.default_rng(seed))) for seed in range(20)}
    assert len(positions) > 10  # it is random across seeds


def test_random_crop_pads_small_images():
    crop = random_crop(noise(10, 50), 32, np.random.default_rng(0))
    assert crop.shape == (32, 32, 3)


@pytest.mark.parametrize(("height", "width", "size"), [(10, 10, 16), (10, 10, 20), (10, 10, 35), (1, 1, 8), (3, 50, 40),
                                                       (40, 40, 40), (50, 60, 40)])
def test_pad_to(height, width, size):
    image = noise(height, width)
    padded = pad_to(image, size)
    assert padded.shape == (max(height, size), max(width, size), 3)
    top, left = (padded.shape[0] - height) // 2, (padded.shape[1] - width) // 2
    np.testing.assert_array_equal(padded[top : top + height, left : left + width], image)  # original in the middle
    assert set(map(tuple, padded.reshape(-1, 3))) <= set(map(tuple, image.reshape(-1, 3)))  # no new colours


def test_pad_to_is_a_no_op_for_large_images():
    image = noise(40, 40)
    assert pad_to(image, 32) is image


@pytest.mark.parametrize(("height", "width"), [(200, 300), (300, 200), (64, 64), (20, 400)])
def test_random_resized_crop_shape_and_determinism(height, width):
    image = noise(height, width)
    first = random_resized_crop(image, 48, np.random.default_rng(3))
    assert first.shape == (48, 48, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, random_resized_crop(image, 48, np.random.default_rng(3)))


def test_random_resized_crop_varies_with_the_seed():
    image = noise(200, 200)
    crops = [random_resized_crop(image, 32, np.random.default_rng(seed)) for seed in range(5)]
    assert any(not np.array_equal(crops[0], crop) for crop in crops[1:])


def test_random_resized_crop_full_scale_covers_the_image():
    image = smooth(64, 64)
    crop = random_resized_crop(image, 64, np.random.default_rng(0), scale=(1.0, 1.0), ratio=(1.0, 1.0))
    np.testing.assert_array_equal(crop, image)


# -- JPEG, blur, format normalisation ------------------------------------------------------------------------------


def test_jpeg_recompress_changes_pixels_and_lower_quality_changes_more():
    image = smooth(96, 96)
    errors = {}
    for quality in (95, 75, 30, 10):
        out = jpeg_recompress(image, quality)
        assert out.shape == image.shape and out.dtype == np.uint8
        errors[quality] = float(np.abs(out.astype(int) - image.astype(int)).mean())
    assert errors[95] > 0
    assert errors[95] < errors[75] < errors[30] < errors[10]


def test_jpeg_recompress_is_deterministic():
    image = smooth(32, 32)
    np.testing.assert_array_equal(jpeg_recompress(image, 80), jpeg_recompress(image, 80))


@pytest.mark.parametrize("quality", [0, 101, -5])
def test_jpeg_recompress_quality_bounds(quality):
    with pytest.raises(ValueError, match="quality"):
        jpeg_recompress(noise(8, 8), quality)


def test_transform_outputs_are_writeable():
    # Regression: arrays made over a PIL buffer are read-only.
    image = smooth(40, 40)
    for out in (jpeg_recompress(image, 80), resize(image, (20, 20)), gaussian_blur(image, 1.0),
                downscale(image, 0.5), normalise_format(image, size=32)):
        assert out.flags.writeable


def test_gaussian_blur_smooths():
    image = noise(64, 64)
    blurred = gaussian_blur(image, 2.0)
    assert blurred.shape == image.shape
    assert blurred.astype(float).std() < image.astype(float).std() / 2
    np.testing.assert_array_equal(gaussian_blur(image, 0), image)


def looks_like_jpeg_output(image: np.ndarray, quality: int) -> bool:
    """Re-encoding at the same quality is (nearly) idempotent on an image that already went through that JPEG."""
    again = jpeg_recompress(image, quality)
    return float(np.abs(again.astype(int) - image.astype(int)).mean()) < 0.5


@pytest.mark.parametrize(("height", "width"), [(256, 256), (300, 500), (500, 300), (100, 100), (64, 200)])
def test_normalise_format_size(height, width):
    out = normalise_format(smooth(height, width))
    assert out.shape == (256, 256, 3) and out.dtype == np.uint8
    assert normalise_format(smooth(height, width), size=64).shape == (64, 64, 3)


def test_normalise_format_is_jpeg_like():
    image = smooth(256, 256)
    out = normalise_format(image, quality=90)
    assert not np.array_equal(out, image)
    np.testing.assert_array_equal(out, jpeg_recompress(image, 90))  # 256 px square: crop and resize are no-ops
    assert looks_like_jpeg_output(out, 90)
    assert not looks_like_jpeg_output(image, 90)


def test_normalise_format_centre_crops_before_resizing():
    image = smooth(100, 300)
    out = normalise_format(image, size=100, quality=95)
    reference = jpeg_recompress(image[:, 100:200], 95)
    assert float(np.abs(out.astype(int) - reference.astype(int)).mean()) < 1.0


def test_normalise_format_hides_the_file_format():
    image = smooth(256, 256)
    png = np.asarray(Image.open(io.BytesIO(_encode(image, "PNG"))).convert("RGB"))
    jpeg = np.asarray(Image.open(io.BytesIO(_encode(image, "JPEG", quality=98))).convert("RGB"))
    a, b = normalise_format(png), normalise_format(jpeg)
    assert float(np.abs(a.astype(int) - b.astype(int)).mean()) < 2.0


def _encode(image: np.ndarray, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=fmt, **options)
    return buffer.getvalue()


# -- to_nchw_float -------------------------------------------------------------------------------------------------


def test_to_nchw_float_against_a_manual_computation():
    crops = [noise(8, 6, seed=1), noise(8, 6, seed=2)]
    norm = Normalisation(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    batch = to_nchw_float(crops, norm)
    assert batch.shape == (2, 3, 8, 6)
    assert batch.dtype == np.float32
    assert batch.flags.c_contiguous
    for n, crop in enumerate(crops):
        for c in range(3):
            for y, x in ((0, 0), (3, 5), (7, 2)):
                expected = (crop[y, x, c] / 255.0 - norm.mean[c]) / norm.std[c]
                assert batch[n, c, y, x] == pytest.approx(expected, abs=1e-5)


def test_to_nchw_float_default_normalisation_maps_to_minus_one_one():
    batch = to_nchw_float([np.array([[[0, 255, 51]]], dtype=np.uint8)], Normalisation())
    np.testing.assert_allclose(batch.ravel(), [-1.0, 1.0, -0.6], atol=1e-6)


def test_upscale_enlarges_and_refuses_shrinking():
    from aidetect import preprocess

    image = np.zeros((20, 30, 3), dtype=np.uint8)
    assert preprocess.upscale(image, 2).shape == (40, 60, 3)
    with pytest.raises(ValueError, match=">= 1"):
        preprocess.upscale(image, 0.5)


def test_resize_takes_a_named_filter():
    from aidetect import preprocess

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    nearest = preprocess.resize(image, (64, 64), resample="nearest")
    assert np.array_equal(nearest[::2, ::2], image)  # nearest-neighbour doubling repeats pixels exactly
    assert not np.array_equal(preprocess.resize(image, (64, 64), resample="lanczos"), nearest)


@pytest.mark.parametrize("container", ["jpeg", "webp", "gif", "cmyk-jpeg", "png"])
def test_reencode_round_trips_through_each_container(container):
    from aidetect import preprocess

    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 200, 80)[None, :, None] + np.linspace(0, 40, 64)[:, None, None] + [0, 20, 40]
    image = np.clip(ramp + rng.normal(0, 6, (64, 80, 3)), 0, 255).astype(np.uint8)  # a photo-like gradient
    out = preprocess.reencode(image, container, quality=90)
    assert out.shape == image.shape and out.dtype == np.uint8
    error = np.abs(out.astype(int) - image.astype(int)).mean()
    if container == "png":
        assert error == 0
    else:
        assert 0 < error < 40  # lossy, but the same picture


def test_reencode_refuses_an_unknown_container():
    from aidetect import preprocess

    with pytest.raises(ValueError, match="container"):
        preprocess.reencode(np.zeros((8, 8, 3), dtype=np.uint8), "bmp")
