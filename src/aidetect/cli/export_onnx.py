"""``aidetect export-onnx``: write a trained network as an ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path

from aidetect.cli._common import EXIT_OK, Subcommands, optional_dependencies
from aidetect.errors import DetectorError


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser("export-onnx", help="export a detector's network to ONNX")
    parser.add_argument("name", metavar="NAME", help="detector to export")
    parser.add_argument("--weights", help="trained weights to export (default: the bundled ones)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.onnx")
    return parser


def run(args: argparse.Namespace) -> int:
    from aidetect.registry import load
    from aidetect.trainable import Exportable

    detector = load(args.name, **({"weights": args.weights} if args.weights else {}))
    if not isinstance(detector, Exportable):
        raise DetectorError(f"detector {args.name!r} cannot be exported to ONNX")
    with optional_dependencies(args.name):
        path = detector.export_onnx(args.out)
    print(path or args.out)
    return EXIT_OK
