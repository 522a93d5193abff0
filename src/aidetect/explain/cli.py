"""``aidetect explain`` and ``aidetect evaluate --explain-worst K``: the command-line side of explanations.

`add_parser` adds the ``explain`` subcommand and `run` executes it; the
evaluate hooks (`add_evaluate_arguments`, `check_evaluate_arguments`,
`after_evaluate`) are called by the ``evaluate`` command.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aidetect.errors import DetectorError
from aidetect.explain import METHODS, Explanation

EXIT_OK = 0
HOTTEST_SHOWN = 3


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def add_parser(subcommands: Any) -> argparse.ArgumentParser:
    """Add ``aidetect explain IMAGE [-d NAME] [--out overlay.png] [--method ...] [--stride N]``."""
    from aidetect.registry import DEFAULT_DETECTOR

    parser: argparse.ArgumentParser
    parser = subcommands.add_parser("explain", help="show where in an image a detector sees generation")
    parser.add_argument("image", metavar="IMAGE", help="image file")
    parser.add_argument("-d", "--detector", default=DEFAULT_DETECTOR, help="detector name (see 'aidetect list')")
    parser.add_argument("--out", type=Path, metavar="FILE",
                        help="write the overlay (PNG) here, and any evidence maps beside it as FILE-<name>.png")
    parser.add_argument("--method", choices=METHODS, default="auto",
                        help="window (any detector), occlusion (neural), evidence (forensic-svm); default auto")
    parser.add_argument("--stride", type=_positive_int, help="pixels between windows or hidden patches")
    parser.add_argument("--patch", type=_positive_int, help="side of the hidden patch (occlusion)")
    parser.add_argument("--threshold", type=_probability, help="the detector's threshold (default: its card's)")
    parser.add_argument("--weights", help="weights file (with its .json model card beside it)")
    parser.add_argument("--json", action="store_true", help="print the explanation's cells as JSON")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Explain one image; print a summary (or JSON) and write the overlay when ``--out`` is given."""
    from aidetect.explain import explain
    from aidetect.registry import load

    options = {key: value for key, value in (("threshold", args.threshold), ("weights", args.weights))
               if value is not None}
    detector = load(args.detector, **options)
    explanation = explain(detector, args.image, stride=args.stride, method=args.method, patch=args.patch)
    print(json.dumps(explanation.to_dict(), indent=2) if args.json else summary(explanation))
    if args.out is not None:
        for path in write_overlay(explanation, args.out):
            print(f"aidetect: wrote {path}", file=sys.stderr)
    return EXIT_OK


def summary(explanation: Explanation) -> str:
    """A few lines for a person: the verdict, the grid, the hottest cells."""
    p = explanation.prediction
    lines = [f"{p.source or 'image'}: P(AI) {p.score:.3f}, label {p.label} (threshold {p.threshold:.2f}, {p.detector})",
             f"{explanation.method} map: {len(explanation.cells)} cell(s) of {explanation.cell_size} px, "
             f"stride {explanation.stride}; values: {explanation.value_label}"]
    if explanation.threshold is not None:
        lines.append(f"cells at or above the threshold: {len(explanation.cells_above())} of {len(explanation.cells)}")
    hottest = "; ".join(f"top {c.top} left {c.left}: {c.value:.3f}" for c in explanation.hottest(HOTTEST_SHOWN))
    lines.append(f"hottest: {hottest}")
    return "\n".join(lines)


def write_overlay(explanation: Explanation, out: Path) -> list[Path]:
    """Save the overlay at ``out`` and each evidence map beside it; return the paths."""
    out.parent.mkdir(parents=True, exist_ok=True)
    explanation.overlay().save(out, format="PNG")
    written = [out]
    for name, picture in explanation.evidence_images().items():
        path = out.with_name(f"{out.stem}-{name}.png")
        picture.save(path, format="PNG")
        written.append(path)
    return written


# -- evaluate --explain-worst ---------------------------------------------------------------------


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--explain-worst", type=_positive_int, metavar="K",
                        help="write overlays of each detector's K most confident mistakes per class "
                             "into DIR/explain/ (needs --output)")


def check_evaluate_arguments(args: argparse.Namespace) -> None:
    """Refuse ``--explain-worst`` without a report folder before any scoring starts."""
    if getattr(args, "explain_worst", None) and args.output is None:
        raise DetectorError("--explain-worst needs --output DIR (the overlays go into DIR/explain/)")


def after_evaluate(args: argparse.Namespace, report: Any, dataset: Any, detectors: Sequence[Any]) -> list[Path]:
    """Write the worst-mistake overlays of every evaluated detector (nothing without ``--explain-worst``)."""
    if not getattr(args, "explain_worst", None):
        return []
    from aidetect.explain.worst import explain_worst

    written = explain_worst(report, dataset, dict(zip(report.detectors, detectors, strict=True)),
                            args.explain_worst, args.output)
    for path in written:
        print(f"aidetect: wrote {path}", file=sys.stderr)
    return written
