"""The rows a distributed scan writes: `aidetect.scan.ScanResult`'s fields, with fixed Arrow types.

One row per file, the columns of the local engine's JSON rows in the same
order. Parquet keeps the types; ``evidence`` is JSON text (a list of
findings) so that the schema stays the same whatever the detector reports.
Every column but ``path`` and ``detector`` may be null: ``score``, ``label``
and ``threshold`` on error rows, the ``error*`` columns on verdicts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow

    from aidetect.scan import ScanResult

COLUMNS = ("path", "score", "label", "threshold", "detector", "crop_scores", "error", "error_type", "error_kind",
           "evidence", "version")
"""The row's columns, in order (`arrow_schema` gives their types)."""

FORMATS = {"parquet": ".parquet", "jsonl": ".json"}
"""Output formats and the suffix of the files Ray writes for each (Ray names JSON Lines files ``*.json``)."""


def arrow_schema() -> pyarrow.Schema:
    """The Arrow schema of every row file: strings, float64 scores, a list of float64 crop scores."""
    import pyarrow as pa

    text, number = pa.string(), pa.float64()
    # "element": the item name Parquet gives a list on disk, so a table read back has this very schema.
    types = {"score": number, "threshold": number, "crop_scores": pa.list_(pa.field("element", number))}
    return pa.schema([pa.field(name, types.get(name, text), nullable=name not in ("path", "detector"))
                      for name in COLUMNS])


def row(result: ScanResult) -> dict[str, Any]:
    """One `ScanResult` as a row of `arrow_schema` (``evidence`` as JSON text)."""
    data = result.to_dict()
    data["evidence"] = json.dumps(data["evidence"]) if result.evidence else None
    return {name: data[name] for name in COLUMNS}


def results_table(results: Sequence[ScanResult]) -> pyarrow.Table:
    """Rows as an Arrow table with exactly `arrow_schema`, whatever the batch holds (even no verdict at all)."""
    import pyarrow as pa

    return pa.Table.from_pylist([row(result) for result in results], schema=arrow_schema())


def output_location(output: str | os.PathLike[str]) -> str:
    """``output`` as Ray and pyarrow take it: an absolute local path, or the URI as given (``s3://bucket/run1``)."""
    from aidetect.distributed.inputs import is_uri

    text = os.fspath(output)
    return text if is_uri(text) else str(Path(text.removeprefix("file://")).resolve())


def result_files(output: str, output_format: str) -> tuple[Any, list[str]]:
    """The file system of ``output`` and the row files already in it (none when it does not exist)."""
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(output)
    if filesystem.get_file_info(base).type != fs.FileType.Directory:
        return filesystem, []
    entries = filesystem.get_file_info(fs.FileSelector(base, recursive=False))
    suffix = FORMATS[output_format]
    return filesystem, sorted(e.path for e in entries if e.type == fs.FileType.File and e.path.endswith(suffix))


def read_rows(output: str, output_format: str, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows in ``output`` as dicts, only ``columns`` when given (resume reads the paths alone)."""
    import pyarrow.parquet as pq

    filesystem, files = result_files(output, output_format)
    rows: list[dict[str, Any]] = []
    for file in files:
        if output_format == "parquet":
            rows.extend(pq.read_table(file, filesystem=filesystem, columns=columns).to_pylist())
            continue
        with filesystem.open_input_stream(file) as stream:
            for line in stream.read().decode("utf-8").splitlines():
                if line.strip():
                    record = json.loads(line)
                    rows.append({name: record.get(name) for name in columns} if columns else record)
    return rows


def done_paths(output: str, output_format: str) -> set[str]:
    """The paths that already have a row in ``output``: what `aidetect.distributed.scan` skips on resume."""
    return {record["path"] for record in read_rows(output, output_format, ["path"])}


def write_rows(results: Sequence[ScanResult], output: str, output_format: str, name: str) -> str:
    """Write ``results`` as one more row file ``name`` in ``output`` (rows the driver itself decided); its path."""
    import pyarrow.parquet as pq
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(output)
    filesystem.create_dir(base, recursive=True)
    path = f"{base.rstrip('/')}/{name}{FORMATS[output_format]}"
    table = results_table(results)
    if output_format == "parquet":
        pq.write_table(table, path, filesystem=filesystem)
    else:
        lines = "".join(json.dumps(record) + "\n" for record in table.to_pylist())
        with filesystem.open_output_stream(path) as stream:
            stream.write(lines.encode("utf-8"))
    return path
