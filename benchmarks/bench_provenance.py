"""Provenance benchmark: how common the evidence was, how fast metadata is read, what ``auto`` costs.

(a) Census of the ``orig_meta_hint`` manifest column of mixed-v1 and
    photoreal-v1: how many ORIGINAL files carried generator hints, camera EXIF,
    editor tags, ... before the datasets stripped them. Then `read_provenance`
    on every bundled (stripped) file: it should find nothing, and the pass
    doubles as a throughput figure on real small files.
(b) Metadata-only reading speed on one core (one process, sequential) for
    files made here: camera JPEGs (4000x3000, EXIF + XMP), generator PNGs
    (1024x1024, A1111 ``parameters``), plain JPEGs; and C2PA validation of
    signed JPEGs when ``c2pa-python`` and ``cryptography`` are installed.
(c) ``auto`` vs its pixel detector alone (efficientnet, 1 thread, batch 16) on
    mixed-v1 test files, interleaved repeats, ratio of medians; and ``auto``
    with ``always_score_pixels=False`` on files whose metadata decides.

Writes ``<out>/provenance.json`` and ``<out>/provenance.md``.

    python benchmarks/bench_provenance.py            # about a minute on 2 cores
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import run_facts, write_outputs

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"


# -- (a) the census -------------------------------------------------------------------------------


def hint_kind(hint: str) -> str:
    """``gen:openai`` -> ``gen``, ``png-text:parameters`` -> ``png-text``, ``camera-exif`` -> itself."""
    return hint.split(":", 1)[0]


def census(manifest: Path) -> dict[str, Any]:
    rows = list(csv.DictReader(manifest.open(encoding="utf-8")))
    per_label: dict[str, Counter[str]] = {}
    generator_hints: Counter[str] = Counter()
    for row in rows:
        hints = [h for h in (row.get("orig_meta_hint") or "none").split(";") if h]
        counter = per_label.setdefault(row["label"], Counter())
        counter["files"] += 1
        counter.update({hint_kind(h) for h in hints})
        generator_hints.update(h for h in hints if h.startswith("gen:"))
    return {"files": len(rows), "per_label": {label: dict(c) for label, c in per_label.items()},
            "top_generator_hints": generator_hints.most_common(12)}


def scan_bundled(root: Path, manifest: Path) -> dict[str, Any]:
    from aidetect.provenance import read_provenance

    paths = [root / row["path"] for row in csv.DictReader(manifest.open(encoding="utf-8"))]
    found: Counter[str] = Counter()
    start = time.perf_counter()
    for path in paths:
        found.update(f.kind for f in read_provenance(path).evidence)
    seconds = time.perf_counter() - start
    return {"files": len(paths), "findings": dict(found), "files_per_second": len(paths) / seconds}


# -- (b) reading speed ------------------------------------------------------------------------------


def make_files(folder: Path, count: int) -> dict[str, list[Path]]:
    from PIL import Image, PngImagePlugin

    sys.path.insert(0, str(ROOT / "tests"))
    from provenance_files import A1111_PARAMETERS, exif, xmp_source_type

    rng = np.random.default_rng(0)
    camera = Image.fromarray(rng.integers(0, 256, (3000, 4000, 3), dtype=np.uint8))
    generated = Image.fromarray(rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8))
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_PARAMETERS)
    kinds: dict[str, tuple[Any, str, dict[str, Any]]] = {
        "camera JPEG 4000x3000, EXIF + XMP": (camera, "JPEG", {"quality": 90, "exif": exif(camera=True),
                                                               "xmp": xmp_source_type("digitalCapture").encode()}),
        "generator PNG 1024x1024, A1111 parameters": (generated, "PNG", {"pnginfo": info}),
        "plain JPEG 1024x1024, no metadata": (generated, "JPEG", {"quality": 90}),
    }
    files: dict[str, list[Path]] = {}
    for index, (name, (image, fmt, options)) in enumerate(kinds.items()):
        buffer = io.BytesIO()
        image.save(buffer, fmt, **options)
        files[name] = []
        for copy in range(count):  # distinct files, the same bytes: the OS cache makes reading fair to all
            path = folder / f"{index}-{copy}.{fmt.lower()}"
            path.write_bytes(buffer.getvalue())
            files[name].append(path)
    return files


def reading_speed(files: dict[str, list[Path]], repeats: int) -> dict[str, float]:
    from aidetect.provenance import read_provenance

    speeds = {}
    for name, paths in files.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            for path in paths:
                read_provenance(path)
            times.append(time.perf_counter() - start)
        speeds[name] = len(paths) / statistics.median(times)
    return speeds


def c2pa_speed(folder: Path, count: int) -> float | None:
    try:
        sys.path.insert(0, str(ROOT / "tests"))
        from provenance_files import jpeg
        from test_provenance_c2pa import SigningAuthority
    except Exception:  # c2pa-python or cryptography missing: skipped
        return None
    from aidetect.provenance import read_provenance

    signed = SigningAuthority().sign(jpeg(), "image/jpeg", "trainedAlgorithmicMedia")
    paths = []
    for index in range(count):
        path = folder / f"c2pa-{index}.jpg"
        path.write_bytes(signed)
        paths.append(path)
    start = time.perf_counter()
    for path in paths:
        assert read_provenance(path).evidence[0].c2pa.validation == "valid"
    return count / (time.perf_counter() - start)


# -- (c) auto vs pixels -------------------------------------------------------------------------------


def interleaved(cases: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    for run in cases.values():  # warm-up: sessions, caches
        run()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for repeat in range(repeats):
        names = list(cases)
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            start = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def auto_overhead(manifest: Path, decided: list[Path], count: int, repeats: int) -> dict[str, Any]:
    import aidetect

    rows = [row for row in csv.DictReader(manifest.open(encoding="utf-8")) if row["split"] == "test"]
    paths = [manifest.parent / row["path"] for row in rows[:count]]
    pixels = aidetect.load("efficientnet", threads=1)
    auto = aidetect.load("auto", threads=1)
    skipping = aidetect.load("auto", threads=1, always_score_pixels=False)
    decided = decided[:count]
    medians = interleaved({
        "efficientnet, stripped files": lambda: pixels.predict_batch(paths, batch_size=16),
        "auto, stripped files": lambda: auto.predict_batch(paths, batch_size=16),
        "efficientnet, files with A1111 parameters": lambda: pixels.predict_batch(decided, batch_size=16),
        "auto, files with A1111 parameters": lambda: auto.predict_batch(decided, batch_size=16),
        "auto (always_score_pixels=False), files with A1111 parameters":
            lambda: skipping.predict_batch(decided, batch_size=16),
    }, repeats)
    return {"files": len(paths), "images_per_second": {name: len(paths) / t for name, t in medians.items()},
            "ratio_auto_over_pixels_stripped": (medians["auto, stripped files"]
                                                / medians["efficientnet, stripped files"]),
            "ratio_auto_over_pixels_decided": (medians["auto, files with A1111 parameters"]
                                               / medians["efficientnet, files with A1111 parameters"]),
            "ratio_skipping_over_pixels_decided": (
                medians["auto (always_score_pixels=False), files with A1111 parameters"]
                / medians["efficientnet, files with A1111 parameters"])}


# -- report -----------------------------------------------------------------------------------------------


def markdown(data: dict[str, Any]) -> str:
    machine = data["run"]["machine"]
    lines = ["# Provenance benchmark", "", f"Run {data['run']['date']} on {machine['cpu']}, one process.", "",
             "## How common the evidence was in the originals (`orig_meta_hint`)", "",
             "| dataset | label | files | gen: (generator hint) | camera-exif | editor | png-text | exif | none |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, entry in data["census"].items():
        for label, counts in sorted(entry["per_label"].items()):
            cells = [counts.get(k, 0) for k in ("gen", "camera-exif", "editor", "png-text", "exif", "none")]
            lines.append(f"| {name} | {label} | {counts['files']} | " + " | ".join(map(str, cells)) + " |")
    lines += ["", "Most common generator hints: " + "; ".join(
        f"{name}: " + ", ".join(f"`{hint}` {n}" for hint, n in entry["top_generator_hints"][:6])
        for name, entry in data["census"].items()), "",
        "## `read_provenance` on the bundled (stripped) files", "",
        "| dataset | files | findings | files/s |", "|---|---:|---|---:|"]
    for name, entry in data["bundled"].items():
        lines.append(f"| {name} | {entry['files']} | {entry['findings'] or 'none'} | "
                     f"{entry['files_per_second']:.0f} |")
    lines += ["", "## Metadata-only reading, one core", "", "| files | files/s |", "|---|---:|"]
    lines += [f"| {name} | {speed:.0f} |" for name, speed in data["reading"].items()]
    if data["c2pa_files_per_second"] is not None:
        lines.append(f"| C2PA-signed JPEG 48x48, manifest validated | {data['c2pa_files_per_second']:.0f} |")
    auto = data["auto"]
    lines += ["", f"## `auto` vs efficientnet alone ({auto['files']} files, 1 thread, batch 16)", "",
              "| case | images/s |", "|---|---:|"]
    lines += [f"| {name} | {speed:.1f} |" for name, speed in auto["images_per_second"].items()]
    lines += ["", f"Time ratio auto / efficientnet: {auto['ratio_auto_over_pixels_stripped']:.3f} on stripped "
              f"files, {auto['ratio_auto_over_pixels_decided']:.3f} on files with generator parameters; "
              f"{auto['ratio_skipping_over_pixels_decided']:.3f} with `always_score_pixels=False`.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--files", type=int, default=300, help="files per kind for the reading speed")
    parser.add_argument("--auto-files", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    manifests = {name: DATASETS / name / "manifest.csv" for name in ("mixed-v1", "photoreal-v1")}
    manifests = {name: path for name, path in manifests.items() if path.is_file()}
    if "mixed-v1" not in manifests:
        parser.error(f"needs the mixed-v1 dataset at {DATASETS / 'mixed-v1'}")
    data: dict[str, Any] = {"run": run_facts()}
    data["census"] = {name: census(path) for name, path in manifests.items()}
    data["bundled"] = {name: scan_bundled(path.parent, path) for name, path in manifests.items()}
    with tempfile.TemporaryDirectory() as folder:
        files = make_files(Path(folder), args.files)
        data["reading"] = reading_speed(files, args.repeats)
        data["c2pa_files_per_second"] = c2pa_speed(Path(folder), 50)
        decided = files["generator PNG 1024x1024, A1111 parameters"]
        data["auto"] = auto_overhead(manifests["mixed-v1"], decided, args.auto_files, args.repeats)
    write_outputs(args.out, "provenance", data, markdown(data))
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
