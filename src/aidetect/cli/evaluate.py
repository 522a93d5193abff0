"""``aidetect evaluate``: metrics of one or more detectors on a labelled dataset, optionally degraded."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidetect.cli._common import (
    EXIT_OK,
    Subcommands,
    add_progress_argument,
    dataset_location,
    format_table,
    optional_dependencies,
    positive_int,
    probability,
    progress_bar,
    say,
)
from aidetect.distributed.cli import add_engine_arguments, run_evaluate
from aidetect.errors import DatasetError, DetectorError
from aidetect.explain import cli as explain_cli
from aidetect.registry import DEFAULT_DETECTOR

if TYPE_CHECKING:
    from aidetect.datasets import Dataset
    from aidetect.detector import Detector
    from aidetect.evaluation import EvaluationReport


def _report_table(report: EvaluationReport) -> str:
    keys = ("n", "accuracy", "roc_auc", "f1", "ece", "eer")
    rows = []
    for detector in report.detectors:
        for condition in report.conditions:
            metrics = report.result(detector, condition).metrics
            rows.append([detector, condition, *(_number(metrics.get(key)) for key in keys)])
    table = format_table(["DETECTOR", "CONDITION", *(key.upper() for key in keys)], rows)
    return f"{report.dataset}: {report.n_images} images, {len(report.errors)} left out\n{table}"


def _number(value: Any) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4f}"  # nan: undefined (e.g. one class only)
    return "-" if value is None else str(value)


REPORT_FORMATS: dict[str, Callable[[EvaluationReport], str]] = {
    "table": _report_table,
    "markdown": lambda report: report.to_markdown(),
    "json": lambda report: json.dumps(report.to_dict(), indent=2),
}


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "evaluate", help="measure detectors on a labelled dataset")
    parser.add_argument("dataset", metavar="DATASET", help="labelled folder (real/ fake/ ...) or CSV manifest")
    parser.add_argument("-d", "--detector", action="append", metavar="NAME[=WEIGHTS]",
                        help=f"detector to evaluate, repeatable (default: {DEFAULT_DETECTOR})")
    parser.add_argument("--split", help="only this manifest split (e.g. test)")
    parser.add_argument("--robustness", action="store_true",
                        help="also score JPEG, rescaled, blurred, cropped and social-media copies")
    parser.add_argument("--normalise", action="store_true",
                        help="also score format-normalised copies (same size and JPEG for both classes)")
    parser.add_argument("--threshold", type=probability, help="one threshold for every detector")
    parser.add_argument("--leave-one-out", action="append", metavar="GENERATOR",
                        help="also train each detector afresh without GENERATOR's images and test it on them "
                             "against held-out reals (trainable detectors; repeatable)")
    parser.add_argument("--batch-size", type=positive_int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--output", type=Path, metavar="DIR", help="write report.json, report.md and plots to DIR")
    parser.add_argument("-f", "--format", choices=tuple(REPORT_FORMATS), default="table",
                        help="what to print on stdout")
    explain_cli.add_evaluate_arguments(parser)
    add_progress_argument(parser)
    add_engine_arguments(parser)
    return parser


def _load_detector_spec(spec: str) -> Detector:
    """``NAME`` or ``NAME=WEIGHTS``."""
    from aidetect.registry import load

    name, _, weights = spec.partition("=")
    return load(name, **({"weights": weights} if weights else {}))


def run(args: argparse.Namespace) -> int:
    from aidetect.datasets import load_dataset
    from aidetect.evaluation import condition_names, evaluate

    if args.engine == "ray":
        return run_evaluate(args, REPORT_FORMATS[args.format])
    explain_cli.check_evaluate_arguments(args)
    specs = args.detector or [DEFAULT_DETECTOR]
    dataset = load_dataset(dataset_location(args.dataset), split=args.split)
    detectors = [_load_detector_spec(spec) for spec in specs]
    if args.leave_one_out:  # refuse before the (long) evaluation, not after it
        from aidetect.trainable import Trainable

        for spec, detector in zip(specs, detectors, strict=True):
            if not isinstance(detector, Trainable):
                raise DetectorError(f"detector {spec.partition('=')[0]!r} cannot be trained, which leave-one-out needs")
        _check_generators(dataset, args.leave_one_out)
    conditions = condition_names(robustness=args.robustness, normalise=args.normalise)
    total = len(dataset) * len(detectors) * len(conditions)
    with progress_bar(args.progress, desc="evaluating", total=total) as bar:
        report = evaluate(detectors, dataset, robustness=args.robustness, normalise=args.normalise,
                          batch_size=args.batch_size, threshold=args.threshold, progress=bar.update)
    if args.output is not None:
        for path in report.write(args.output):
            say(f"wrote {path}")
    explain_cli.after_evaluate(args, report, dataset, detectors)
    print(REPORT_FORMATS[args.format](report))
    if args.leave_one_out:
        for spec in specs:
            _leave_one_out(spec.partition("=")[0], dataset, args.leave_one_out, args.output)
    return EXIT_OK


def _check_generators(dataset: Dataset, generators: Sequence[str]) -> None:
    known = set(dataset.generators) - {"real"}
    missing = [g for g in generators if g not in known]
    if missing:
        raise DatasetError(f"no AI images of generator(s) {missing} in {dataset.name}; it has {sorted(known)}")


def _leave_one_out(name: str, dataset: Dataset, generators: Sequence[str], output: Path | None) -> None:
    """Print (and with ``output``, write) the leave-one-generator-out table of detector ``name``."""
    from aidetect.evaluation import leave_one_generator_out, logo_to_markdown
    from aidetect.registry import load

    say(f"leave one generator out: training {name} {len(generators)} time(s)")
    with optional_dependencies(name):
        table = leave_one_generator_out(lambda: load(name), dataset, generators)
    print(f"\nleave one generator out, {name}:\n{logo_to_markdown(table)}", end="")
    if output is not None:
        path = output / f"leave_one_out_{name}.json"
        path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {path}")
