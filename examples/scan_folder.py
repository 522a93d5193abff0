"""Scan a folder with the Python API and write one JSON line per image.

    python examples/scan_folder.py photos/ results.jsonl --workers 4

The same as ``aidetect scan photos/ -r -f json --output results.jsonl``, for
when the scan is part of a larger program. Results stream in as they are
ready (in completion order with several workers), each line is flushed, and
unreadable files get a line with ``error`` set instead of stopping the scan.
"""

from __future__ import annotations

import argparse
import json
import sys

import aidetect
from aidetect.errors import AidetectError
from aidetect.scan import ScanSummary, scan


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("output", help="JSON Lines file to write")
    parser.add_argument("--detector", default=aidetect.DEFAULT_DETECTOR)
    parser.add_argument("--workers", type=int, default=None, help="processes (default: one per core)")
    args = parser.parse_args()

    summary = ScanSummary()
    try:
        results = scan([args.folder], args.detector, recursive=True, workers=args.workers,
                       options={"uncertain_band": (0.4, 0.6)})
        with open(args.output, "w", encoding="utf-8") as out:
            for result in results:
                summary.add(result)
                out.write(json.dumps(result.to_dict()) + "\n")
                out.flush()
                if not result.ok:
                    print(f"skipped {result.path}: {result.error_type}: {result.error}", file=sys.stderr)
    except AidetectError as exc:  # the run itself failed: no such folder, unknown detector, no weights
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.finish(), file=sys.stderr)
    return 0


if __name__ == "__main__":  # required: worker processes may re-import this module
    sys.exit(main())
