"""forensic-svm speed: scan throughput on 512x512 files with 1 and 2 worker processes, and training time.

Throughput is what a user of ``aidetect scan --detector forensic-svm`` gets:
files on disk (JPEG q90, 512x512, made from the mixed-v1 test images by
tiling their native pixels, never resampling), decoding, four 256 px tiles
per image, features, SVM and calibration included. The worker counts are
timed interleaved (``--repeats`` rounds, median), in one run, so the ratio
between them is meaningful even on a noisy machine. One more setting judges
each image from a single centre tile (``max_tiles_per_side=1``): the
throughput a user buys by giving up coverage of large images.

Training time is read from the bundled model card (the run that produced
the bundled weights, on this project's 2-core machine); ``--train`` retrains
on mixed-v1's train split here and times it again (about ten minutes).

Writes ``<out>/forensic_svm.json`` and ``<out>/forensic_svm.md``.

    python benchmarks/bench_forensic_svm.py
    python benchmarks/bench_forensic_svm.py --images 32 --repeats 1     # smoke test
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import DEFAULT_MANIFEST, load_test_split, run_facts, write_outputs

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
SIZE = 512
DETECTOR = "forensic-svm"


def native_mosaic(paths: list[str], size: int) -> np.ndarray:
    """A ``size x size`` image made of native-resolution pieces of the given images (no resampling)."""
    from aidetect.io import load_image

    canvas = np.zeros((size, size, 3), dtype=np.uint8)
    half = size // 2
    for index, path in enumerate(paths[:4]):
        image = load_image(path)
        piece = np.pad(image, ((0, max(0, half - image.shape[0])), (0, max(0, half - image.shape[1])), (0, 0)),
                       mode="reflect")[:half, :half]
        row, column = divmod(index, 2)
        canvas[row * half:(row + 1) * half, column * half:(column + 1) * half] = piece
    return canvas


def write_images(folder: Path, manifest: Path, count: int) -> list[Path]:
    """``count`` 512x512 JPEG q90 files built from the test split, alternating real and AI sources."""
    from PIL import Image

    test = load_test_split(manifest, None)
    paths = [str(p) for p in test.paths]
    files = []
    for index in range(count):
        picks = [paths[(index * 4 + k) % len(paths)] for k in range(4)]
        target = folder / f"{index:04d}.jpg"
        Image.fromarray(native_mosaic(picks, SIZE)).save(target, quality=90)
        files.append(target)
    return files


def time_scan(folder: Path, workers: int, options: dict[str, Any] | None = None) -> tuple[float, int]:
    """Seconds to scan ``folder`` with ``workers`` processes, and how many files were judged."""
    from aidetect.scan import scan

    started = time.perf_counter()
    results = list(scan([folder], DETECTOR, options=options, workers=workers, batch_size=8))
    seconds = time.perf_counter() - started
    judged = sum(1 for result in results if result.ok)
    if judged != len(results):
        raise RuntimeError(f"{len(results) - judged} file(s) failed: {[r.error for r in results if not r.ok][:3]}")
    return seconds, judged


def throughput(folder: Path, worker_counts: list[int], repeats: int) -> dict[str, Any]:
    """Images/s per setting: the card's crop policy with each worker count, and one centre tile per image."""
    settings = {f"{w} worker(s), card policy (2x2 tiles)": (w, None) for w in worker_counts}
    settings[f"{max(worker_counts)} worker(s), 1 tile per image"] = (max(worker_counts), {"max_tiles_per_side": 1})
    time_scan(folder, 1)  # warm-up: imports, file cache, model load
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    judged = 0
    names = list(settings)
    for round_ in range(repeats):
        for name in names[round_ % len(names):] + names[:round_ % len(names)]:  # rotate the order each round
            elapsed, judged = time_scan(folder, *settings[name])
            seconds[name].append(elapsed)
    rates = {name: judged / statistics.median(s) for name, s in seconds.items()}
    first = names[0]
    return {
        "images": judged,
        "seconds": seconds,
        "images_per_second": rates,
        "ratio_to_first": {name: rate / rates[first] for name, rate in rates.items()},
    }


def training_time(retrain: bool, manifest: Path) -> dict[str, Any]:
    from aidetect.weights import load_card

    card = load_card(DETECTOR)
    recorded = card.info.get("training", {})
    facts: dict[str, Any] = {
        "bundled_model": {
            "seconds": recorded.get("training_time_seconds"),
            "timings": recorded.get("timings"),
            "machine": recorded.get("machine"),
            "n_train_views": recorded.get("n"),
        }
    }
    if retrain:  # the recipe of the bundled model, as `aidetect train forensic-svm --grid ... -o n_jobs=2` runs it
        import aidetect
        from aidetect.cli import training_splits

        train, val, _ = training_splits(manifest)
        grid = recorded.get("grid_search") or {}
        rows = grid.get("results", [])
        searched = {key: list(dict.fromkeys(row[key] for row in rows if key in row))
                    for key in ("C", "gamma", "kernel")}
        detector = aidetect.load(DETECTOR, grid={k: v for k, v in searched.items() if v} or None, n_jobs=2)
        trained = detector.fit(train, val).card_.info["training"]
        facts["this_run"] = {"seconds": trained["training_time_seconds"], "timings": trained["timings"]}
    return facts


def to_markdown(data: dict[str, Any]) -> str:
    machine = data["run"]["machine"]
    speed = data["throughput"]
    lines = [
        "# forensic-svm speed",
        "",
        f"Run {data['run']['date']} on {machine['cpu']} ({machine['cpus_usable']} usable CPUs).",
        "",
        f"## Scan throughput, {speed['images']} files of {SIZE}x{SIZE} (JPEG q90, 4 tiles each)",
        "",
        "| setting | images/s | ratio to the first row |",
        "|---|---:|---:|",
    ]
    for name, rate in speed["images_per_second"].items():
        lines.append(f"| {name} | {rate:.1f} | {speed['ratio_to_first'][name]:.2f}x |")
    bundled = data["training"]["bundled_model"]
    lines += ["", "## Training time (full mixed-v1 train split)", ""]
    if bundled["seconds"] is not None:
        lines.append(f"- bundled model: {bundled['seconds']:.0f} s on {bundled['machine']} "
                     f"({bundled['n_train_views']} training views; {bundled['timings']})")
    if "this_run" in data["training"]:
        lines.append(f"- this run: {data['training']['this_run']['seconds']:.0f} s "
                     f"({data['training']['this_run']['timings']})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--images", type=int, default=128, help="512x512 files to scan (default: 128)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train", action="store_true", help="also retrain and time a full training run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="aidetect-bench-") as scratch:
        write_images(Path(scratch), args.manifest, args.images)
        speed = throughput(Path(scratch), args.workers, args.repeats)
    data = {"run": run_facts(), "throughput": speed, "training": training_time(args.train, args.manifest)}
    write_outputs(args.out, "forensic_svm", data, to_markdown(data))
    print(to_markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
