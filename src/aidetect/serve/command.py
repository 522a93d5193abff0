"""``aidetect serve``: load the detectors, warm them, then serve the API and the upload page with uvicorn.

Registered in the ``aidetect`` command by `add_parser`; `run` returns the
exit status. Detectors are loaded before the port is bound, so a missing
extra or broken weights end the command at once with one clear line.
"""

from __future__ import annotations

import argparse
import importlib.util
import ipaddress
import os
import sys
from pathlib import Path
from typing import Any

from aidetect.errors import AidetectError
from aidetect.registry import DEFAULT_DETECTOR
from aidetect.serve.settings import MB, ServeSettings, default_workers

SERVE_MODULES = ("fastapi", "uvicorn", "python_multipart")
THREAD_ENV_HINTS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class ServeSetupError(AidetectError):
    """``aidetect serve`` cannot start: a missing extra, a missing API key variable."""


def add_parser(subcommands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser
    parser = subcommands.add_parser("serve", help="serve an HTTP API and an upload page (needs the [serve] extra)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    parser.add_argument("-d", "--detector", action="extend", nargs="+", metavar="NAME",
                        help=f"detectors to serve; the first is the default (default: {DEFAULT_DETECTOR})")
    parser.add_argument("-w", "--workers", type=_at_least(1), default=None,
                        help="inference threads (default: one per core)")
    parser.add_argument("--queue", type=_at_least(0), default=64,
                        help="requests that may wait for a thread before the server answers 503 (default: 64)")
    parser.add_argument("--max-upload-mb", type=float, default=20.0, help="largest request body in MB (default: 20)")
    parser.add_argument("--max-files", type=_at_least(1), default=16, help="files per request (default: 16)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds before a request gets 504 (default: 30)")
    parser.add_argument("--api-key-env", metavar="VAR",
                        help="require the API key held in environment variable VAR on /v1/*")
    parser.add_argument("--cors-origin", action="append", default=[], metavar="ORIGIN",
                        help="allow browser calls from ORIGIN, repeatable (default: CORS off)")
    parser.add_argument("--uncertain", nargs=2, type=float, metavar=("LOW", "HIGH"),
                        help="label scores in [LOW, HIGH) 'uncertain'")
    parser.add_argument("--save-uploads", type=Path, metavar="DIR",
                        help="keep a copy of every upload in DIR (default: uploads are never written to disk)")
    parser.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"))
    parser.set_defaults(handler=run)
    return parser


def _at_least(minimum: int) -> Any:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {text}")
        return value

    return parse


def run(args: argparse.Namespace) -> int:
    """Start the server; returns when it is stopped (Ctrl+C or SIGTERM)."""
    missing = [module for module in SERVE_MODULES if importlib.util.find_spec(module) is None]
    if missing:
        raise ServeSetupError(f"aidetect serve needs {', '.join(missing)}; run: pip install 'aidetect-images[serve]'")
    settings = settings_from_args(args)
    _warn_if_exposed(args.host, settings)
    _one_thread_per_worker(settings.workers)

    import uvicorn

    from aidetect.serve.app import create_app
    from aidetect.serve.inference import ServedDetectors

    served = ServedDetectors(settings)
    _say(f"loading and warming {', '.join(settings.detectors)} ...")
    served.load()
    _say(f"ready: http://{_url_host(args.host)}:{args.port}/ (API docs at /docs)")
    uvicorn.run(create_app(settings, detectors=served), host=args.host, port=args.port, log_level=args.log_level,
                server_header=False, timeout_graceful_shutdown=10)
    return 0


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env, "")
        if not api_key:
            raise ServeSetupError(f"--api-key-env {args.api_key_env}: that environment variable is unset or empty")
    try:
        return ServeSettings(
            detectors=tuple(args.detector or (DEFAULT_DETECTOR,)),
            workers=args.workers or default_workers(),
            queue_size=args.queue,
            max_upload_bytes=int(args.max_upload_mb * MB),
            max_files=args.max_files,
            request_timeout_s=args.timeout,
            api_key=api_key,
            cors_origins=tuple(args.cors_origin),
            save_uploads_to=args.save_uploads,
            uncertain_band=tuple(args.uncertain) if args.uncertain else None,
        )
    except ValueError as exc:
        raise ServeSetupError(str(exc)) from exc


def _one_thread_per_worker(workers: int) -> None:
    """Each inference thread runs one model call at a time; N threads x N-thread backends would oversubscribe."""
    if workers > 1:
        for name in THREAD_ENV_HINTS:
            os.environ.setdefault(name, "1")


def _warn_if_exposed(host: str, settings: ServeSettings) -> None:
    if not _is_loopback(host) and settings.api_key is None:
        _say(f"warning: listening on {host} without an API key: anyone who can reach this port can use it "
             "(see --api-key-env, and docs/serve.md on running behind a reverse proxy)")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _say(message: str) -> None:
    print(f"aidetect: {message}", file=sys.stderr, flush=True)
