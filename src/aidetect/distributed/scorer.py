"""`ScoreBatch`: the Ray actor that judges batches of files read by ``ray.data.read_binary_files``.

Each actor loads the detector once (`aidetect.scan.ready_detector`) and turns
a batch of ``{"path": ..., "bytes": ...}`` into rows of
`aidetect.distributed.schema.arrow_schema` through
`aidetect.scan.score_sources`, the local engine's row builder: bytes that do
not decode are error rows, a detector failure on one file is pinned on that
file, and only failures of the run itself (weights, configuration) raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aidetect.detector import Detector
from aidetect.scan import ready_detector, score_sources

if TYPE_CHECKING:
    import numpy as np
    import pyarrow

DetectorSpec = str | Callable[[], Detector]
"""A registered detector's name, or a picklable function that builds one (a detector no plugin registers on the
workers: Ray pickles the function, so its module must be importable there)."""


class ScoreBatch:
    """Callable class for ``Dataset.map_batches``: one detector per actor, one Arrow table per batch.

    ``scheme`` (e.g. ``"s3"``) is put back in front of the paths of files
    read from an object store, which Ray reports as ``bucket/key``, so that
    rows name the URI the scan was given.
    """

    def __init__(self, detector: DetectorSpec, options: dict[str, Any] | None = None, scheme: str | None = None
                 ) -> None:
        self.detector = ready_detector(detector, dict(options or {})) if isinstance(detector, str) else detector()
        self.prefix = f"{scheme}://" if scheme else ""

    def __call__(self, batch: dict[str, np.ndarray]) -> pyarrow.Table:
        from aidetect.distributed.schema import results_table

        items = [(self.row_path(str(path)), bytes(data)) for path, data in zip(batch["path"], batch["bytes"],
                                                                                strict=True)]
        return results_table(score_sources(self.detector, items))

    def row_path(self, path: str) -> str:
        return path if not self.prefix or "://" in path else self.prefix + path
