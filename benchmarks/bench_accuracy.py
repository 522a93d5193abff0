"""Accuracy benchmark: every bundled detector on the mixed-v1 test split.

Runs `aidetect.evaluation.evaluate(..., robustness=True, normalise=True)` for
each detector named with ``--detector`` (default: efficientnet,
efficientnet-int8, cnn, forensic-svm, ensemble; those whose packages or
weights are missing are skipped with a note) and writes:

- ``<out>/accuracy.json``: run facts (date, machine, versions, seconds per
  detector), the full evaluation report (every metric, per generator, every
  condition with its drop from clean) and a per-file-format breakdown;
- ``<out>/accuracy.md``: the same as readable tables;
- ``<out>/accuracy/``: ``report.json`` (with raw scores), ``report.md`` and the
  ROC / precision-recall / confusion / reliability plots of each detector.

It only measures: nothing is fitted, tuned or thresholded on the test split.
Each detector keeps the threshold of its own model card (chosen on validation
data); the ensemble uses 0.5 on the mean calibrated score.

    python benchmarks/bench_accuracy.py                       # all detectors, full test split
    python benchmarks/bench_accuracy.py --detector cnn --limit 40
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_MANIFEST = Path(__file__).resolve().parents[2] / "shared/datasets/mixed-v1/manifest.csv"
DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DEFAULT_DETECTORS = ("efficientnet", "efficientnet-int8", "cnn", "forensic-svm", "ensemble")
INT8 = "efficientnet-int8"


# -- run facts ---------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """Where the benchmark ran: platform, CPU, cores usable by this process."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "python": platform.python_version(),
    }


def versions() -> dict[str, str | None]:
    """Versions of aidetect and of the packages the detectors run on (None when not installed)."""
    from importlib import metadata

    import aidetect

    found: dict[str, str | None] = {"aidetect": aidetect.__version__}
    for package in ("numpy", "pillow", "onnxruntime", "torch", "scikit-learn", "opencv-python-headless", "skops"):
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def run_facts() -> dict[str, Any]:
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": versions(),
    }


# -- data ----------------------------------------------------------------------------------------


def load_test_split(manifest: Path, limit: int | None, seed: int = 0):
    """The manifest's test split; with ``limit``, a fixed random subset (same every run) in manifest order."""
    from aidetect.datasets import Dataset, load_dataset

    if not manifest.is_file():
        sys.exit(
            f"error: dataset manifest not found: {manifest}\n"
            "Pass --manifest PATH (mixed-v1's manifest.csv, expected at ../shared/datasets/mixed-v1/)."
        )
    test = load_dataset(manifest).split_named("test")
    if limit is not None and limit < len(test):
        picks = sorted(np.random.default_rng(seed).permutation(len(test))[:limit].tolist())
        test = Dataset(tuple(test.samples[i] for i in picks), name=f"{test.name}[:{limit}]", root=test.root)
    return test


def format_cells(manifest: Path) -> dict[str, str]:
    """Resolved image path -> its file-format cell: ``PNG``, ``JPEG q<80``, ``JPEG q80-94``, ``JPEG q>=95``."""
    cells = {}
    with manifest.open(newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            path = str((manifest.parent / row["path"]).resolve())
            cells[path] = _cell_of(row.get("format"), row.get("jpeg_quality_est"))
    return cells


def _cell_of(file_format: str | None, quality: str | None) -> str:
    if (file_format or "").upper() != "JPEG":
        return (file_format or "other").upper()
    try:
        q = float(quality or "nan")
    except ValueError:
        q = math.nan
    if math.isnan(q):
        return "JPEG q?"
    return "JPEG q<80" if q < 80 else "JPEG q80-94" if q < 95 else "JPEG q>=95"


# -- detectors -------------------------------------------------------------------------------------


def build_detector(name: str) -> tuple[Any | None, str | None, dict[str, Any]]:
    """``(detector, None, facts)`` when ``name`` can run here, else ``(None, reason, {})``.

    Loading is forced (a dummy prediction) so that missing weights show up now,
    as a skip note, rather than half-way through the benchmark.
    """
    import aidetect
    from aidetect.errors import AidetectError
    from aidetect.registry import get_registry
    from aidetect.weights import bundled_dir

    base = "efficientnet" if name == INT8 else name
    try:
        info = get_registry().get(base)
    except AidetectError as exc:
        return None, str(exc), {}
    missing = info.missing()
    if missing:
        extra = f" (pip install 'aidetect-images[{info.extra}]')" if info.extra else ""
        return None, f"packages not installed: {', '.join(missing)}{extra}", {}
    if info.card is not None and not info.has_weights():
        return None, f"no bundled or cached weights for model card {info.card!r}", {}
    try:
        detector = aidetect.load(base, quantized=True) if name == INT8 else aidetect.load(base)
        if name == INT8:
            detector.name = INT8  # an instance attribute: reports and predictions carry the variant's name
        detector.predict(np.full((64, 64, 3), 128, dtype=np.uint8))
    except (AidetectError, ImportError, OSError) as exc:
        return None, f"{type(exc).__name__}: {exc}", {}
    facts: dict[str, Any] = {"class": type(detector).__name__}
    if name != "ensemble":
        policy = detector.crop_policy()
        facts.update(threshold=detector.decision_rule().threshold, input_size=policy.input_size,
                     max_tiles_per_side=policy.max_tiles_per_side)
        if info.card is not None:
            card = json.loads((bundled_dir() / f"{info.card}.json").read_text(encoding="utf-8"))
            facts["weights"] = (card.get("int8") if name == INT8 else card["weights"])["file"]
    else:
        facts.update(members=[m.name for m in detector.members_], method=detector.method)
    return detector, None, facts


# -- evaluation ------------------------------------------------------------------------------------


class _Progress:
    """Prints a line every ~10% of one detector's work."""

    def __init__(self, name: str, total: int) -> None:
        self.name, self.total, self.done, self.next, self.start = name, total, 0, 0.1, time.perf_counter()

    def __call__(self, n: int) -> None:
        self.done += n
        if self.done >= self.next * self.total:
            elapsed = time.perf_counter() - self.start
            print(f"  {self.name}: {self.done}/{self.total} image-conditions, {elapsed:.0f} s", flush=True)
            while self.next * self.total <= self.done:
                self.next += 0.1


def by_format(report: Any, dataset: Any, cells: dict[str, str]) -> dict[str, Any]:
    """Share of images judged correctly per (class, file-format cell), per detector, clean and normalised.

    A detector that reads the file format instead of the pixels shows a large
    spread between cells of one class under ``clean`` that shrinks under
    ``normalised`` (where every image is re-encoded identically).
    """
    from aidetect.evaluation import CLEAN, NORMALISED

    keys = [f"{'fake' if s.label else 'real'} {cells.get(str(Path(s.path).resolve()), '?')}" for s in dataset.samples]
    table: dict[str, Any] = {}
    for detector in report.detectors:
        table[detector] = {}
        for condition in (CLEAN, NORMALISED):
            result = report.results[detector].get(condition)
            if result is None or len(result.scores) != len(dataset):
                continue  # some images failed: scores no longer line up with the dataset order
            correct = (result.scores >= result.thresholds).astype(int) == result.labels
            rows = {}
            for key in sorted(set(keys)):
                member = np.array([k == key for k in keys])
                rows[key] = {"n": int(member.sum()), "correct": float(correct[member].mean())}
            table[detector][condition] = rows
    return table


def merge_reports(reports: list[Any]) -> Any:
    from aidetect.evaluation import EvaluationReport

    first = reports[0]
    return EvaluationReport(
        dataset=first.dataset,
        n_images=first.n_images,
        detectors=[d for r in reports for d in r.detectors],
        conditions=first.conditions,
        results={d: r.results[d] for r in reports for d in r.detectors},
        errors=list(dict.fromkeys(e for r in reports for e in r.errors)),
        threshold=first.threshold,
    )


# -- markdown ----------------------------------------------------------------------------------------


def _f(value: Any, signed: bool = False) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def robustness_table(report: dict[str, Any], metric: str, title: str) -> list[str]:
    """Markdown lines: ``metric`` of every detector under every condition, with its change from clean."""
    conditions = [c for c in report["conditions"] if c != "clean"]
    lines = ["", f"## Robustness: {title} (change from clean)", "",
             "| detector | clean | " + " | ".join(conditions) + " |",
             "|---|" + "---:|" * (len(conditions) + 1)]
    for name in report["detectors"]:
        by_condition = report["results"][name]
        cells = [_f(by_condition["clean"]["metrics"][metric])]
        for condition in conditions:
            entry = by_condition[condition]
            cells.append(f"{_f(entry['metrics'][metric])} ({_f((entry['delta'] or {}).get(metric), True)})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return lines


def write_outputs(out: Path, stem: str, data: dict[str, Any], markdown: str) -> None:
    """``<out>/<stem>.json`` and ``<out>/<stem>.md``: every benchmark writes its results this way."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
    (out / f"{stem}.md").write_text(markdown, encoding="utf-8")


def summary_markdown(data: dict[str, Any]) -> str:
    facts, report = data["run"], data["report"]
    machine = facts["machine"]
    lines = [
        "# Accuracy benchmark",
        "",
        f"Dataset `{report['dataset']}`: {report['n_images']} images. Run {facts['date']} on {machine['cpu']} "
        f"({machine['cpus_usable']} usable of {machine['cpu_count']} CPUs), {machine['platform']}, "
        f"Python {machine['python']}.",
        "",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in facts["versions"].items() if v) + ".",
        "",
    ]
    if data["skipped"]:
        lines += ["Skipped:", ""] + [f"- `{name}`: {why}" for name, why in data["skipped"].items()] + [""]
    lines += ["## Clean and format-normalised", "",
              "| detector | threshold | accuracy | AUC | F1 | ECE | norm. accuracy | norm. AUC | norm. F1 | seconds |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in report["detectors"]:
        clean = report["results"][name]["clean"]["metrics"]
        norm = report["results"][name].get("normalised", {}).get("metrics", {})
        lines.append(
            f"| {name} | {_f(clean['threshold'])} | {_f(clean['accuracy'])} | {_f(clean['roc_auc'])} | "
            f"{_f(clean['f1'])} | {_f(clean['ece'])} | {_f(norm.get('accuracy'))} | {_f(norm.get('roc_auc'))} | "
            f"{_f(norm.get('f1'))} | {data['seconds'][name]:.0f} |"
        )
    for metric, title in (("roc_auc", "AUC"), ("accuracy", "accuracy")):
        lines += robustness_table(report, metric, title)
    lines += ["", "## By file format (share judged correctly, clean → normalised)", "",
              "Reals and fakes differ in file format and JPEG quality in mixed-v1; a detector reading the format "
              "shows a wide spread across one class's cells under clean.", ""]
    for name, by_condition in data["by_format"].items():
        if "clean" not in by_condition:
            continue
        keys = list(by_condition["clean"])
        lines += [f"**{name}**", "", "| class, format | n | clean | normalised |", "|---|---:|---:|---:|"]
        for key in keys:
            norm = by_condition.get("normalised", {}).get(key, {}).get("correct")
            lines.append(f"| {key} | {by_condition['clean'][key]['n']} | {_f(by_condition['clean'][key]['correct'])} "
                         f"| {_f(norm)} |")
        lines.append("")
    lines += ["Full per-generator tables, every metric and the plots: [accuracy/report.md](accuracy/report.md).", ""]
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--detector", "-d", nargs="+", metavar="NAME",
                        help=f"detectors to run (default: {' '.join(DEFAULT_DETECTORS)})")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST, help="mixed-v1 manifest.csv")
    parser.add_argument("--limit", type=int, help="only this many test images (fixed random subset; for smoke tests)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: benchmarks/results)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    from aidetect.evaluation import evaluate

    dataset = load_test_split(args.manifest, args.limit)
    print(f"{dataset!r}", flush=True)
    names = list(args.detector or DEFAULT_DETECTORS)
    reports, skipped, seconds, facts_by_detector = [], {}, {}, {}
    for name in names:
        detector, reason, facts = build_detector(name)
        if detector is None:
            print(f"skip {name}: {reason}", flush=True)
            skipped[name] = reason
            continue
        print(f"evaluating {name} ...", flush=True)
        total = len(dataset) * 8  # clean, normalised and six robustness conditions
        start = time.perf_counter()
        report = evaluate(detector, dataset, robustness=True, normalise=True, batch_size=args.batch_size,
                          progress=_Progress(name, total))
        seconds[name] = time.perf_counter() - start
        facts_by_detector[name] = facts
        reports.append(report)
        clean = report.result(detector.name).metrics
        print(f"  {name}: accuracy {clean['accuracy']:.3f}  AUC {clean['roc_auc']:.3f}  F1 {clean['f1']:.3f}  "
              f"[{seconds[name]:.0f} s]", flush=True)
    if not reports:
        sys.exit("error: no detector could run (see the skip notes above)")

    merged = merge_reports(reports)
    args.out.mkdir(parents=True, exist_ok=True)
    merged.write(args.out / "accuracy", include_scores=True)
    data = {
        "run": {**run_facts(), "manifest": str(args.manifest), "split": "test", "limit": args.limit,
                "batch_size": args.batch_size},
        "detectors": facts_by_detector,
        "skipped": skipped,
        "seconds": seconds,
        "report": merged.to_dict(),
        "by_format": by_format(merged, dataset, format_cells(args.manifest)),
    }
    write_outputs(args.out, "accuracy", data, summary_markdown(data))
    print(f"wrote {args.out / 'accuracy.json'}, {args.out / 'accuracy.md'} and {args.out / 'accuracy'}/")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
