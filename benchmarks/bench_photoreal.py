"""Photoreal and robustness benchmark: each detector on the mixed-v1 and photoreal-v1 test splits.

For every test image, six versions are scored (all but ``original`` end in one JPEG q90 encode, so the
file format cannot carry the label):

- ``original``: the file as it is;  ``normalised``: centre square, 256 px, JPEG q90;
- ``upscale2`` / ``downscale0.5`` / ``downscale0.25``: the normalised copy resized 2x / 0.5x / 0.25x, JPEG q90;
- ``social``: the normalised copy through a seeded social-media pipeline (shrink 0.4-1x, maybe sharpen,
  JPEG 60-95, sometimes twice).

Reported per detector: ROC-AUC per set and condition, the drop from ``normalised``, and, at the default
threshold and at ``target_fpr=0.05``, the false-positive rate of every real source and the true-positive
rate of every generator source in the test splits (sources held out of training are marked, from the
detector's model card), plus photoreal-v1 per ``content``. Nothing is fitted here.

    python benchmarks/bench_photoreal.py       # efficientnet (+int8), cnn, forensic-svm, clip, stacked
    python benchmarks/bench_photoreal.py -d efficientnet --limit 100
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from aidetect import load, preprocess
from aidetect.io import load_image
from aidetect.metrics import roc_auc

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
SETS = {"mixed-v1": SHARED / "mixed-v1" / "manifest.csv", "photoreal-v1": SHARED / "photoreal-v1" / "manifest.csv"}
OUT = Path(__file__).resolve().parent / "results"
DEFAULT_DETECTORS = ("efficientnet", "efficientnet-int8", "cnn", "forensic-svm", "clip", "stacked")
TARGET_FPR = 0.05


def _social(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = preprocess.resize(image, tuple(max(8, round(s * rng.uniform(0.4, 1.0))) for s in image.shape[:2]))
    if rng.random() < 0.3:
        image = preprocess.unsharp_mask(image, radius=float(rng.uniform(0.5, 2.0)), percent=int(rng.integers(30, 120)))
    image = preprocess.jpeg_recompress(image, int(rng.integers(60, 96)))
    if rng.random() < 0.3:
        image = preprocess.jpeg_recompress(image, int(rng.integers(60, 96)))
    return image


def _resized(factor: float) -> Callable[[np.ndarray, int], np.ndarray]:
    def condition(image: np.ndarray, seed: int) -> np.ndarray:
        normalised = preprocess.normalise_format(image)
        height, width = normalised.shape[:2]
        resized = preprocess.resize(normalised, (round(height * factor), round(width * factor)))
        return preprocess.jpeg_recompress(resized, 90)

    return condition


CONDITIONS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "original": lambda image, seed: image,
    "normalised": lambda image, seed: preprocess.normalise_format(image),
    "upscale2": _resized(2.0),
    "downscale0.5": _resized(0.5),
    "downscale0.25": _resized(0.25),
    "social": lambda image, seed: _social(preprocess.normalise_format(image), seed),
}


def read_test_rows(limit: int | None) -> list[dict[str, str]]:
    rows = []
    for set_name, manifest in SETS.items():
        with manifest.open(newline="") as handle:
            test = [dict(row, set=set_name, file=str(manifest.parent / row["path"]))
                    for row in csv.DictReader(handle) if row["split"] == "test"]
        if limit:
            test = [test[i] for i in np.random.default_rng(0).permutation(len(test))[:limit]]
        rows.extend(test)
    return rows


WEIGHTS_SUFFIX = {"efficientnet": ".onnx", "cnn": ".pt", "forensic-svm": ".skops"}


def make_detector(name: str, weights_dir: Path | None = None) -> tuple[Any, Any]:
    """The detector at its default threshold and the same at ``target_fpr=0.05``.

    With ``weights_dir``, a model card and weights found there (``<detector><suffix>``) replace the
    bundled ones, so a candidate is measured before it is installed.
    """
    base, options = ("efficientnet", {"quantized": True}) if name == "efficientnet-int8" else (name, {})
    candidate = weights_dir / f"{base}{WEIGHTS_SUFFIX.get(base, '')}" if weights_dir else None
    if candidate is not None and candidate.exists():
        options["weights"] = candidate
    return load(base, **options), load(base, target_fpr=TARGET_FPR, **options)


def score(detector: Any, images: list[np.ndarray]) -> tuple[np.ndarray, float]:
    predictions = detector.predict_batch(images, batch_size=16)
    return np.array([p.score for p in predictions]), predictions[0].threshold


def rates(scores: np.ndarray, rows: list[dict[str, str]], threshold: float, key: str) -> dict[str, dict[str, Any]]:
    """Share called "ai" at ``threshold`` per value of ``key`` (reals: false positives; fakes: true positives)."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        groups[(row["label"], f"{row['set']}:{row[key]}" if key == "source" else row.get(key) or "?")].append(i)
    return {f"{label}|{name}": {"n": len(idx), "rate": float((scores[idx] >= threshold).mean())}
            for (label, name), idx in sorted(groups.items())}


def evaluate_detector(
    name: str, rows: list[dict[str, str]], images: dict[str, list[np.ndarray]], weights_dir: Path | None = None
) -> dict[str, Any]:
    detector, at_fpr = make_detector(name, weights_dir)
    card = getattr(detector, "card_", None)
    held_out = set(getattr(card, "info", {}).get("training", {}).get("held_out_sources", []))
    labels = np.array([1 if row["label"] == "fake" else 0 for row in rows])
    result: dict[str, Any] = {"auc": {}, "seconds": {}, "held_out_sources": sorted(held_out)}
    scores_by_condition = {}
    for condition, batch in images.items():
        started = time.perf_counter()
        scores, threshold = score(detector, batch)
        result["seconds"][condition] = round(time.perf_counter() - started, 1)
        scores_by_condition[condition] = scores
        for set_name in SETS:
            inside = np.array([row["set"] == set_name for row in rows])
            result["auc"][f"{set_name}|{condition}"] = roc_auc(labels[inside], scores[inside])
        result["threshold"] = threshold
    result["threshold_fpr_0.05"] = score(at_fpr, images["normalised"][:1])[1]
    for condition in ("original", "normalised"):
        scores = scores_by_condition[condition]
        result[f"sources_{condition}"] = {
            "default": rates(scores, rows, result["threshold"], "source"),
            "fpr_0.05": rates(scores, rows, result["threshold_fpr_0.05"], "source"),
        }
    photoreal = [i for i, row in enumerate(rows) if row["set"] == "photoreal-v1"]
    result["photoreal_content_normalised"] = rates(
        scores_by_condition["normalised"][photoreal], [rows[i] for i in photoreal], result["threshold"], "content")
    reals = labels == 0
    for condition in ("original", "normalised"):
        flagged = scores_by_condition[condition] >= result["threshold"]
        result[f"fpr_all_reals_{condition}"] = float(flagged[reals].mean())
        result[f"tpr_all_fakes_{condition}"] = float(flagged[~reals].mean())
    return result


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# Photoreal and robustness benchmark ({report['date']})", "",
             f"{report['n_images']} test images (mixed-v1 + photoreal-v1 test splits); `bench_photoreal.py`.", "",
             "## ROC-AUC", "", "| detector | set | " + " | ".join(CONDITIONS) + " |",
             "|---|---|" + "---:|" * len(CONDITIONS)]
    for name, result in report["detectors"].items():
        for set_name in SETS:
            cells = [f"{result['auc'][f'{set_name}|{c}']:.3f}" for c in CONDITIONS]
            lines.append(f"| {name} | {set_name} | " + " | ".join(cells) + " |")
    lines += ["", "## Real photos called \"ai\" per real source (normalised copies)", ""]
    for name, result in report["detectors"].items():
        held = set(result["held_out_sources"])
        lines += [f"### {name}: default threshold {result['threshold']:.3f}, "
                  f"target_fpr=0.05 threshold {result['threshold_fpr_0.05']:.3f}", "",
                  f"All test reals: {result['fpr_all_reals_normalised']:.1%} false positives, "
                  f"all test fakes: {result['tpr_all_fakes_normalised']:.1%} detected (default threshold).", "",
                  "| label | source | n | default | target_fpr=0.05 |", "|---|---|---:|---:|---:|"]
        sources = result["sources_normalised"]
        for key, cell in sources["default"].items():
            label, source = key.split("|", 1)
            mark = " (held out of training)" if source in held else ""
            lines.append(f"| {label} | {source}{mark} | {cell['n']} | {cell['rate']:.2f} | "
                         f"{sources['fpr_0.05'][key]['rate']:.2f} |")
        lines.append("")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--detector", action="append")
    parser.add_argument("--limit", type=int, help="at most this many test images per set")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--weights-dir", type=Path, help="measure the candidate models in DIR instead of the bundled")
    args = parser.parse_args(argv)
    rows = read_test_rows(args.limit)
    originals = [load_image(row["file"]) for row in rows]
    images = {c: [f(image, i) for i, image in enumerate(originals)] for c, f in CONDITIONS.items()}
    report: dict[str, Any] = {"date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                              "n_images": len(rows), "detectors": {}}
    for name in args.detector or DEFAULT_DETECTORS:
        try:
            report["detectors"][name] = evaluate_detector(name, rows, images, args.weights_dir)
        except Exception as exc:  # a missing extra or weights: note it and go on with the others
            print(f"{name}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "photoreal.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "photoreal.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
