"""Do the heat maps point at generated pixels? And how long does a 1024 px explanation take on one core?

(a) Localisation. For each of ``--n`` trials (mixed-v1 test split, never
    trained on), four real photos form a 512x512 canvas (2x2 mosaic of
    256 px photos: the set holds no larger photos), and the central
    ``--region`` px square of one generated image is pasted at a random
    pixel position. Each detector explains the composite; a hit is the
    hottest cell's centre on the pasted square, chance is the share of the
    grid's cells whose centres are on it (`aidetect.explain.splice.pointing`).
(b) False alarms on unmodified reals: the share of photos whose window map
    has no cell at or above the detector's threshold, for one 256 px photo
    and for the mosaic canvas without the paste, at the card's default
    threshold and at its validated 5% and 1% false-positive-rate thresholds
    (computed from each map's hottest cell, so one run gives all three).
(c) Time to explain a 1024x1024 image (a 4x4 mosaic of reals) with one
    ONNX Runtime thread: the window map and occlusion at their default
    strides, fp32 and int8, median of ``--repeats``; with the network's own
    throughput on the same crops measured in the same run (crops/s, batch 16),
    so the share of the time spent outside the network is visible. CPU time
    (``time.process_time``) is reported beside wall time: with one thread it
    is the time on one idle core, which a shared machine's wall time is not.

Writes ``<out>/explain.json`` and ``<out>/explain.md``.

    python benchmarks/bench_explain.py              # ~15 minutes on 2 busy cores
    python benchmarks/bench_explain.py --quick      # 4 trials, 1 repeat: a smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import DEFAULT_MANIFEST, DEFAULT_OUT, run_facts, write_outputs

DETECTORS = ("efficientnet", "forensic-svm")
OCCLUSION_DETECTORS = ("efficientnet",)
CONTROL_FPRS = (0.05, 0.01)


def localisation(names: list[str], manifest: Path, trial_range: range, region: int, seed: int,
                 occlusion_below: int) -> dict[str, list[dict[str, Any]]]:
    """One row per trial in ``trial_range`` and detector; occlusion for trials numbered below ``occlusion_below``."""
    import aidetect
    from aidetect.datasets import load_dataset
    from aidetect.explain import explain
    from aidetect.explain.splice import pointing, trials

    test = load_dataset(manifest).split_named("test")
    detectors = {name: aidetect.load(name) for name in names}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for index, trial in enumerate(trials(test, trial_range.stop, region=region, seed=seed)):
        if index not in trial_range:
            continue
        for name, detector in detectors.items():
            row: dict[str, Any] = {"trial": index, "fake": trial.fake_path.name,
                                   "fake_score": detector.predict(trial.fake).score}
            occlusion = name in OCCLUSION_DETECTORS and index < occlusion_below
            methods = ["window", "occlusion"] if occlusion else ["window"]
            for method in methods:
                explanation = explain(detector, trial.composite.image, method=method)
                hit, chance = pointing(explanation, trial.composite.box)
                row[method] = {"hit": hit, "chance": chance, "composite_score": explanation.prediction.score}
            for control, image in (("photo", trial.photo), ("canvas", trial.canvas)):
                explanation = explain(detector, image, method="window")
                row[control] = {"max_cell": explanation.hottest(1)[0].value, "score": explanation.prediction.score}
            rows[name].append(row)
        print(f"trial {index + 1}/{trial_range.stop}", file=sys.stderr, flush=True)
    return rows


def thresholds_of(name: str) -> dict[str, float]:
    """The card's default threshold and its validated `CONTROL_FPRS` thresholds."""
    import aidetect

    detector = aidetect.load(name)
    thresholds = {"default": detector.decision_rule().threshold}
    validated = sorted(detector.fpr_thresholds().items())
    thresholds.update({f"fpr {fpr:g}": t for fpr, t in validated if fpr in CONTROL_FPRS})
    return thresholds


def summarise(rows: list[dict[str, Any]], thresholds: dict[str, float]) -> dict[str, Any]:
    summary: dict[str, Any] = {"n": len(rows), "thresholds": thresholds, "fake_detected_alone":
                               float(np.mean([r["fake_score"] >= thresholds["default"] for r in rows]))}
    for method in ("window", "occlusion"):
        done = [r for r in rows if method in r]
        if done:
            hits = np.array([r[method]["hit"] for r in done])
            chance = float(np.mean([r[method]["chance"] for r in done]))
            detected = np.array([r["fake_score"] >= thresholds["default"] for r in done])
            summary[method] = {"n": len(done), "hit_rate": float(hits.mean()), "chance": chance,
                               "hit_rate_when_fake_detected_alone": float(hits[detected].mean()) if detected.any()
                               else None}
    for control in ("photo", "canvas"):
        summary[control] = {
            label: {"no_cell_at_or_above": float(np.mean([r[control]["max_cell"] < t for r in rows])),
                    "image_below": float(np.mean([r[control]["score"] < t for r in rows]))}
            for label, t in thresholds.items()
        }
    return summary


def timing(repeats: int) -> dict[str, Any]:
    import aidetect
    from aidetect.datasets import load_dataset
    from aidetect.explain import explain
    from aidetect.explain.grid import grid
    from aidetect.explain.splice import trials

    test = load_dataset(DEFAULT_MANIFEST).split_named("test")
    canvas = np.concatenate([np.concatenate([t.canvas for t in pair], axis=1)
                             for pair in np.array(list(trials(test, 4, seed=1)), dtype=object).reshape(2, 2)])
    results: dict[str, Any] = {"image": f"{canvas.shape[1]}x{canvas.shape[0]}", "threads": 1}
    for label, options in (("fp32", {}), ("int8", {"quantized": True})):
        detector = aidetect.load("efficientnet", threads=1, **options)
        size = detector.crop_policy().input_size
        crops = [canvas[top : top + size, left : left + size] for top, left in grid(canvas.shape[:2], size, size)][:16]
        detector.raw_scores(crops)  # warm-up
        times: dict[str, list[float]] = {key: [] for key in ("window", "occlusion", "window_cpu", "occlusion_cpu",
                                                             "network_crops_per_s", "network_crops_per_cpu_s")}
        for _ in range(repeats):
            for method in ("window", "occlusion"):
                wall, cpu = time.perf_counter(), time.process_time()
                explanation = explain(detector, canvas, method=method)
                times[method].append(time.perf_counter() - wall)
                times[f"{method}_cpu"].append(time.process_time() - cpu)
                results.setdefault(f"{method}_cells", len(explanation.cells))
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(8):
                detector.raw_scores(crops)
            times["network_crops_per_s"].append(8 * len(crops) / (time.perf_counter() - wall))
            times["network_crops_per_cpu_s"].append(8 * len(crops) / (time.process_time() - cpu))
        results[label] = {key: round(statistics.median(values), 3) for key, values in times.items()}
    results["load_average"] = [round(v, 2) for v in os.getloadavg()]
    return results


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.0f}%"


def markdown(data: dict[str, Any]) -> str:
    args = data["settings"]
    lines = ["## Explanations (`bench_explain.py`)", "",
             f"{args['n']} composites from the mixed-v1 test split: a 512x512 canvas of four 256 px real photos with "
             f"the central {args['region']} px of one generated image pasted at a random position. A hit: the "
             "hottest cell's centre lies on the pasted square; chance: the share of the grid's cells that do.", "",
             "| detector | method | composites | hits | chance | hits / chance | hits, fake detected alone |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for name, result in data["localisation"].items():
        for method in ("window", "occlusion"):
            if method in result:
                m = result[method]
                lines.append(f"| {name} | {method} | {m['n']} | {_pct(m['hit_rate'])} | {_pct(m['chance'])} | "
                             f"{m['hit_rate'] / m['chance']:.1f}x | {_pct(m['hit_rate_when_fake_detected_alone'])} |")
    lines += ["", "Unmodified reals: share of window maps with no cell at or above the threshold "
              "(in brackets: share of images whose own score is below it).", "",
              "| detector | threshold | one 256 px photo | 512 px mosaic of four |", "|---|---|---:|---:|"]
    for name, result in data["localisation"].items():
        for label, value in result["thresholds"].items():
            photo, canvas = result["photo"][label], result["canvas"][label]
            lines.append(f"| {name} | {label} ({value:.2f}) | {_pct(photo['no_cell_at_or_above'])} "
                         f"({_pct(photo['image_below'])}) | {_pct(canvas['no_cell_at_or_above'])} "
                         f"({_pct(canvas['image_below'])}) |")
    if "timing" in data:
        t = data["timing"]
        lines += ["", f"Explaining a {t['image']} image with one ONNX Runtime thread (efficientnet, median of "
                  f"{args['repeats']}; load average {t['load_average']} on {os.cpu_count()} cores):", "",
                  f"| variant | window ({t['window_cells']} windows) | occlusion ({t['occlusion_cells']} patches) "
                  "| network alone, crops/s |", "|---|---:|---:|---:|"]
        for label in ("fp32", "int8"):
            v = t[label]
            lines.append(f"| {label} | {v['window_cpu']:.2f} CPU s ({v['window']:.2f} s wall) "
                         f"| {v['occlusion_cpu']:.2f} CPU s ({v['occlusion']:.2f} s wall) "
                         f"| {v['network_crops_per_cpu_s']:.0f} per CPU s "
                         f"({v['network_crops_per_s']:.0f} per s wall) |")
        lines += ["", "One thread uses at most one core, so its CPU time is the time on one otherwise idle core; "
                  "wall times on a shared machine are longer by the share of the core the process did not get."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--n", type=int, default=50, help="composites (default 50)")
    parser.add_argument("--occlusion-n", type=int, default=None,
                        help="run occlusion on the first N composites only (default: all; it costs ~7x the window)")
    parser.add_argument("--region", type=int, default=192, help="side of the pasted square (default 192)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats (default 3)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detector", action="append", help=f"repeatable (default: {', '.join(DETECTORS)})")
    parser.add_argument("--no-timing", action="store_true", help="skip the 1024 px timing")
    parser.add_argument("--part", nargs=2, type=int, metavar=("START", "STOP"),
                        help="only composites START..STOP-1; write their rows to <out>/explain-part-START.json")
    parser.add_argument("--merge", nargs="+", type=Path, metavar="PART",
                        help="summarise part files written by --part instead of running composites")
    parser.add_argument("--quick", action="store_true", help="4 composites, 1 repeat")
    args = parser.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 4, 1
    names = args.detector or list(DETECTORS)
    settings = {"n": args.n, "region": args.region, "repeats": args.repeats, "seed": args.seed,
                "occlusion_n": args.occlusion_n or args.n}
    if args.part:
        start, stop = args.part
        rows = localisation(names, args.manifest, range(start, stop), args.region, args.seed, settings["occlusion_n"])
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / f"explain-part-{start}.json").write_text(json.dumps(rows) + "\n", encoding="utf-8")
        return 0
    if args.merge:
        rows = {name: [] for name in names}
        for part in args.merge:
            for name, part_rows in json.loads(part.read_text(encoding="utf-8")).items():
                rows[name] += part_rows
        settings["n"] = len(rows[names[0]])
    else:
        rows = localisation(names, args.manifest, range(args.n), args.region, args.seed, settings["occlusion_n"])
    data: dict[str, Any] = {"run": run_facts(), "settings": settings}
    data["localisation"] = {name: summarise(rows[name], thresholds_of(name)) | {"trials": rows[name]}
                            for name in names}
    if not args.no_timing:
        data["timing"] = timing(args.repeats)
    text = markdown(data)
    write_outputs(args.out, "explain", data, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
