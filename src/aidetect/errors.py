"""The error hierarchy: every failure a caller can handle has a type here.

Messages name the file (when there is one) and the reason, so a batch scan
can report a broken file in one line and move on.
"""

from __future__ import annotations


class AidetectError(Exception):
    """Base class of every error this library raises on purpose."""


class ImageError(AidetectError, ValueError):
    """An input could not be turned into an RGB image."""

    def __init__(self, reason: str, source: str | None = None) -> None:
        self.reason = reason
        self.source = source
        super().__init__(f"{source}: {reason}" if source else reason)


class EmptyImageError(ImageError):
    """The input holds no bytes at all."""


class UnsupportedImageError(ImageError):
    """The bytes are not an image format Pillow can read (or not an image)."""


class CorruptImageError(ImageError):
    """The format was recognised but the data is truncated or damaged."""


class ImageTooLargeError(ImageError):
    """The declared size exceeds the pixel limit (decompression-bomb guard)."""


class ImageTooSmallError(ImageError):
    """The image is too small to carry any evidence (smaller than the minimum side)."""


class DetectorError(AidetectError):
    """Problems finding, configuring or running a detector."""


class UnknownDetectorError(DetectorError, KeyError):
    """No registered detector has that name."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


class MissingDependencyError(DetectorError, ImportError):
    """A detector needs an optional package that is not installed."""

    def __init__(self, detector: str, packages: list[str], extra: str | None = None) -> None:
        self.detector = detector
        self.packages = packages
        self.extra = extra
        hint = f"pip install 'aidetect-images[{extra}]'" if extra else "pip install " + " ".join(packages)
        super().__init__(
            f"detector {detector!r} needs {', '.join(packages)}, "
            f"which {'is' if len(packages) == 1 else 'are'} not installed; run: {hint}"
        )


class InvalidOptionError(DetectorError, ValueError):
    """A detector or training option with a value it cannot take (refused before any work starts)."""


class NotFittedError(DetectorError):
    """A trainable detector was used before `fit` or without weights."""


class WeightsError(AidetectError):
    """A weights file is missing, unreadable or of the wrong kind."""


class ChecksumMismatchError(WeightsError):
    """A weights file's sha256 differs from the one its model card promises."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{path}: sha256 {actual} does not match the model card's {expected}; "
            "the file is corrupt or not the one the card describes, refusing to load it"
        )


class WorkerCrashed(AidetectError):
    """A scan worker process died (killed for memory, or a crash in native code) while judging a file.

    `aidetect.scan` reports it as that file's error row and goes on in a fresh process.
    """


class DatasetError(AidetectError, ValueError):
    """A dataset folder or manifest is malformed or empty."""


class PluginError(AidetectError):
    """A plugin failed to import or to register its detectors."""


class DistributedError(AidetectError):
    """A distributed scan (`aidetect.distributed`) cannot run: no Ray cluster, an output it must not overwrite,
    or a Ray job that failed for a reason other than a file."""
