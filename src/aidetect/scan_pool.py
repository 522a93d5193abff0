"""`aidetect.scan`'s process pool, which outlives a worker that dies.

Each worker loads the detector once (pool initializer) and scores chunks of
paths. At most ``IN_FLIGHT_PER_WORKER`` chunks per worker are queued, so
memory stays bounded however many files there are.

A worker killed by the operating system (out of memory) or by a crash in
native code breaks a `ProcessPoolExecutor` for good, and every chunk then in
flight fails with it, so the one file to blame is unknown. The scan then:

1. keeps every result already finished (nothing yielded is taken back);
2. re-runs the chunks that were in flight one file at a time in a
   one-process pool, so a file that kills its worker again is pinned down
   and reported as a `WorkerCrashed` error row (the others get their verdict);
3. goes on with the remaining chunks in a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import sys
from collections import deque
from collections.abc import Generator, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from aidetect.detector import Detector
from aidetect.errors import DetectorError, WorkerCrashed
from aidetect.scan import ScanResult, ready_detector, score_files

THREAD_ENV_HINTS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")
"""Environment variables set to ``1`` in worker processes (unless already set)."""

IN_FLIGHT_PER_WORKER = 2
"""Chunks queued per worker process: enough to keep it busy, few enough to bound memory."""

MAX_IDLE_BREAKS = 3
"""Pools in a row that may break with no chunk in flight before the scan gives up (a worker that cannot start)."""

CRASH_MESSAGE = (
    "the worker process judging this file died (killed for lack of memory, or a crash in native code); "
    "the scan went on in a fresh process"
)


def scan_in_pool(
    chunks: Iterator[list[str]], name: str, options: dict[str, Any], workers: int, start_method: str | None
) -> Iterator[ScanResult]:
    """Score ``chunks`` in ``workers`` processes, recovering from workers that die (see the module docstring)."""
    context = pool_context(start_method)
    backlog: deque[list[str]] = deque()  # chunks taken from ``chunks`` but not yet submitted to a live pool
    idle_breaks = 0
    while True:
        suspects: list[list[str]] = []
        finished = yield from _run_pool(chunks, backlog, suspects, name, options, workers, context)
        if suspects:
            idle_breaks = 0
            yield from _isolate_crash(suspects, name, options, context)
        elif not finished:  # a worker died between chunks: nobody to blame, start a fresh pool
            idle_breaks += 1
            if idle_breaks > MAX_IDLE_BREAKS:
                raise DetectorError(f"detector {name!r}: worker processes keep dying before judging any file")
        if finished:
            return


def _next_chunk(chunks: Iterator[list[str]], backlog: deque[list[str]]) -> list[str] | None:
    return backlog.popleft() if backlog else next(chunks, None)


def _run_pool(
    chunks: Iterator[list[str]],
    backlog: deque[list[str]],
    suspects: list[list[str]],
    name: str,
    options: dict[str, Any],
    workers: int,
    context: multiprocessing.context.BaseContext,
) -> Generator[ScanResult, None, bool]:
    """Run chunks until they run out (True) or the pool breaks (False; the chunks in flight go to ``suspects``)."""
    pool = _new_pool(workers, name, options, context)
    pending: dict[Future[list[ScanResult]], list[str]] = {}
    broken = False
    try:
        while not suspects and (chunk := _next_chunk(chunks, backlog)) is not None:
            try:
                pending[pool.submit(_score_in_worker, chunk)] = chunk
            except BrokenProcessPool:  # it broke since the last check: this chunk never ran
                backlog.appendleft(chunk)
                broken = True
                break
            if len(pending) >= workers * IN_FLIGHT_PER_WORKER:
                yield from _collect(pending, suspects, FIRST_COMPLETED)
        while pending and not suspects:
            yield from _collect(pending, suspects, FIRST_COMPLETED)
        if pending:  # broken: every other chunk in flight finishes or fails at once
            yield from _collect(pending, suspects, ALL_COMPLETED)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return not (broken or suspects)


def _collect(
    pending: dict[Future[list[ScanResult]], list[str]], suspects: list[list[str]], return_when: str
) -> Iterator[ScanResult]:
    done, _ = wait(pending, return_when=return_when)
    for future in done:
        chunk = pending.pop(future)
        try:
            results = future.result()
        except BrokenProcessPool:
            suspects.append(chunk)
            continue
        yield from results


def _isolate_crash(
    suspects: list[list[str]], name: str, options: dict[str, Any], context: multiprocessing.context.BaseContext
) -> Iterator[ScanResult]:
    """Re-run the files a dead worker may have held, one at a time: the one that kills its worker again is blamed.

    A file that crashed once but not again (the crash came from another file
    in flight, or from memory pressure that has passed) simply gets its verdict.
    """
    pool: ProcessPoolExecutor | None = None
    try:
        for path in (path for chunk in suspects for path in chunk):
            pool = pool or _new_pool(1, name, options, context)
            try:
                results = pool.submit(_score_in_worker, [path]).result()
            except BrokenProcessPool:
                pool.shutdown(wait=True)
                pool = None
                results = [ScanResult.from_error(path, name, WorkerCrashed(CRASH_MESSAGE))]
            yield from results
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def _new_pool(
    workers: int, name: str, options: dict[str, Any], context: multiprocessing.context.BaseContext
) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker, initargs=(name, options))


def pool_context(start_method: str | None) -> multiprocessing.context.BaseContext:
    """``fork`` on Linux (workers inherit detectors registered at run time), ``spawn`` elsewhere, unless given."""
    if start_method is None:
        start_method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(start_method)


# -- in the worker process ----------------------------------------------------------------------------

_worker_detector: Detector | None = None
_worker_failure: BaseException | None = None


def _init_worker(name: str, options: dict[str, Any]) -> None:
    """Pool initializer: thread hints, leave Ctrl-C to the parent, load the detector once."""
    global _worker_detector, _worker_failure
    for variable in THREAD_ENV_HINTS:
        os.environ.setdefault(variable, "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _worker_detector = ready_detector(name, options)
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
