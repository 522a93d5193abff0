"""``aidetect scan``: judge files and folders, one output line per image, streamed as results arrive."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from aidetect.cli._common import (
    EXIT_OK,
    Subcommands,
    add_option_argument,
    add_progress_argument,
    output,
    positive_int,
    probability,
    progress_bar,
    say,
)
from aidetect.distributed.cli import RAY_FORMATS, add_engine_arguments, local_format, run_scan
from aidetect.errors import DetectorError
from aidetect.registry import DEFAULT_DETECTOR

if TYPE_CHECKING:
    from aidetect.scan import ScanResult

CSV_COLUMNS = ("path", "label", "score", "threshold", "detector", "crop_scores", "error_type", "error_kind", "error",
               "evidence")


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().rstrip("\n")


def _csv_row(result: ScanResult) -> str:
    number = "" if result.score is None else f"{result.score:.6f}"
    threshold = "" if result.threshold is None else f"{result.threshold:.6f}"
    crops = ";".join(f"{score:.6f}" for score in result.crop_scores)
    return _csv_line([result.path, result.label or "", number, threshold, result.detector, crops,
                      result.error_type or "", result.error_kind or "", result.error or "",
                      result.evidence_summary()])


def _table_row(result: ScanResult) -> str:
    if not result.ok:
        return f"{'error':<9} {'-':>6}  {result.path}  [{result.error_type}: {result.error}]"
    return f"{result.label:<9} {result.score:>6.3f}  {result.path}"


SCAN_FORMATS: dict[str, tuple[list[str], Callable[[ScanResult], str]]] = {
    "table": ([f"{'LABEL':<9} {'SCORE':>6}  PATH"], _table_row),
    "json": ([], lambda result: json.dumps(result.to_dict())),
    "csv": ([_csv_line(CSV_COLUMNS)], _csv_row),
}
"""Per output format: the header lines and how one result becomes one line."""


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "scan", help="judge image files and folders, streaming the results")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("-d", "--detector", default=DEFAULT_DETECTOR, help="detector name (see 'aidetect list')")
    parser.add_argument("-f", "--format", choices=(*SCAN_FORMATS, *RAY_FORMATS), default=None,
                        help="output format (default: table; --engine ray: parquet)")
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    parser.add_argument("-w", "--workers", type=positive_int, default=None,
                        help="worker processes (default: one per CPU core)")
    parser.add_argument("--batch-size", type=positive_int, default=16, help="files per batch (default: 16)")
    parser.add_argument("--output", type=Path, metavar="FILE",
                        help="write results to FILE instead of stdout (--engine ray: the folder of row files)")
    add_decision_arguments(parser)
    parser.add_argument("--weights", help="weights file (with its .json model card beside it)")
    add_option_argument(parser)
    add_progress_argument(parser)
    add_engine_arguments(parser, resumable=True)
    return parser


def add_decision_arguments(parser: argparse.ArgumentParser) -> None:
    """``--threshold`` / ``--target-fpr`` (one of them) and ``--uncertain LOW HIGH``."""
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--threshold", type=probability, help="label 'ai' at or above this score")
    decision.add_argument("--target-fpr", type=probability, metavar="F",
                          help="use the model card's threshold for this false-positive rate")
    parser.add_argument("--uncertain", nargs=2, type=probability, metavar=("LOW", "HIGH"),
                        help="label scores in [LOW, HIGH) 'uncertain'")


def detector_options(args: argparse.Namespace) -> dict[str, Any]:
    """Detector options from the decision arguments, ``--weights`` and ``-o``; only those the user gave."""
    options: dict[str, Any] = {}
    if args.threshold is not None:
        options["threshold"] = args.threshold
    if args.target_fpr is not None:
        options["target_fpr"] = args.target_fpr
    if args.uncertain is not None:
        low, high = args.uncertain
        if low > high:
            raise DetectorError(f"--uncertain LOW HIGH needs LOW <= HIGH, got {low} {high}")
        options["uncertain_band"] = (low, high)
    if getattr(args, "weights", None) is not None:
        options["weights"] = args.weights
    options.update(args.option)
    return options


class LineWriter:
    """Writes one line at a time, flushed, so an interrupted scan keeps every finished line.

    The header goes out with the first line (or at `finish` when there is
    none), so a run that fails before its first result prints nothing on stdout.
    """

    def __init__(self, out: IO[str], bar: Any, header: Sequence[str]) -> None:
        self.out, self.bar, self.pending = out, bar, list(header)

    def write(self, line: str) -> None:
        for text in [*self.pending, line]:
            if self.out is sys.stdout and not self.bar.disable:
                self.bar.write(text, file=self.out)  # keeps the progress bar below the output
            else:
                self.out.write(text + "\n")
        self.pending = []
        self.out.flush()

    def finish(self) -> None:
        if self.pending:
            self.write(self.pending.pop())


EXIT_DETECTOR_FAILED = 3
"""The scan finished, but the detector (or a worker process) failed on some files: their rows say which."""


def run(args: argparse.Namespace) -> int:
    from aidetect.scan import ScanSummary, count_inputs, scan

    if args.engine == "ray":
        return EXIT_DETECTOR_FAILED if run_scan(args, detector_options(args)) else EXIT_OK
    args.format = local_format(args.format)
    results = scan(args.paths, args.detector, options=detector_options(args), recursive=args.recursive,
                   workers=args.workers, batch_size=args.batch_size)
    header, row = SCAN_FORMATS[args.format]
    report_errors = args.output is not None or args.format != "table"  # else the table row says it
    show_progress = sys.stderr.isatty() if args.progress is None else args.progress
    total = count_inputs(args.paths, recursive=args.recursive) if show_progress else None  # for the ETA
    summary = ScanSummary()
    finished = False
    try:
        with output(args.output) as out, progress_bar(args.progress, desc="scanning", total=total) as bar:
            writer = LineWriter(out, bar, header)
            for result in results:
                writer.write(row(summary.add(result)))
                bar.update(1)
                if report_errors and not result.ok:
                    bar.write(f"aidetect: skipped {result.path}: {result.error_type}: {result.error}",
                              file=sys.stderr)
            writer.finish()
            finished = True
    finally:
        if finished or summary.images:
            say(f"scanned {summary.finish()}")
    return _detector_verdict(summary)


def _detector_verdict(summary: Any) -> int:
    """`EXIT_OK`, or one error line and `EXIT_DETECTOR_FAILED` when the detector itself failed on some files."""
    first = summary.first_detector_error
    if first is None:
        return EXIT_OK
    say(f"error: detector {first.detector!r} failed on {summary.detector_errors} of {summary.images} files "
        f"(first: {first.path}: {first.error_type}: {first.error}); unreadable files: {summary.image_errors}")
    return EXIT_DETECTOR_FAILED
