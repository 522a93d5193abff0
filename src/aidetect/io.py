"""One image loader for the whole library.

Every entry point (detectors, datasets, the CLI) turns its input into the same
thing: an RGB ``uint8`` array of shape ``(H, W, 3)``. Loading applies the EXIF
orientation, converts every Pillow mode correctly, takes the first frame of an
animation, and refuses decompression bombs from the header alone, before any
pixel memory is allocated.
"""

from __future__ import annotations

import contextlib
import io as _io
import os
import re
import warnings
from pathlib import Path
from typing import IO, TYPE_CHECKING, Union

import numpy as np

from aidetect.errors import (
    CorruptImageError,
    EmptyImageError,
    ImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    UnsupportedImageError,
)

if TYPE_CHECKING:
    from PIL import Image as PILImage

ImageInput = Union[str, "os.PathLike[str]", bytes, bytearray, IO[bytes], "PILImage.Image", np.ndarray]
"""Anything `load_image` accepts."""

MAX_PIXELS = 120_000_000
"""Default pixel limit: a 100 MP camera frame passes, a declared 50k x 50k bomb does not."""

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".pgm"}
)
"""File suffixes that folder scans and dataset loaders treat as images."""


def load_image(source: ImageInput, *, max_pixels: int = MAX_PIXELS, min_side: int = 1) -> np.ndarray:
    """Load ``source`` as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    ``source`` may be a path, ``bytes``, a binary file object, a ``PIL.Image``
    or a numpy array (``HxW``, ``HxWx3`` or ``HxWx4``; ``uint8``, ``uint16`` or
    float in ``[0, 1]``). Transparent pixels are composited onto white, which is
    what a viewer shows. Raises a subclass of `aidetect.errors.ImageError`.
    """
    name = describe_source(source)
    if isinstance(source, np.ndarray):
        rgb = _array_to_rgb(source, name)
    else:
        image = _open_pil(source, name, max_pixels)
        try:
            rgb = _pil_to_rgb(image, name)
        except ImageError:
            raise
        except MemoryError as exc:
            raise _out_of_memory(image.size, name) from exc
        except Exception as exc:  # e.g. a mode Pillow cannot convert to RGB ("La", odd TIFF modes)
            raise UnsupportedImageError(f"cannot convert Pillow mode {image.mode!r} to RGB ({exc})", name) from exc
    if min(rgb.shape[:2]) < min_side:
        raise ImageTooSmallError(
            f"image is {rgb.shape[1]}x{rgb.shape[0]} px, smaller than the minimum side of {min_side} px", name
        )
    return rgb


def describe_source(source: object) -> str:
    """A short human-readable name for an input, used in error messages and reports."""
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array {source.shape} {source.dtype}>"
    name = getattr(source, "filename", None) or getattr(source, "name", None)
    if isinstance(name, str) and name:
        return name
    return f"<{type(source).__name__}>"


def _open_pil(source: ImageInput, name: str, max_pixels: int) -> PILImage.Image:
    from PIL import Image

    if isinstance(source, Image.Image):
        _check_pixels(source.size, name, max_pixels)
        try:
            source.load()  # a lazily opened PIL image may still hold truncated data
        except MemoryError as exc:
            raise _out_of_memory(source.size, name) from exc
        except Exception as exc:
            raise CorruptImageError(f"image data is truncated or damaged ({exc})", name) from exc
        return source
    stream = _as_stream(source, name)
    try:
        with warnings.catch_warnings():
            # Our own limit below replaces Pillow's warning; its hard error still maps to ours.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(stream)
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, name, max_pixels) from exc
    except Image.UnidentifiedImageError as exc:  # type: ignore[attr-defined]  # re-exported by PIL.Image at runtime, not in its stubs
        raise UnsupportedImageError("not an image, or an image format Pillow cannot read", name) from exc
    except MemoryError as exc:
        raise ImageTooLargeError("ran out of memory reading the image header", name) from exc
    except Exception as exc:  # OSError, or ValueError & co. from a damaged header (e.g. a garbled PPM)
        raise CorruptImageError(f"could not read image header ({exc})", name) from exc
    _check_pixels(image.size, name, max_pixels)
    try:
        image.seek(0)  # first frame of an animated GIF / WebP / APNG
        image.load()
    except Image.DecompressionBombError as exc:
        raise _bomb_error(exc, name, max_pixels) from exc
    except MemoryError as exc:
        raise _out_of_memory(image.size, name) from exc
    except Exception as exc:  # decoders raise OSError, ValueError, SyntaxError, EOFError, struct.error, ...
        raise CorruptImageError(f"image data is truncated or damaged ({exc})", name) from exc
    return image


def _as_stream(source: ImageInput, name: str) -> IO[bytes]:
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise EmptyImageError("input holds zero bytes", name)
        return _io.BytesIO(bytes(source))
    if isinstance(source, (str, os.PathLike)):
        try:
            path = Path(source)
            if not path.exists():
                raise ImageError("no such file", name)
            if not path.is_file():
                raise ImageError("not a regular file", name)
            data = path.read_bytes()
        except ImageError:
            raise
        except (OSError, ValueError, TypeError) as exc:  # permission denied, name too long, NUL in the path
            raise ImageError(f"cannot read file ({exc})", name) from exc
        if not data:
            raise EmptyImageError("file is empty (zero bytes)", name)
        return _io.BytesIO(data)
    if hasattr(source, "read"):
        try:
            data = source.read()
        except (OSError, ValueError) as exc:  # closed file, not readable, bad encoding in text mode
            raise ImageError(f"cannot read from the file object ({exc})", name) from exc
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise ImageError(f"file object returned {type(data).__name__}, open the file in binary mode ('rb')", name)
        if not data:
            raise EmptyImageError("file object returned zero bytes", name)
        return _io.BytesIO(bytes(data))
    raise ImageError(f"cannot load an image from a {type(source).__name__}", name)


def _check_pixels(size: tuple[int, int], name: str, max_pixels: int) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise CorruptImageError(f"declared size {width}x{height} is empty", name)
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"declared size {width}x{height} ({width * height:,} px) exceeds the limit of {max_pixels:,} px", name
        )


def _out_of_memory(size: tuple[int, int], name: str) -> ImageTooLargeError:
    """A typed error for pixels that do not fit in memory: a tiny file can declare 100 MP (under the limit)."""
    width, height = size
    return ImageTooLargeError(
        f"not enough memory to decode the declared {width}x{height} px ({width * height:,} px); "
        "lower max_pixels to refuse such images from the header", name
    )


def _bomb_error(exc: Exception, name: str, max_pixels: int) -> ImageTooLargeError:
    """Our wording for Pillow's own bomb guard (which fires, before ours can, at twice its 89 MP default)."""
    declared = re.search(r"\((\d+) pixels\)", str(exc))  # Pillow: "Image size (N pixels) exceeds limit of ..."
    size = f" ({int(declared.group(1)):,} px)" if declared else ""
    return ImageTooLargeError(f"declared size{size} exceeds the limit of {max_pixels:,} px", name)


def _pil_to_rgb(image: PILImage.Image, name: str) -> np.ndarray:
    from PIL import ImageOps

    # A malformed EXIF block must not cost the pixels: keep them unrotated.
    with contextlib.suppress(Exception):
        image = ImageOps.exif_transpose(image) or image
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        return _array_to_rgb(np.asarray(image), name)
    if mode == "F":
        return _array_to_rgb(np.clip(np.asarray(image, dtype=np.float32) / 255.0, 0, 1), name)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info) or (
        mode in ("RGB", "L") and "transparency" in image.info
    ):
        return _composite_on_white(np.asarray(image.convert("RGBA")))
    # np.array (not asarray): arrays over a PIL buffer are read-only, and callers may want to modify theirs.
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _array_to_rgb(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"array of shape {array.shape} is not HxW, HxWx3 or HxWx4", name)
    if array.size == 0:
        raise EmptyImageError(f"array of shape {array.shape} holds no pixels", name)
    array = _to_uint8(array, name)
    if array.ndim == 2:
        array = np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 4:
        return _composite_on_white(array)
    return np.ascontiguousarray(array)


def _to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageError("float image holds NaN or infinite values", name)
        if array.min() < 0 or array.max() > 1:
            raise ImageError("float images must be scaled to [0, 1]", name)
        return np.round(array * 255.0).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        low, high = int(array.min()), int(array.max())
        if low < 0:
            raise ImageError("integer image holds negative values", name)
        if high > 65535:
            raise ImageError(f"integer image holds values up to {high}, beyond the 16-bit range", name)
        # 16-bit data keeps its top byte (65535 -> 255). uint16 (I;16 PNGs, uint16 arrays) is 16-bit whatever
        # its values, so a dark 16-bit image stays dark; wider ints are 16-bit only if they exceed 255.
        if (array.dtype.kind == "u" and array.dtype.itemsize == 2) or high > 255:
            return (array >> 8).astype(np.uint8)
        return array.astype(np.uint8)
    raise ImageError(f"unsupported array dtype {array.dtype}", name)


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    if alpha.min() == 1.0:
        return np.ascontiguousarray(rgba[:, :, :3])
    rgb: np.ndarray = rgba[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.round(rgb).astype(np.uint8)


def encode_jpeg(image: np.ndarray, quality: int) -> bytes:
    """Encode an RGB ``uint8`` array as baseline JPEG (4:2:0) at ``quality``."""
    from PIL import Image

    buffer = _io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()


def is_image_path(path: str | os.PathLike[str]) -> bool:
    """True if the file name has one of `IMAGE_SUFFIXES` (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
