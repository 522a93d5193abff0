"""``aidetect list``: the registered detectors, whether they can run here, and how to make them."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from aidetect.cli._common import EXIT_OK, Subcommands, format_table
from aidetect.errors import MissingDependencyError
from aidetect.registry import DEFAULT_DETECTOR

if TYPE_CHECKING:
    from aidetect.registry import DetectorInfo


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser("list", help="list the available detectors")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def detector_status(info: DetectorInfo) -> tuple[str, str | None]:
    """``("ready" | "missing: pkg" | "no weights", install hint or None)``."""
    missing = info.missing()
    if missing:
        return "missing: " + ", ".join(missing), str(MissingDependencyError(info.name, missing, info.extra))
    if info.has_weights() is False:
        return "no weights", f"detector {info.name!r} has no weights here; train them with 'aidetect train {info.name}'"
    return "ready", None


def run(args: argparse.Namespace) -> int:
    from aidetect.registry import available

    infos = available()
    statuses = [detector_status(info) for info in infos]
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
