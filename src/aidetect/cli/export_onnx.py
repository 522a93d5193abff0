"""``aidetect export-onnx``: write a trained network as an ONNX file."""

from __future__ import annotations

import argparse
from pathlib import Path

from aidetect.cli._common import EXIT_OK, Subcommands, capability, optional_dependencies


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser("export-onnx", help="export a detector's network to ONNX")
    parser.add_argument("name", metavar="NAME", help="detector to export")
    parser.add_argument("--weights", help="trained weights to export (default: the bundled ones)")
    parser.add_argument("--out", required=True, type=Path, metavar="FILE.onnx")
    return parser


def run(args: argparse.Namespace) -> int:
    from aidetect.registry import load

    detector = load(args.name, **({"weights": args.weights} if args.weights else {}))
    export = capability(detector, "export_onnx", args.name, "exported to ONNX")
    with optional_dependencies(args.name):
        path = export(args.out)
    print(path or args.out)
    return EXIT_OK
