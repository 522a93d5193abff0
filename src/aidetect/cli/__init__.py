"""The ``aidetect`` command: one module per command, registered in `COMMANDS`.

A command module exposes ``add_parser(subcommands) -> argparse.ArgumentParser``
(it adds its parser to ``subcommands`` and returns it) and ``run(args) -> int``
(the exit status). Adding a command is one line in `COMMANDS`.

Each command imports what it needs when it runs, so ``aidetect list`` never
pays for torch and ``aidetect --help`` is instant. Every failure the library
raises on purpose (`aidetect.errors.AidetectError`) becomes one
``aidetect: error: ...`` line on stderr and exit status 2, as do usage errors;
a scan that met unreadable files still exits 0, because those files are
reported in its output.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

from aidetect import __version__
from aidetect.cli._common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
    format_table,
    say,
)
from aidetect.errors import AidetectError

COMMANDS: tuple[str, ...] = (
    "aidetect.cli.listing",
    "aidetect.cli.plugins",
    "aidetect.cli.scan",
    "aidetect.provenance.cli",
    "aidetect.cli.evaluate",
    "aidetect.cli.train",
    "aidetect.cli.tune",
    "aidetect.cli.export_onnx",
    "aidetect.explain.cli",
    "aidetect.serve.command",
    "aidetect.weights_cli",
)
"""Command modules, in ``aidetect --help`` order; each has ``add_parser(subcommands)`` and ``run(args)``."""

DOCS_URL = "https://github.com/aidetect/aidetect/blob/main/docs/cli.md"
"""Where the CLI guide lives for someone who installed a wheel (a relative docs/ path means nothing there)."""

__all__ = [
    "COMMANDS",
    "CSV_COLUMNS",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_OUTPUT_CLOSED",
    "build_parser",
    "format_table",
    "main",
    "training_splits",
]


class _Parser(argparse.ArgumentParser):
    """Usage errors as one ``aidetect: error:`` line (no usage dump) and exit status 2, like every other failure."""

    def error(self, message: str) -> Any:  # argparse's signature is NoReturn
        command = self.prog.removeprefix("aidetect").strip()
        where = f"{command}: " if command else ""
        say(f"error: {where}{message} (see 'aidetect {command + ' ' if command else ''}--help')")
        raise SystemExit(EXIT_FAILURE)


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
            return int(args.handler(args))
        except AidetectError as exc:
            say(f"error: {exc}")
            return EXIT_FAILURE
        except KeyboardInterrupt:
            say("interrupted")
            return EXIT_INTERRUPTED
        except BrokenPipeError:  # e.g. `aidetect scan dir | head`: the reader has seen enough
            _silence_stdout()
            return EXIT_OUTPUT_CLOSED


def build_parser() -> argparse.ArgumentParser:
    """The ``aidetect`` parser with every command of `COMMANDS`."""
    parser = _Parser(
        prog="aidetect",
        description="Tell AI-generated images from real ones.",
        epilog=f"Run 'aidetect COMMAND --help' for a command's options. Docs: {DOCS_URL}",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for module_name in COMMANDS:
        add_command(subcommands, importlib.import_module(module_name))
    return parser


def add_command(subcommands: Any, module: Any) -> argparse.ArgumentParser:
    """Register one command module: its ``add_parser(subcommands)`` builds the parser, its ``run`` handles it."""
    parser: argparse.ArgumentParser = module.add_parser(subcommands)
    parser.set_defaults(handler=module.run)
    return parser


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    say(f"warning: {message}")


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    with contextlib.suppress(OSError, ValueError, io.UnsupportedOperation):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def __getattr__(name: str) -> Any:
    # Names tests and benchmarks import from the former single-module cli.
    if name == "CSV_COLUMNS":
        from aidetect.cli.scan import CSV_COLUMNS

        return CSV_COLUMNS
    if name == "training_splits":
        from aidetect.cli.splits import training_splits

        return training_splits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
