"""Tests of aidetect.io.load_image: a corpus of good, odd and broken inputs made on the fly.

Every input either loads to an RGB ``uint8`` ``(H, W, 3)`` array with the right pixels, or raises
its own `aidetect.errors.ImageError` subclass naming the file; nothing else escapes.
"""

from __future__ import annotations

import io
import struct
import time
import tracemalloc
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features

from aidetect.errors import (
    AidetectError,
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    UnsupportedImageError,
)
from aidetect.io import MAX_PIXELS, describe_source, encode_jpeg, is_image_path, load_image

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


# -- helpers ------------------------------------------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def noise(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR declares ``width x height`` RGB, with one tiny IDAT: a decompression-bomb stand-in."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def png16_rgb(array: np.ndarray) -> bytes:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one, so build it by hand)."""
    height, width, _ = array.shape
    raw = b"".join(b"\x00" + array[row].astype(">u2").tobytes() for row in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(
        b"IEND", b""
    )


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def assert_rgb(array: np.ndarray, height: int, width: int) -> None:
    assert isinstance(array, np.ndarray)
    assert array.dtype == np.uint8
    assert array.shape == (height, width, 3)


def assert_error_names(excinfo: pytest.ExceptionInfo, path: Path) -> None:
    """The error carries and prints the file it is about."""
    assert excinfo.value.source == str(path)
    assert str(path) in str(excinfo.value)


# -- broken and hostile files: each has its own error type, naming the file ---------------------------------------


def test_zero_bytes_file(tmp_path):
    path = write(tmp_path, "empty.jpg", b"")
    with pytest.raises(EmptyImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)


@pytest.mark.parametrize("data", [b"", bytearray()], ids=["bytes", "bytearray"])
def test_zero_bytes_in_memory(data):
    with pytest.raises(EmptyImageError):
        load_image(data)


def test_zero_bytes_file_object():
    with pytest.raises(EmptyImageError):
        load_image(io.BytesIO(b""))


@pytest.mark.parametrize("fraction", [0.5, 0.8])
def test_truncated_jpeg(tmp_path, fraction):
    data = encode(Image.fromarray(noise()), "JPEG", quality=90)
    path = write(tmp_path, "cut.jpg", data[: int(len(data) * fraction)])
    with pytest.raises(CorruptImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)


@pytest.mark.parametrize("fraction", [0.5, 0.9])
def test_truncated_png(tmp_path, fraction):
    data = encode(Image.fromarray(noise()), "PNG")
    path = write(tmp_path, "cut.png", data[: int(len(data) * fraction)])
    with pytest.raises(CorruptImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)


def test_damaged_png_crc(tmp_path):
    data = bytearray(encode(Image.fromarray(noise()), "PNG"))
    data[len(data) // 2] ^= 0xFF  # flips bytes inside IDAT: the chunk CRC no longer matches
    path = write(tmp_path, "flipped.png", bytes(data))
    with pytest.raises(CorruptImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)


def test_random_bytes(tmp_path):
    path = write(tmp_path, "noise.jpg", np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises(UnsupportedImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)


def test_text_file_named_jpg(tmp_path):
    path = write(tmp_path, "notes.jpg", b"these are my holiday notes, not a photo\n" * 20)
    with pytest.raises(UnsupportedImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><rect width="64" '
                        b'height="64" fill="red"/></svg>\n'),
        ("scan.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\ntrailer\n<< >>\n%%EOF\n"),
        ("page.html", b"<!DOCTYPE html><html><body><img src='x.png'></body></html>\n"),
        ("archive.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(64)),
        ("video.mp4", b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(64)),
    ],
)
def test_formats_pillow_cannot_read(tmp_path, name, data):
    path = write(tmp_path, name, data)
    with pytest.raises(UnsupportedImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)


def test_one_pixel_image_loads_and_min_side_refuses_it(tmp_path):
    path = write(tmp_path, "dot.png", encode(Image.new("RGB", (1, 1), (10, 20, 30)), "PNG"))
    rgb = load_image(path)
    assert_rgb(rgb, 1, 1)
    assert rgb[0, 0].tolist() == [10, 20, 30]
    with pytest.raises(ImageTooSmallError) as excinfo:
        load_image(path, min_side=16)
    assert_error_names(excinfo, path)
    assert "1x1" in str(excinfo.value)


def test_min_side_applies_to_the_short_side():
    image = np.zeros((15, 400, 3), dtype=np.uint8)
    with pytest.raises(ImageTooSmallError):
        load_image(image, min_side=16)
    assert_rgb(load_image(image, min_side=15), 15, 400)


def test_huge_declared_size_is_refused_from_the_header(tmp_path):
    path = write(tmp_path, "bomb.png", png_header_only(100_000, 100_000))
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ImageTooLargeError) as excinfo:
            load_image(path)
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_error_names(excinfo, path)
    assert elapsed < 1.0
    assert peak < 5_000_000  # 10^10 pixels would be 30 GB; we allocate next to nothing


def test_size_above_our_limit_but_below_pillows_is_refused_without_a_warning(tmp_path):
    # 11000 x 11000 = 121 MP: above MAX_PIXELS (120 MP), where Pillow only warns instead of raising.
    assert MAX_PIXELS < 11_000 * 11_000
    path = write(tmp_path, "big.png", png_header_only(11_000, 11_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageTooLargeError) as excinfo:
            load_image(path)
    assert_error_names(excinfo, path)
    assert "11000x11000" in str(excinfo.value)


def test_max_pixels_is_configurable(tmp_path):
    path = write(tmp_path, "small.png", encode(Image.fromarray(noise(100, 100)), "PNG"))
    assert_rgb(load_image(path, max_pixels=10_000), 100, 100)
    with pytest.raises(ImageTooLargeError):
        load_image(path, max_pixels=9_999)
    with pytest.raises(ImageTooLargeError):
        load_image(Image.new("RGB", (100, 100)), max_pixels=9_999)


def test_nonexistent_path(tmp_path):
    path = tmp_path / "missing.jpg"
    with pytest.raises(ImageError) as excinfo:
        load_image(path)
    assert_error_names(excinfo, path)
    assert "no such file" in str(excinfo.value)


def test_directory(tmp_path):
    folder = tmp_path / "photos.jpg"
    folder.mkdir()
    with pytest.raises(ImageError) as excinfo:
        load_image(folder)
    assert_error_names(excinfo, folder)
    assert "not a regular file" in str(excinfo.value)


def test_unreadable_path_is_an_image_error():
    with pytest.raises(ImageError):
        load_image("bad\x00name.jpg")  # os.stat refuses NUL bytes with ValueError
    with pytest.raises(ImageError):
        load_image("x" * 5000 + ".jpg")  # ENAMETOOLONG


def test_garbled_ppm_header_is_corrupt_not_a_crash():
    # Pillow's PPM parser raised a bare ValueError here.
    for data in (b"P6\n2x 24\n255\n" + bytes(100), b"P6\n" + b"9" * 64 + b" 24\n255\n" + bytes(100)):
        with pytest.raises(CorruptImageError):
            load_image(data)


def test_errors_are_value_errors_and_aidetect_errors():
    with pytest.raises(ValueError):
        load_image(b"not an image")
    with pytest.raises(AidetectError):
        load_image(b"not an image")


# -- fuzzing: random and mutated bytes raise ImageError subclasses only -----------------------------------------


def _seed_files() -> list[bytes]:
    image = Image.fromarray(noise(24, 24, seed=5))
    files = [encode(image, fmt) for fmt in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "PPM")]
    if features.check("webp"):
        files.append(encode(image, "WEBP"))
    return files


def _check_only_image_errors(data: bytes) -> None:
    try:
        rgb = load_image(data)
    except ImageError:
        return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3


@pytest.mark.parametrize("seed", range(50))
def test_fuzz_random_bytes(seed):
    rng = np.random.default_rng(seed)
    _check_only_image_errors(rng.integers(0, 256, int(rng.integers(1, 400)), dtype=np.uint8).tobytes())


@pytest.mark.parametrize("seed", range(50))
def test_fuzz_mutated_images(seed):
    rng = np.random.default_rng(1000 + seed)
    seeds = _seed_files()
    data = bytearray(seeds[seed % len(seeds)])
    for _ in range(int(rng.integers(1, 6))):
        operation = rng.integers(0, 3)
        if operation == 0:  # flip a byte anywhere
            data[int(rng.integers(0, len(data)))] = int(rng.integers(0, 256))
        elif operation == 1:  # garble the header
            position = int(rng.integers(0, min(len(data), 64)))
            data[position : position + 4] = rng.integers(0, 256, 4, dtype=np.uint8).tobytes()
        else:  # truncate
            data = data[: int(rng.integers(1, len(data) + 1))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TIFF warns about odd tags; warnings are fine, exceptions are not
        _check_only_image_errors(bytes(data))


# -- Pillow modes ---------------------------------------------------------------------------------------------------


def test_mode_L(tmp_path):
    gray = np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) % 256
    path = write(tmp_path, "gray.png", encode(Image.fromarray(gray.astype(np.uint8), "L"), "PNG"))
    rgb = load_image(path)
    assert_rgb(rgb, 48, 64)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[:, :, channel], gray)


def test_mode_LA_composites_on_white():
    la = Image.new("LA", (2, 1))
    la.putpixel((0, 0), (50, 0))  # fully transparent: white
    la.putpixel((1, 0), (50, 255))  # opaque: keeps its grey
    rgb = load_image(encode(la, "PNG"))
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == [50, 50, 50]


def test_mode_P():
    palette = Image.new("P", (3, 1))
    palette.putpalette([*RED, *GREEN, *BLUE] + [0] * (256 - 3) * 3)
    palette.putdata([0, 1, 2])
    rgb = load_image(encode(palette, "PNG"))
    assert rgb[0].tolist() == [list(RED), list(GREEN), list(BLUE)]


def test_mode_P_with_transparency():
    palette = Image.new("P", (2, 1))
    palette.putpalette([*RED, *GREEN] + [0] * 254 * 3)
    palette.putdata([0, 1])
    data = encode(palette, "PNG", transparency=0)  # index 0 (red) is transparent
    assert Image.open(io.BytesIO(data)).info.get("transparency") == 0
    rgb = load_image(data)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == list(GREEN)


def test_gif_transparency():
    palette = Image.new("P", (2, 1))
    palette.putpalette([*RED, *BLUE] + [0] * 254 * 3)
    palette.putdata([0, 1])
    rgb = load_image(encode(palette, "GIF", transparency=1))
    assert rgb[0, 0].tolist() == list(RED)
    assert rgb[0, 1].tolist() == [255, 255, 255]


@pytest.mark.parametrize(("mode", "value"), [("L", 77), ("RGB", (1, 2, 3))])
def test_trns_colour_key_composites_on_white(mode, value):
    image = Image.new(mode, (2, 1), value)
    image.putpixel((1, 0), 200 if mode == "L" else (200, 100, 50))
    rgb = load_image(encode(image, "PNG", transparency=value))
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == ([200] * 3 if mode == "L" else [200, 100, 50])


def test_mode_RGBA_composites_on_white():
    rgba = np.zeros((2, 3, 4), dtype=np.uint8)
    rgba[0, 0] = (10, 200, 30, 0)  # transparent
    rgba[0, 1] = (10, 200, 30, 255)  # opaque
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black over white
    rgba[1] = (40, 50, 60, 255)
    rgb = load_image(encode(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert_rgb(rgb, 2, 3)
    assert rgb[0, 0].tolist() == [255, 255, 255]
    assert rgb[0, 1].tolist() == [10, 200, 30]
    assert rgb[0, 2].tolist() == [127, 127, 127]
    assert rgb[1].tolist() == [[40, 50, 60]] * 3


def test_mode_CMYK_jpeg():
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))  # pure red in CMYK
    data = encode(cmyk, "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"
    rgb = load_image(data)
    assert_rgb(rgb, 16, 16)
    np.testing.assert_allclose(rgb.reshape(-1, 3).mean(axis=0), RED, atol=6)


def test_mode_I16_png_scales_16_to_8_bits():
    values = np.array([[0, 65535, 32768, 257, 200]], dtype=np.uint16)
    image = Image.fromarray(values)
    assert image.mode == "I;16"
    data = encode(image, "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")
    rgb = load_image(data)
    assert rgb[0, :, 0].tolist() == [0, 255, 128, 1, 0]
    assert (rgb == rgb[:, :, :1]).all()


def test_dark_16_bit_image_stays_dark():
    # Regression: a 16-bit image whose values all happen to be <= 255 used to be read as 8-bit (256x too bright).
    dark = np.full((4, 4), 200, dtype=np.uint16)
    assert load_image(encode(Image.fromarray(dark), "PNG"))[0, 0].tolist() == [0, 0, 0]
    assert load_image(dark)[0, 0].tolist() == [0, 0, 0]


def test_16_bit_rgb_png():
    array = np.zeros((2, 2, 3), dtype=np.uint16)
    array[0, 0] = (65535, 0, 32768)
    array[1, 1] = (257 * 10, 257 * 20, 257 * 30)
    rgb = load_image(png16_rgb(array))
    assert_rgb(rgb, 2, 2)
    assert rgb[0, 0].tolist() == [255, 0, 128]
    assert rgb[1, 1].tolist() == [10, 20, 30]
    assert rgb[0, 1].tolist() == [0, 0, 0]


def test_mode_1():
    bits = Image.new("1", (4, 2), 0)
    bits.putpixel((1, 0), 1)
    bits.putpixel((3, 1), 1)
    rgb = load_image(encode(bits, "PNG"))
    assert_rgb(rgb, 2, 4)
    expected = np.zeros((2, 4), dtype=np.uint8)
    expected[0, 1] = expected[1, 3] = 255
    np.testing.assert_array_equal(rgb[:, :, 0], expected)
    assert set(np.unique(rgb)) <= {0, 255}


def test_mode_I_beyond_16_bits_is_refused_not_wrapped():
    image = Image.fromarray(np.array([[0, 100_000]], dtype=np.int32))
    assert image.mode == "I"
    with pytest.raises(ImageError):
        load_image(image)


def test_unconvertible_mode_is_unsupported():
    with pytest.raises(UnsupportedImageError, match="'La'"):
        load_image(Image.new("La", (4, 4)))


@pytest.mark.parametrize("mode", ["F", "YCbCr", "HSV", "LAB", "RGBX", "I;16B", "PA"])
def test_other_modes_load(mode):
    assert_rgb(load_image(Image.new(mode, (5, 3))), 3, 5)


# -- EXIF orientation and animations -----------------------------------------------------------------------------


def jpeg_with_orientation(orientation: int) -> bytes:
    """A 60x30 (W x H) JPEG whose top-left corner is red, tagged with EXIF ``orientation``."""
    pixels = np.full((30, 60, 3), 128, dtype=np.uint8)
    pixels[:10, :10] = RED
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(Image.fromarray(pixels), "JPEG", quality=95, exif=exif.tobytes())


def is_red(pixel: np.ndarray) -> bool:
    return pixel[0] > 200 and pixel[1] < 60 and pixel[2] < 60


def test_exif_orientation_1_is_unchanged():
    rgb = load_image(jpeg_with_orientation(1))
    assert_rgb(rgb, 30, 60)
    assert is_red(rgb[2, 2])


def test_exif_orientation_6_rotates_clockwise():
    rgb = load_image(jpeg_with_orientation(6))
    assert_rgb(rgb, 60, 30)  # width and height swap
    assert is_red(rgb[2, -3])  # stored top-left shows at the top-right
    assert not is_red(rgb[2, 2])


def test_exif_orientation_8_rotates_counter_clockwise():
    rgb = load_image(jpeg_with_orientation(8))
    assert_rgb(rgb, 60, 30)
    assert is_red(rgb[-3, 2])  # stored top-left shows at the bottom-left
    assert not is_red(rgb[2, 2])


def test_exif_orientation_of_a_file_path(tmp_path):
    path = write(tmp_path, "portrait.jpg", jpeg_with_orientation(6))
    assert_rgb(load_image(path), 60, 30)


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_malformed_exif_keeps_the_pixels():
    pixels = noise(20, 30)
    data = encode(Image.fromarray(pixels), "JPEG", quality=95, exif=b"Exif\x00\x00MM\x00*garbage")
    assert_rgb(load_image(data), 20, 30)


def animation(fmt: str) -> bytes:
    frames = [Image.new("RGB", (16, 12), colour) for colour in (RED, GREEN, BLUE)]
    options = {"lossless": True} if fmt == "WEBP" else {}
    return encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **options)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"], ids=["gif", "apng", "webp"])
def test_first_frame_of_an_animation(fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    data = animation(fmt)
    opened = Image.open(io.BytesIO(data))
    assert getattr(opened, "n_frames", 1) == 3, "the test file should really be animated"
    rgb = load_image(data)
    assert_rgb(rgb, 12, 16)
    np.testing.assert_allclose(rgb.reshape(-1, 3).mean(axis=0), RED, atol=3)


def test_first_frame_even_when_the_image_was_advanced():
    opened = Image.open(io.BytesIO(animation("GIF")))
    opened.seek(2)  # a PIL image passed in is taken as it is: the frame the caller chose
    np.testing.assert_allclose(load_image(opened).reshape(-1, 3).mean(axis=0), BLUE, atol=3)


# -- input kinds ---------------------------------------------------------------------------------------------------


@pytest.fixture
def png_file(tmp_path) -> tuple[Path, np.ndarray]:
    pixels = noise(20, 30, seed=9)
    return write(tmp_path, "pixels.png", encode(Image.fromarray(pixels), "PNG")), pixels


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "bytearray", "file", "pil", "numpy"])
def test_every_input_kind_gives_the_same_pixels(png_file, kind):
    path, pixels = png_file
    source = {
        "path": lambda: path,
        "str": lambda: str(path),
        "bytes": lambda: path.read_bytes(),
        "bytearray": lambda: bytearray(path.read_bytes()),
        "file": lambda: path.open("rb"),
        "pil": lambda: Image.open(path),
        "numpy": lambda: pixels.copy(),
    }[kind]()
    try:
        rgb = load_image(source)
    finally:
        if hasattr(source, "close"):
            source.close()
    assert_rgb(rgb, 20, 30)
    np.testing.assert_array_equal(rgb, pixels)
    assert rgb.flags.c_contiguous


@pytest.mark.parametrize("kind", ["path", "bytes", "file", "pil"])
def test_loaded_arrays_are_writeable(png_file, kind):
    # Regression: arrays over a PIL buffer were read-only, so in-place edits (and torch.from_numpy) failed.
    path, _ = png_file
    source = {"path": path, "bytes": path.read_bytes(), "file": io.BytesIO(path.read_bytes()),
              "pil": Image.open(path)}[kind]
    rgb = load_image(source)
    assert rgb.flags.writeable
    rgb[0, 0] = 0


def test_file_object_error_names_the_file(tmp_path):
    path = write(tmp_path, "broken.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 10)
    with path.open("rb") as handle, pytest.raises(ImageError) as excinfo:
        load_image(handle)
    assert str(path) in str(excinfo.value)


def test_text_mode_file_object_is_an_image_error(tmp_path):
    path = write(tmp_path, "notes.txt", b"hello")
    with path.open("r") as handle, pytest.raises(ImageError, match="binary mode"):
        load_image(handle)


def test_closed_file_object_is_an_image_error(tmp_path):
    path = write(tmp_path, "a.png", encode(Image.new("RGB", (4, 4)), "PNG"))
    handle = path.open("rb")
    handle.close()
    with pytest.raises(ImageError):
        load_image(handle)


def test_lazily_opened_truncated_pil_image_is_corrupt(tmp_path):
    data = encode(Image.fromarray(noise()), "PNG")
    path = write(tmp_path, "half.png", data[: len(data) // 2])
    opened = Image.open(path)  # Image.open reads only the header: the damage shows at load time
    with pytest.raises(CorruptImageError) as excinfo:
        load_image(opened)
    assert str(path) in str(excinfo.value)


@pytest.mark.parametrize("source", [42, 3.5, None, ["a.jpg"], {"path": "a.jpg"}], ids=repr)
def test_unsupported_input_types(source):
    with pytest.raises(ImageError):
        load_image(source)


# -- numpy arrays --------------------------------------------------------------------------------------------------


def test_numpy_hw():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgb = load_image(gray)
    assert_rgb(rgb, 3, 4)
    np.testing.assert_array_equal(rgb, np.repeat(gray[:, :, None], 3, axis=2))


def test_numpy_hw1():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    np.testing.assert_array_equal(load_image(gray), np.repeat(gray, 3, axis=2))


def test_numpy_hw3_uint8_is_returned_as_is():
    pixels = noise(5, 7)
    np.testing.assert_array_equal(load_image(pixels), pixels)


def test_numpy_hw4_composites_on_white():
    rgba = np.zeros((1, 2, 4), dtype=np.uint8)
    rgba[0, 0] = (9, 9, 9, 0)
    rgba[0, 1] = (9, 99, 199, 255)
    assert load_image(rgba).tolist() == [[[255, 255, 255], [9, 99, 199]]]


def test_numpy_opaque_hw4_drops_alpha():
    rgba = np.dstack([noise(4, 4), np.full((4, 4), 255, dtype=np.uint8)])
    np.testing.assert_array_equal(load_image(rgba), rgba[:, :, :3])


def test_numpy_uint16():
    array = np.array([[0, 65535, 32768, 257 * 42]], dtype=np.uint16)
    assert load_image(array)[0, :, 0].tolist() == [0, 255, 128, 42]


def test_numpy_int_in_8_bit_range():
    assert load_image(np.array([[0, 17, 255]]))[0, :, 0].tolist() == [0, 17, 255]  # default int64


def test_numpy_bool():
    assert load_image(np.array([[True, False]]))[0, :, 0].tolist() == [255, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_numpy_float_unit_range(dtype):
    array = np.array([[0.0, 0.5, 1.0]], dtype=dtype)
    assert load_image(array)[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize(
    "array",
    [
        np.array([[0.0, 1.5]]),
        np.array([[-0.1, 0.5]]),
        np.array([[0.0, 255.0]]),
        np.array([[np.nan, 0.5]]),
        np.array([[np.inf, 0.5]]),
        np.array([[-1, 5]]),
        np.array([[0, 70_000]]),
        np.array([[1 + 1j, 0]]),
        np.array([["a", "b"]]),
    ],
    ids=["float>1", "float<0", "float255", "nan", "inf", "negative-int", "int>16bit", "complex", "str"],
)
def test_numpy_bad_values(array):
    with pytest.raises(ImageError) as excinfo:
        load_image(array)
    assert "array" in str(excinfo.value)  # names the input


@pytest.mark.parametrize(
    "shape", [(10,), (2, 3, 4, 3), (4, 4, 2), (4, 4, 5), ()], ids=["1d", "4d", "hw2", "hw5", "scalar"]
)
def test_numpy_wrong_shape(shape):
    with pytest.raises(ImageError):
        load_image(np.zeros(shape, dtype=np.uint8))


def test_numpy_empty():
    with pytest.raises(EmptyImageError):
        load_image(np.zeros((0, 5, 3), dtype=np.uint8))


# -- small helpers -------------------------------------------------------------------------------------------------


def test_describe_source(tmp_path):
    assert describe_source(tmp_path / "a.jpg") == str(tmp_path / "a.jpg")
    assert describe_source("b.png") == "b.png"
    assert describe_source(b"abc") == "<3 bytes>"
    assert describe_source(np.zeros((2, 3), dtype=np.uint8)) == "<array (2, 3) uint8>"
    assert describe_source(io.BytesIO()) == "<BytesIO>"


def test_is_image_path():
    assert is_image_path("x/photo.JPG") and is_image_path("a.webp") and is_image_path("b.tiff")
    assert not is_image_path("notes.txt") and not is_image_path("jpg") and not is_image_path("a.svg")


def test_encode_jpeg_round_trip():
    ramp = np.linspace(0, 255, 32).astype(np.uint8)
    pixels = np.stack([np.tile(ramp, (32, 1)), np.tile(ramp[:, None], (1, 32)), np.full((32, 32), 90, np.uint8)], 2)
    data = encode_jpeg(pixels, 90)
    assert data[:3] == b"\xff\xd8\xff"
    decoded = load_image(data)
    assert_rgb(decoded, 32, 32)
    assert np.abs(decoded.astype(int) - pixels).mean() < 3
    assert Image.open(io.BytesIO(data)).format == "JPEG"
