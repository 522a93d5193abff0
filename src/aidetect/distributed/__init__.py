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
`scorer` (the actor), `runtime` (importing Ray, connecting, failures),
`pipeline` (`scan`), `evaluate` (`evaluate`), `cli` (``--engine ray``).
Importing this package imports none of them (the names below load on first
use), and none imports Ray or pyarrow until a function runs, so the
``aidetect`` command's options cost nothing without the extra.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "scan": "pipeline", "DistributedScan": "pipeline", "evaluate": "evaluate", "ScoreBatch": "scorer",
    "COLUMNS": "schema", "arrow_schema": "schema",
}
"""Public name -> the submodule that defines it."""

__all__ = ["COLUMNS", "DistributedScan", "ScoreBatch", "arrow_schema", "evaluate", "scan"]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    # Bound here for good: importing the submodule `evaluate` set this package's attribute of that name to it.
    globals()[name] = value
    return value
