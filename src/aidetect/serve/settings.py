"""What an ``aidetect serve`` instance is allowed to do: detectors, limits, access.

Everything has a safe default: the default detector, one inference thread
per core, 20 MB per request, a bounded queue, a 30 s timeout, no API key
(so bind to 127.0.0.1), CORS off, uploads kept in memory only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from aidetect.registry import DEFAULT_DETECTOR

MB = 1024 * 1024


def default_workers() -> int:
    """One inference thread per core this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class ServeSettings:
    """Settings of one server; `create_app` and ``aidetect serve`` build everything from them.

    detectors
        Names loaded (and warmed) at start; the first is the default of ``POST /v1/detect``.
    workers
        Inference threads; jobs beyond ``workers + queue_size`` are refused with 503.
    max_upload_bytes
        Largest request body, counted while it streams in, before anything is decoded.
    request_timeout_s
        Longest a request waits for its inference (queue time included) before a 504.
    api_key
        When set, ``/v1/*`` needs ``Authorization: Bearer KEY`` or ``X-API-Key: KEY``.
    cors_origins
        Origins allowed to call the API from a browser; none by default (CORS off).
    save_uploads_to
        A folder to keep a copy of every accepted upload in; ``None`` (default): never written to disk.
    uncertain_band
        ``(low, high)``: scores in between are labelled ``"uncertain"``.
    """

    detectors: tuple[str, ...] = (DEFAULT_DETECTOR,)
    workers: int = field(default_factory=default_workers)
    queue_size: int = 64
    max_upload_bytes: int = 20 * MB
    max_files: int = 16
    request_timeout_s: float = 30.0
    api_key: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    save_uploads_to: Path | None = None
    uncertain_band: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.detectors:
            raise ValueError("serve at least one detector")
        for name, value in (("workers", self.workers), ("max_upload_bytes", self.max_upload_bytes),
                            ("max_files", self.max_files)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        if self.queue_size < 0:
            raise ValueError(f"queue_size must be 0 or more, got {self.queue_size}")
        if self.request_timeout_s <= 0:
            raise ValueError(f"request_timeout_s must be positive, got {self.request_timeout_s}")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must not be empty (use None for no key)")

    @property
    def default_detector(self) -> str:
        return self.detectors[0]
