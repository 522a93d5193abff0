"""``aidetect inspect FILE...``: print what each file's metadata says about its origin.

Registered in the main parser with two lines (``add_parser`` and its
handler, ``run``). Text output is for people; ``--format json`` prints one
JSON object per file (JSON Lines). A file that cannot be read is reported on
stderr and skipped; the exit status is non-zero only when the run itself fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aidetect.errors import ImageError
from aidetect.evidence import Evidence

FORMATS = ("text", "json")


def add_parser(commands: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser
    parser = commands.add_parser("inspect", help="show the provenance metadata of image files (C2PA, IPTC, EXIF, ...)")
    parser.add_argument("paths", nargs="+", metavar="FILE", help="image files or folders")
    parser.add_argument("-f", "--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("-r", "--recursive", action="store_true", help="descend into sub-folders")
    parser.add_argument("--no-c2pa", dest="c2pa", action="store_false", help="do not validate C2PA manifests")
    parser.add_argument("--trust-anchors", metavar="PEM",
                        help="root certificates a C2PA signer must chain to for the 'trusted' status")
    parser.set_defaults(handler=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from aidetect.detectors.provenance import ProvenanceDetector

    detector = ProvenanceDetector(c2pa=args.c2pa, trust_anchors=args.trust_anchors)
    for path in _files(args.paths, args.recursive):
        try:
            prediction = detector.predict(path)
        except ImageError as exc:
            print(f"aidetect: skipped {path}: {type(exc).__name__}: {exc.reason}", file=sys.stderr, flush=True)
            continue
        if args.format == "json":
            print(json.dumps({"path": str(path), "label": prediction.label, "score": prediction.score,
                              "evidence": [finding.to_dict() for finding in prediction.evidence]}), flush=True)
        else:
            print(describe(str(path), prediction.label, prediction.score, prediction.evidence), flush=True)
    return 0


def _files(paths: list[str], recursive: bool) -> Iterator[Path]:
    from aidetect.datasets import iter_images

    for text in paths:
        path = Path(text)
        if path.is_dir():
            yield from iter_images(path, recursive=recursive)
        else:
            yield path  # a missing file is reported by the reader, like any unreadable one


def describe(path: str, label: str, score: float, evidence: tuple[Evidence, ...]) -> str:
    """A few indented lines: the verdict, then one line per finding (C2PA details below their finding)."""
    lines = [f"{path}: {label} ({score:.2f})"]
    if not evidence:
        lines.append("  no provenance metadata found (stripped, or never written)")
    for finding in evidence:
        points = finding.indicates or "neither way"
        lines.append(f"  [{finding.strength} → {points}] {finding.kind}: {finding.detail}")
        if finding.c2pa is not None:
            c2pa = finding.c2pa
            fields = (("validation", c2pa.validation), ("signer", c2pa.signer), ("issuer", c2pa.issuer),
                      ("claim generator", c2pa.claim_generator), ("actions", ", ".join(c2pa.actions)),
                      ("failures", ", ".join(c2pa.failures)))
            lines += [f"      {name}: {value}" for name, value in fields if value]
    return "\n".join(lines)
