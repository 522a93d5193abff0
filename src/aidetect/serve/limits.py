"""The server's two guards: a body-size limit enforced while streaming, and a bounded inference pool.

Inference never runs on the event loop: it goes to a fixed number of
threads (one per core by default). Jobs beyond ``workers + queue_size``
are refused at once with `QueueFullError` (503 + ``Retry-After``) rather
than piling up, and a request whose job has not finished after the timeout
gets `RequestTimeoutError` (504); a job still waiting in the queue is then
dropped, one already running finishes and frees its slot.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import AsyncIterable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from aidetect.serve.errors import QueueFullError, RequestTimeoutError, RequestTooLargeError

T = TypeVar("T")


async def read_limited(chunks: AsyncIterable[bytes], limit: int, declared_length: str | None = None) -> bytes:
    """The whole body, or `RequestTooLargeError` as soon as it passes ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading
    anything; a chunked body is counted as it arrives and never held beyond
    ``limit`` bytes. Nothing is decoded here.
    """
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise RequestTooLargeError(f"request body of {int(declared_length)} bytes is over the {_mb(limit)} limit")
    received = bytearray()
    async for chunk in chunks:
        received += chunk
        if len(received) > limit:
            raise RequestTooLargeError(f"request body is over the {_mb(limit)} limit")
    return bytes(received)


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


class InferencePool:
    """A fixed set of inference threads behind a bounded queue."""

    def __init__(self, workers: int, queue_size: int, timeout_s: float) -> None:
        self.workers = workers
        self.capacity = workers + queue_size
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aidetect-inference")
        self._lock = threading.Lock()
        self._in_flight = 0
        self._mean_job_s = 0.1  # running average of job durations, for Retry-After

    @property
    def in_flight(self) -> int:
        """Jobs running or waiting."""
        return self._in_flight

    async def run(self, job: Callable[[], T]) -> T:
        """Run ``job`` on an inference thread and wait for it, within the timeout."""
        self._reserve_slot()
        try:
            future = self._executor.submit(self._timed, job)
        except BaseException:
            self._release_slot()
            raise
        future.add_done_callback(self._on_done)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout_s)
        except asyncio.TimeoutError:  # wait_for also cancelled the job if it was still queued
            raise RequestTimeoutError(f"no result within the {self.timeout_s:g} s request timeout") from None

    def refuse_if_full(self) -> None:
        """`QueueFullError` now if a job would be refused, so a request can be turned away before its body is read."""
        with self._lock:
            self._refuse_when_full()

    def retry_after_s(self) -> int:
        """Seconds until a slot is likely free: the queue ahead, shared by the threads."""
        return max(1, math.ceil(self._mean_job_s * self._in_flight / self.workers))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def _reserve_slot(self) -> None:
        with self._lock:
            self._refuse_when_full()
            self._in_flight += 1

    def _refuse_when_full(self) -> None:  # called under the lock
        if self._in_flight >= self.capacity:
            raise QueueFullError(
                f"the server is busy ({self._in_flight} requests running or queued); try again shortly",
                self.retry_after_s(),
            )

    def _release_slot(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _timed(self, job: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return job()
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self._mean_job_s = 0.9 * self._mean_job_s + 0.1 * elapsed

    def _on_done(self, future: Future[Any]) -> None:
        self._release_slot()  # done, failed or cancelled while queued: the slot is free either way
