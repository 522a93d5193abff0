"""Soak test: `aidetect scan` of thousands of files with 2 workers, resident memory sampled throughout.

    python benchmarks/soak_scan.py --files 5000 --workers 2 --out benchmarks/results

Writes ``--files`` small images (PNG and JPEG, 96-320 px, one in 100 deliberately broken) into a temporary
folder, runs ``aidetect scan FOLDER --workers N --format json --output FILE`` as a child process and, every
``--interval`` seconds, sums the resident set (``VmRSS``) of the scan and all its worker processes and counts
the result lines written so far. Memory is "flat" when the resident set of the last quarter of the run is
within a few per cent of the quarter after warm-up (the first 10% of files); the ratio is reported.

Writes ``soak.json`` (every sample) and ``soak.md`` (the summary for ``results.md``) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_accuracy import write_outputs

HERE = Path(__file__).resolve().parent


def write_images(folder: Path, count: int, seed: int = 0) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for index in range(count):
        side = int(rng.integers(96, 321))
        pixels = rng.integers(0, 256, (side, int(side * rng.uniform(0.75, 1.33)), 3), dtype=np.uint8)
        path = folder / f"img{index:05d}.{'png' if index % 2 else 'jpg'}"
        if index % 100 == 99:
            path.write_bytes(b"broken on purpose" * 10)
        elif path.suffix == ".jpg":
            Image.fromarray(pixels).save(path, quality=85)
        else:
            Image.fromarray(pixels).save(path)


def tree_rss_mb(pid: int) -> tuple[float, int]:
    """Resident MB of ``pid`` and all its descendants, and how many processes that is."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, count, stack = 0.0, 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024
                count += 1
        except (OSError, StopIteration):
            pass
        stack.extend(children.get(current, []))
    return total, count


def count_lines(path: Path) -> int:
    try:
        with open(path, "rb") as handle:
            return sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return 0


def soak(folder: Path, files: int, workers: int, detector: str, interval: float) -> dict:
    output = folder.parent / "results.jsonl"
    command = [sys.executable, "-m", "aidetect.cli", "scan", str(folder), "--workers", str(workers),
               "--detector", detector, "--format", "json", "--output", str(output), "--no-progress"]
    began = time.perf_counter()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    samples = []
    while child.poll() is None:
        rss, processes = tree_rss_mb(child.pid)
        samples.append({"seconds": round(time.perf_counter() - began, 2), "files_done": count_lines(output),
                        "rss_mb": round(rss, 1), "processes": processes})
        time.sleep(interval)
    stderr = child.stderr.read() if child.stderr else ""  # type: ignore[union-attr]
    rows = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines()]
    return {"exit_code": child.returncode, "seconds": round(time.perf_counter() - began, 1), "rows": len(rows),
            "errors": sum(1 for row in rows if row["error"]), "samples": samples, "summary": stderr.strip()[-400:]}


def flatness(samples: list[dict], files: int) -> dict:
    """Median tree RSS in the quarter after warm-up (10% of files) and in the last quarter of the run."""
    working = [s for s in samples if s["files_done"] >= 0.1 * files and s["processes"] > 1]
    if len(working) < 8:
        return {"after_warmup_mb": None, "last_quarter_mb": None, "ratio": None, "max_mb": None}
    quarter = max(1, len(working) // 4)
    early = float(np.median([s["rss_mb"] for s in working[:quarter]]))
    late = float(np.median([s["rss_mb"] for s in working[-quarter:]]))
    return {"after_warmup_mb": round(early, 1), "last_quarter_mb": round(late, 1), "ratio": round(late / early, 3),
            "max_mb": max(s["rss_mb"] for s in working)}


def markdown(report: dict) -> str:
    flat = report["flatness"]
    return "\n".join([
        "# Soak: a long scan's memory",
        "",
        f"`benchmarks/soak_scan.py`: `aidetect scan` of {report['files']} files (96-320 px PNG/JPEG, 1% broken) "
        f"with `{report['detector']}` and {report['workers']} workers, {report['date']} on {report['machine']}; "
        f"the resident set of the scan and its workers sampled every {report['interval']:g} s "
        f"({len(report['run']['samples'])} samples).",
        "",
        "| files | rows | errors | exit | seconds | RSS after warm-up | RSS last quarter | last / warm-up | max RSS |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {report['files']} | {report['run']['rows']} | {report['run']['errors']} | {report['run']['exit_code']} | "
        f"{report['run']['seconds']} | {flat['after_warmup_mb']} MB | {flat['last_quarter_mb']} MB | "
        f"{flat['ratio']} | {flat['max_mb']} MB |",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--detector", default="efficientnet")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aidetect-soak-") as temporary:
        folder = Path(temporary) / "images"
        folder.mkdir()
        write_images(folder, args.files)
        run = soak(folder, args.files, args.workers, args.detector, args.interval)
    report = {"files": args.files, "workers": args.workers, "detector": args.detector, "interval": args.interval,
              "date": time.strftime("%Y-%m-%d"), "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
              "flatness": flatness(run["samples"], args.files), "run": run}
    write_outputs(args.out, "soak", report, markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
