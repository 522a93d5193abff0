"""Scan and evaluate on a Ray cluster: the local engine's rows, from Ray Data (``pip install "aidetect-images[ray]"``).

`scan` reads files with ``ray.data.read_binary_files`` (paths kept), judges
them in a pool of Ray actors that each load the detector once
(`ScoreBatch`, built on `aidetect.scan.score_sources`, the local engine's row
builder) and writes the rows as Parquet (or JSON Lines) into a folder. A
file that cannot be decoded is an error row, never a failed job; a file whose
worker keeps dying gets a ``WorkerCrashed`` row after Ray's retries and one
isolation pass; ``resume`` skips every path already in the output.
`evaluate` scores a labelled dataset the same way and feeds the rows to the
local engine's metrics and `aidetect.evaluation.EvaluationReport`.

One module per part: `inputs` (paths and globs to a file list), `schema`
(the row columns and their Arrow types, reading what an output holds),
`scorer` (the actor), `runtime` (importing Ray, connecting, retries),
`pipeline` (`scan`), `evaluate` (`evaluate`), `cli` (``--engine ray``).
Nothing here imports Ray or pyarrow until a function runs, so
``import aidetect.distributed`` is cheap and works without the extra.
"""

from __future__ import annotations

from aidetect.distributed.evaluate import evaluate
from aidetect.distributed.pipeline import DistributedScan, scan
from aidetect.distributed.schema import COLUMNS, arrow_schema
from aidetect.distributed.scorer import ScoreBatch

__all__ = ["COLUMNS", "DistributedScan", "ScoreBatch", "arrow_schema", "evaluate", "scan"]
