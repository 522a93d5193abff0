"""``--engine ray`` for ``aidetect scan`` and ``aidetect evaluate``: the options, and running them on Ray.

Only argparse here at import time: the command modules add these options
whether or not Ray is installed, and Ray is imported when a Ray run starts.
"""

from __future__ import annotations

import argparse
from collections import Counter
from typing import Any

from aidetect.cli._common import EXIT_OK, positive_int, say
from aidetect.errors import DistributedError

ENGINES = ("local", "ray")
RAY_FORMATS = ("parquet", "jsonl")
"""``--format`` values of ``aidetect scan --engine ray`` (``json`` means ``jsonl`` there)."""

LOCAL_ONLY_EVALUATE = {"robustness": "--robustness", "normalise": "--normalise", "leave_one_out": "--leave-one-out",
                       "explain_worst": "--explain-worst"}
"""``aidetect evaluate`` options the Ray engine does not run (they need the detector in this process)."""


def add_engine_arguments(parser: argparse.ArgumentParser, *, resumable: bool = False) -> None:
    """``--engine local|ray`` and the Ray engine's options (``--resume`` with ``resumable``)."""
    group = parser.add_argument_group("Ray engine (pip install 'aidetect-images[ray]'; docs/distributed.md)")
    group.add_argument("--engine", choices=ENGINES, default="local",
                       help="local: processes on this machine (default); ray: a Ray cluster")
    group.add_argument("--address", metavar="ADDRESS",
                       help="Ray cluster to join: auto, or ray://HOST:10001 (default: start one on this machine)")
    group.add_argument("--concurrency", type=positive_int, metavar="N",
                       help="Ray actors, each holding one detector (default: one per --cpus-per-worker CPUs)")
    group.add_argument("--cpus-per-worker", type=float, default=1.0, metavar="CPUS",
                       help="CPUs each Ray actor reserves (default: 1)")
    if resumable:
        group.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                           help="skip files already in --output DIR (default); --no-resume refuses a folder "
                                "that holds rows")


def run_scan(args: argparse.Namespace, options: dict[str, Any]) -> bool:
    """``aidetect scan --engine ray``: rows into ``--output DIR`` and a summary on stderr; whether the detector
    failed on some files (the local engine's exit status 3)."""
    from aidetect.distributed.pipeline import scan
    from aidetect.distributed.schema import read_rows

    if args.output is None:
        raise DistributedError("--engine ray writes its rows into a folder: give --output DIR")
    if args.workers is not None:
        raise DistributedError("--workers is for --engine local; the Ray engine's pool size is --concurrency")
    output_format = "jsonl" if args.format == "json" else args.format or "parquet"
    if output_format not in RAY_FORMATS:
        raise DistributedError(f"--engine ray writes {' or '.join(RAY_FORMATS)}, not {args.format}")
    report = scan(args.paths, args.detector, output=args.output, output_format=output_format,
                  options=options, recursive=args.recursive, batch_size=args.batch_size,
                  concurrency=args.concurrency, num_cpus_per_worker=args.cpus_per_worker, resume=args.resume,
                  ray_address=args.address, progress=bool(args.progress))
    say(f"scanned {report}")
    kinds = Counter(record["error_kind"] for record in read_rows(report.output, output_format, ["error_kind"]))
    say(f"{report.output} holds {sum(kinds.values())} rows: {kinds[None]} verdicts, {kinds['image']} unreadable "
        f"files, {kinds['detector']} detector failures")
    for path in report.crashed:
        say(f"worker kept dying on {path}")
    return kinds["detector"] > 0


def local_format(requested: str | None) -> str:
    """The local engine's ``--format`` (default ``table``; ``jsonl`` is its ``json``); Ray's formats refused."""
    if requested == "parquet":
        raise DistributedError("--format parquet needs --engine ray (and --output DIR)")
    return "json" if requested == "jsonl" else requested or "table"


def run_evaluate(args: argparse.Namespace, print_report: Any) -> int:
    """``aidetect evaluate --engine ray``: the clean condition scored on Ray, reported as locally."""
    from aidetect.cli._common import dataset_location
    from aidetect.datasets import load_dataset
    from aidetect.distributed.evaluate import evaluate
    from aidetect.registry import DEFAULT_DETECTOR

    refused = [flag for option, flag in LOCAL_ONLY_EVALUATE.items() if getattr(args, option, None)]
    if refused:
        raise DistributedError(f"{', '.join(refused)}: --engine local only (the Ray engine scores the clean "
                               "condition)")
    dataset = load_dataset(dataset_location(args.dataset), split=args.split)
    report = evaluate(dataset, args.detector or [DEFAULT_DETECTOR], threshold=args.threshold,
                      batch_size=args.batch_size, concurrency=args.concurrency,
                      num_cpus_per_worker=args.cpus_per_worker, ray_address=args.address,
                      progress=bool(args.progress))
    if args.output is not None:
        for path in report.write(args.output):
            say(f"wrote {path}")
    print(print_report(report))
    return EXIT_OK
