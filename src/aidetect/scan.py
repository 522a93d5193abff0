"""Batch scanning: judge every image under some paths, streaming, one broken file never stops it.

`scan` walks files and folders with `aidetect.datasets.iter_images` (one
directory at a time, so a folder of a million files is never listed into
memory), scores them in chunks of ``batch_size`` and yields one `ScanResult`
per file as soon as it is known. A file that cannot be read yields a result
whose ``error`` says why; only failures of the run itself (unknown detector,
missing dependency or weights, a path that does not exist) raise.

With ``workers > 1`` the chunks go to a process pool whose workers each load
the detector once. Results then arrive in completion order, and at most
``2 * workers`` chunks are in flight, so memory stays bounded however many
files there are. Each worker is given ``OMP_NUM_THREADS=1``-style hints (where
not already set) so that N processes do not each start a full-size OpenMP,
BLAS or ONNX Runtime thread pool (efficientnet's session follows
``OMP_NUM_THREADS`` unless given ``threads``).

    >>> from aidetect.scan import scan, ScanSummary
    >>> summary = ScanSummary()
    >>> for result in scan(["photos/"], recursive=True):
    ...     summary.add(result)
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import pickle
import signal
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aidetect.datasets import iter_images
from aidetect.detector import AI_LABEL, REAL_LABEL, UNCERTAIN_LABEL, Detector, Prediction
from aidetect.errors import AidetectError, DetectorError, ImageError
from aidetect.evidence import Evidence
from aidetect.registry import DEFAULT_DETECTOR, get_registry

THREAD_ENV_HINTS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
"""Environment variables set to ``1`` in worker processes (unless already set)."""

IN_FLIGHT_PER_WORKER = 2
"""Chunks queued per worker process: enough to keep it busy, few enough to bound memory."""


class ScanPathError(AidetectError, FileNotFoundError):
    """A path given to `scan` does not exist."""


@dataclass(frozen=True)
class ScanResult:
    """The verdict on one file, or why there is none.

    ``score``, ``label`` and ``threshold`` are ``None`` when ``error`` is set;
    ``error_type`` is then the name of the exception class (for example
    ``CorruptImageError``) and ``error`` its message.
    """

    path: str
    score: float | None
    label: str | None
    threshold: float | None
    detector: str
    crop_scores: tuple[float, ...] = ()
    error: str | None = None
    error_type: str | None = None
    evidence: tuple[Evidence, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def from_prediction(cls, path: str, prediction: Prediction) -> ScanResult:
        return cls(path, prediction.score, prediction.label, prediction.threshold, prediction.detector,
                   tuple(prediction.crop_scores), evidence=tuple(getattr(prediction, "evidence", ())))

    @classmethod
    def from_error(cls, path: str, detector: str, exc: BaseException) -> ScanResult:
        message = exc.reason if isinstance(exc, ImageError) else str(exc)
        return cls(path, None, None, None, detector, error=message or type(exc).__name__,
                   error_type=type(exc).__name__)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["crop_scores"] = list(self.crop_scores)
        data["evidence"] = [finding.to_dict() for finding in self.evidence]
        return data

    def evidence_summary(self) -> str:
        """The findings as ``kind:strength:indicates`` joined by ``;`` (the CSV column)."""
        return ";".join(finding.summary() for finding in self.evidence)


@dataclass
class ScanSummary:
    """Running totals of a scan: images per label, errors, throughput."""

    labels: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None

    def add(self, result: ScanResult) -> ScanResult:
        """Count ``result`` and hand it back, so that ``map(summary.add, results)`` streams."""
        if result.ok:
            self.labels[str(result.label)] += 1
        else:
            self.errors += 1
        return result

    def finish(self) -> ScanSummary:
        """Stop the clock (further `add` calls still count, the rate uses this time)."""
        self.finished = time.perf_counter()
        return self

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
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 2),
        }

    def __str__(self) -> str:
        data = self.to_dict()
        return (
            f"{data['images']} images: {data[AI_LABEL]} ai, {data[REAL_LABEL]} real, "
            f"{data[UNCERTAIN_LABEL]} uncertain, {data['errors']} errors "
            f"in {data['seconds']:.1f} s ({data['images_per_second']:.1f} images/s)"
        )


def scan(
    paths: str | os.PathLike | Iterable[str | os.PathLike],
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
    _check_detector(detector_name)
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    workers = (os.cpu_count() or 1) if workers is None else workers
    if workers < 1:
        raise ValueError("workers must be at least 1")
    files = (str(path) for root in roots for path in iter_images(root, recursive=recursive))
    chunks = _chunked(files, batch_size)
    options = dict(options or {})
    return _scan_chunks(chunks, detector_name, options, workers, start_method)


def _check_paths(roots: Sequence[Path]) -> None:
    if not roots:
        raise ScanPathError("no paths to scan")
    missing = [str(root) for root in roots if not root.exists()]
    if missing:
        raise ScanPathError(f"no such file or folder: {', '.join(missing)}")


def _check_detector(name: str) -> None:
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
        yield from _scan_in_pool(itertools.chain(first, chunks), name, options, workers, start_method)


def _scan_in_process(chunks: Iterable[list[str]], name: str, options: dict[str, Any]) -> Iterator[ScanResult]:
    detector = _ready_detector(name, options)
    for chunk in chunks:
        yield from score_files(detector, chunk)


def _ready_detector(name: str, options: dict[str, Any]) -> Detector:
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
    name = str(getattr(detector, "name", type(detector).__name__))
    loader = getattr(detector, "load", None) or _default_loader
    arrays: dict[str, Any] = {}
    failed: dict[str, ScanResult] = {}
    for path in paths:
        try:
            arrays[path] = loader(path)
        except ImageError as exc:
            failed[path] = ScanResult.from_error(path, name, exc)
    scored = _predict_isolating_failures(detector, name, arrays)
    return [failed.get(path) or scored[path] for path in paths]


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


# -- the process pool ----------------------------------------------------------------------------

_worker_detector: Detector | None = None
_worker_failure: BaseException | None = None


def _init_worker(name: str, options: dict[str, Any]) -> None:
    """Pool initializer: thread hints, leave Ctrl-C to the parent, load the detector once."""
    global _worker_detector, _worker_failure
    for variable in THREAD_ENV_HINTS:
        os.environ.setdefault(variable, "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _worker_detector = _ready_detector(name, options)
    except Exception as exc:  # reported with the first chunk: an initializer that raises breaks the pool
        _worker_failure = exc


def _score_in_worker(paths: list[str]) -> list[ScanResult]:
    if _worker_failure is not None:
        raise _portable(_worker_failure)
    assert _worker_detector is not None
    try:
        return score_files(_worker_detector, paths)
    except Exception as exc:
        raise _portable(exc) from None


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to cross back to the parent), else a `DetectorError` saying what it was."""
    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:
        return DetectorError(f"{type(exc).__name__}: {exc}")


def _pool_context(start_method: str | None) -> multiprocessing.context.BaseContext:
    if start_method is None:
        start_method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(start_method)


def _scan_in_pool(
    chunks: Iterator[list[str]], name: str, options: dict[str, Any], workers: int, start_method: str | None
) -> Iterator[ScanResult]:
    limit = workers * IN_FLIGHT_PER_WORKER
    pool = ProcessPoolExecutor(workers, mp_context=_pool_context(start_method), initializer=_init_worker,
                               initargs=(name, options))
    pending: set[Future[list[ScanResult]]] = set()
    try:
        for chunk in chunks:
            pending.add(pool.submit(_score_in_worker, chunk))
            if len(pending) >= limit:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield from _results_of(done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield from _results_of(done)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _results_of(done: Iterable[Future[list[ScanResult]]]) -> Iterator[ScanResult]:
    for future in done:
        yield from future.result()
