"""``aidetect plugins``: every loaded plugin, where it comes from, and whether it loaded."""

from __future__ import annotations

import argparse
import json

from aidetect.cli._common import EXIT_OK, Subcommands, format_table


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser("plugins", help="list the loaded plugins and their status")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def run(args: argparse.Namespace) -> int:
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
