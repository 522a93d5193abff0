"""Batch scanning: judge every image under some paths, streaming, one broken file never stops it.

`scan` walks files and folders with `aidetect.datasets.iter_images` (one
directory at a time, so a folder of a million files is never listed into
memory), scores them in chunks of ``batch_size`` and yields one `ScanResult`
per file as soon as it is known. A file that cannot be read yields a result
whose ``error`` says why; only failures of the run itself (unknown detector,
missing dependency or weights, a path that does not exist) raise.

Every error row says whose fault it is (``error_kind``): ``"image"`` for a
file that cannot be read or judged as an image (an `aidetect.errors.ImageError`),
``"detector"`` for a detector that raised on it or a worker process that died
on it (``WorkerCrashed``). `ScanSummary` counts both, so a broken detector does
not look like a folder of bad files.

With ``workers > 1`` the chunks go to a process pool (`aidetect.scan_pool`)
whose workers each load the detector once. Results then arrive in completion
order, and at most ``2 * workers`` chunks are in flight, so memory stays
bounded however many files there are. A worker that dies (out of memory, a
crash in native code) does not end the scan. Each worker is given
``OMP_NUM_THREADS=1``-style hints (where not already set) so that N processes
do not each start a full-size OpenMP, BLAS or ONNX Runtime thread pool
(efficientnet's session follows ``OMP_NUM_THREADS`` unless given ``threads``).

    >>> from aidetect.scan import scan, ScanSummary
    >>> summary = ScanSummary()
    >>> for result in scan(["photos/"], recursive=True):
    ...     summary.add(result)
"""

from __future__ import annotations

import itertools
import os
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from aidetect.datasets import iter_images
from aidetect.detector import AI_LABEL, REAL_LABEL, UNCERTAIN_LABEL, Detector, Prediction
from aidetect.errors import AidetectError, DetectorError, ImageError
from aidetect.evidence import Evidence
from aidetect.registry import DEFAULT_DETECTOR, get_registry

IMAGE_ERROR, DETECTOR_ERROR = "image", "detector"
"""The two values of `ScanResult.error_kind`: the file's fault, or the detector's (or its process's)."""


class ScanPathError(AidetectError, FileNotFoundError):
    """A path given to `scan` does not exist."""


@dataclass(frozen=True)
class ScanResult:
    """The verdict on one file, or why there is none.

    ``score``, ``label`` and ``threshold`` are ``None`` when ``error`` is set;
    ``error_type`` is then the name of the exception class (for example
    ``CorruptImageError``), ``error`` its message and ``error_kind`` whose
    fault it is: ``"image"`` or ``"detector"`` (derived from ``error_type`` when not given).
    """

    path: str
    score: float | None
    label: str | None
    threshold: float | None
    detector: str
    crop_scores: tuple[float, ...] = ()
    error: str | None = None
    error_type: str | None = None
    error_kind: str | None = None

    def __post_init__(self) -> None:
        if self.error is not None and self.error_kind is None:
            kind = IMAGE_ERROR if self.error_type in _image_error_names() else DETECTOR_ERROR
            object.__setattr__(self, "error_kind", kind)
    evidence: tuple[Evidence, ...] = ()
    version: str | None = None
    """What judged the file: the aidetect version, ``+`` the first 12 hex digits of the weights' sha256
    when the detector has a model card (`detector_version`)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def from_prediction(cls, path: str, prediction: Prediction) -> ScanResult:
        return cls(path, prediction.score, prediction.label, prediction.threshold, prediction.detector,
                   tuple(prediction.crop_scores), evidence=tuple(getattr(prediction, "evidence", ())))

    @classmethod
    def from_error(cls, path: str, detector: str, exc: BaseException) -> ScanResult:
        is_image = isinstance(exc, ImageError)
        message = exc.reason if isinstance(exc, ImageError) else str(exc)
        return cls(path, None, None, None, detector, error=message or type(exc).__name__,
                   error_type=type(exc).__name__, error_kind=IMAGE_ERROR if is_image else DETECTOR_ERROR)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop_scores"] = list(self.crop_scores)
        data["evidence"] = [finding.to_dict() for finding in self.evidence]
        return data

    def evidence_summary(self) -> str:
        """The findings as ``kind:strength:indicates`` joined by ``;`` (the CSV column)."""
        return ";".join(finding.summary() for finding in self.evidence)


def _image_error_names() -> frozenset[str]:
    """Names of `ImageError` and all its subclasses (the ``error_type`` values that are the file's fault)."""
    names, stack = set(), [ImageError]
    while stack:
        cls = stack.pop()
        names.add(cls.__name__)
        stack.extend(cls.__subclasses__())
    return frozenset(names)


@dataclass
class ScanSummary:
    """Running totals of a scan: images per label, errors by kind (unreadable files, detector failures), throughput."""

    labels: Counter[str] = field(default_factory=Counter)
    image_errors: int = 0
    detector_errors: int = 0
    first_detector_error: ScanResult | None = None
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    def add(self, result: ScanResult) -> ScanResult:
        """Count ``result`` and hand it back, so that ``map(summary.add, results)`` streams."""
        if result.ok:
            self.labels[str(result.label)] += 1
        elif result.error_kind == IMAGE_ERROR:
            self.image_errors += 1
        else:
            self.detector_errors += 1
            self.first_detector_error = self.first_detector_error or result
        return result

    def finish(self) -> ScanSummary:
        """Stop the clock (further `add` calls still count, the rate uses this time)."""
        self.finished = time.perf_counter()
        return self

    @property
    def errors(self) -> int:
        """Files without a verdict, for any reason."""
        return self.image_errors + self.detector_errors

    @property
    def detector_failed(self) -> bool:
        """Whether the detector (or a worker process) failed on any file: the run did not fully do its job."""
        return self.detector_errors > 0

    @property
    def images(self) -> int:
        """Files looked at, judged or not."""
        return sum(self.labels.values()) + self.errors

    @property
    def seconds(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    @property
    def images_per_second(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            AI_LABEL: self.labels[AI_LABEL],
            REAL_LABEL: self.labels[REAL_LABEL],
            UNCERTAIN_LABEL: self.labels[UNCERTAIN_LABEL],
            "errors": self.errors,
            "image_errors": self.image_errors,
            "detector_errors": self.detector_errors,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
        }

    def __str__(self) -> str:
        data = self.to_dict()
        return (
            f"{data['images']} images: {data[AI_LABEL]} ai, {data[REAL_LABEL]} real, "
            f"{data[UNCERTAIN_LABEL]} uncertain, {data['errors']} errors "
            f"({data['image_errors']} unreadable, {data['detector_errors']} detector) "
            f"in {data['seconds']:.1f} s ({data['images_per_second']:.1f} images/s)"
        )


def scan(
    paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    detector_name: str = DEFAULT_DETECTOR,
    *,
    options: dict[str, Any] | None = None,
    recursive: bool = False,
    workers: int | None = None,
    batch_size: int = 16,
    start_method: str | None = None,
) -> Iterator[ScanResult]:
    """Judge every image file under ``paths`` with ``aidetect.load(detector_name, **options)``.

    Files named explicitly are always tried; folders contribute the files with
    an image suffix (their sub-folders too with ``recursive``). ``workers``
    is the number of processes (default: ``os.cpu_count()``); ``1`` runs in
    this process, and so does any scan small enough to fit in one chunk.
    ``start_method`` picks the multiprocessing start method (default
    ``"fork"`` on Linux, where workers inherit detectors registered at run
    time, and ``"spawn"`` elsewhere).

    Paths, the detector name and its dependencies are checked before this
    returns; the returned iterator raises `aidetect.errors.AidetectError`
    only when the detector itself cannot run.
    """
    roots = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    _check_paths(roots)
    check_detector(detector_name)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError("workers must be at least 1")
    files = (str(path) for root in roots for path in iter_images(root, recursive=recursive))
    chunks = _chunked(files, batch_size)
    options = dict(options or {})
    return _scan_chunks(chunks, detector_name, options, workers, start_method)


def count_inputs(paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, recursive: bool = False) -> int:
    """How many files `scan` of ``paths`` will judge (a directory walk, no file is opened): a progress total."""
    roots = [Path(paths)] if isinstance(paths, (str, os.PathLike)) else [Path(p) for p in paths]
    return sum(1 for root in roots for _ in iter_images(root, recursive=recursive))


def _check_paths(roots: Sequence[Path]) -> None:
    if not roots:
        raise ScanPathError("no paths to scan")
    missing = [str(root) for root in roots if not root.exists()]
    if missing:
        raise ScanPathError(f"no such file or folder: {', '.join(missing)}")


def check_detector(name: str) -> None:
    """Fail before any work for an unknown name or missing packages (cheap: no import of the backend)."""
    from aidetect.errors import MissingDependencyError

    info = get_registry().get(name)
    missing = info.missing()
    if missing:
        raise MissingDependencyError(info.name, missing, info.extra)


def _chunked(items: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _scan_chunks(
    chunks: Iterator[list[str]], name: str, options: dict[str, Any], workers: int, start_method: str | None
) -> Iterator[ScanResult]:
    first = list(itertools.islice(chunks, 2))
    if workers == 1 or len(first) < 2:  # a pool is not worth starting for a single chunk
        yield from _scan_in_process(itertools.chain(first, chunks), name, options)
    else:
        from aidetect.scan_pool import scan_in_pool

        yield from scan_in_pool(itertools.chain(first, chunks), name, options, workers, start_method)


def _scan_in_process(chunks: Iterable[list[str]], name: str, options: dict[str, Any]) -> Iterator[ScanResult]:
    detector = ready_detector(name, options)
    for chunk in chunks:
        yield from score_files(detector, chunk)


def ready_detector(name: str, options: dict[str, Any]) -> Detector:
    """Load the detector and make it prove it can decide (weights found, threshold options valid).

    For `aidetect.BaseDetector` subclasses `decision_rule` reads the model
    card, which loads the model: a detector that cannot run fails here, once,
    rather than once per file.
    """
    from aidetect.registry import load

    detector = load(name, **options)
    try:
        rule = getattr(detector, "decision_rule", None)
        if callable(rule):
            rule()
    except AidetectError:
        raise
    except Exception as exc:
        raise DetectorError(f"detector {name!r} cannot run: {type(exc).__name__}: {exc}") from exc
    return detector


def score_files(detector: Detector, paths: Sequence[str]) -> list[ScanResult]:
    """Score ``paths`` as one batch; a file that fails gets an error result, the others their verdict.

    Image errors are the file's fault. Library errors that are not about an
    image (weights, configuration) are the run's fault and propagate. Any
    other exception from the batch is retried file by file so that it is
    pinned on the file that caused it.
    """
    return score_sources(detector, [(path, path) for path in paths])


def score_sources(detector: Detector, items: Sequence[tuple[str, Any]]) -> list[ScanResult]:
    """`score_files` for ``(path, source)`` pairs whose source is already in memory (e.g. the file's bytes).

    The row says ``path``; the detector loads ``source``. `aidetect.distributed`
    hands over the bytes Ray read, so both engines build their rows here.
    """
    name = str(getattr(detector, "name", type(detector).__name__))
    loader = getattr(detector, "load", None) or _default_loader
    arrays: dict[str, Any] = {}
    failed: dict[str, ScanResult] = {}
    for path, source in items:
        try:
            arrays[path] = loader(source)
        except ImageError as exc:
            failed[path] = ScanResult.from_error(path, name, exc)
    scored = _predict_isolating_failures(detector, name, arrays)
    version = detector_version(detector)
    return [replace(failed.get(path) or scored[path], version=version) for path, _ in items]


def detector_version(detector: Detector) -> str:
    """``aidetect.__version__``, plus ``+`` and 12 hex digits of the weights' sha256 when the detector has a card."""
    from aidetect import __version__

    try:
        card = getattr(detector, "card_", None)
    except AidetectError:  # not fitted, or no weights: the version alone
        card = None
    sha256 = getattr(card, "sha256", None)
    return f"{__version__}+{sha256[:12]}" if isinstance(sha256, str) and sha256 else __version__


def _default_loader(path: str) -> Any:
    from aidetect.io import load_image

    return load_image(path)


def _predict_isolating_failures(detector: Detector, name: str, arrays: dict[str, Any]) -> dict[str, ScanResult]:
    if not arrays:
        return {}
    try:
        predictions = detector.predict_batch(list(arrays.values()), batch_size=len(arrays))
    except Exception as exc:
        if _is_run_failure(exc):
            raise
        if len(arrays) == 1:
            return {path: ScanResult.from_error(path, name, exc) for path in arrays}
        return {
            path: result
            for one in arrays.items()
            for path, result in _predict_isolating_failures(detector, name, dict([one])).items()
        }
    return {path: ScanResult.from_prediction(path, p) for path, p in zip(arrays, predictions, strict=True)}


def _is_run_failure(exc: BaseException) -> bool:
    """Library errors not about an image (weights, configuration, dependencies) end the run."""
    return isinstance(exc, AidetectError) and not isinstance(exc, ImageError)
