"""Calibration before and after: does a score of 0.8 mean 80%, and do the validated thresholds hold?

For each bundled detector, the raw scores (mean crop logit or SVM margin) of
mixed-v1's validation and test splits are mapped to P(AI) three ways:

- ``uncalibrated``: the logistic function of the raw score, i.e. what a bare
  "0.5 threshold on the network output" means;
- ``card (Platt)``: the calibration stored in the model card (fitted on the
  validation split when the model was trained);
- ``isotonic``: an isotonic calibrator fitted here on the validation split.

On the test split it reports expected calibration error (ECE), Brier score
and accuracy at 0.5 for each, and the false-positive rate on real test photos
at the card's thresholds for 1% and 5% false positives (validated on the
validation reals): the gap says how far a validated FPR carries to new images.
With matplotlib, it draws one reliability diagram per detector.

Writes ``<out>/calibration.json``, ``<out>/calibration.md`` and ``<out>/calibration/*.png``.

    python benchmarks/bench_calibration.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import DEFAULT_MANIFEST, build_detector, run_facts, write_outputs

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
DETECTORS = ("efficientnet", "cnn", "forensic-svm")
TARGET_FPRS = (0.01, 0.05)


def raw_scores(detector: Any, dataset: Any) -> np.ndarray:
    return np.asarray(detector.decision_function([str(path) for path in dataset.paths]), dtype=np.float64)


def mappings(detector: Any, val_raw: np.ndarray, val_labels: np.ndarray) -> dict[str, Any]:
    """name -> function from raw scores to P(AI)."""
    from aidetect.calibration import IsotonicCalibrator

    isotonic = IsotonicCalibrator().fit(val_raw, val_labels)
    return {
        "uncalibrated": lambda raw: 1.0 / (1.0 + np.exp(-raw)),
        "card (Platt)": detector.calibrate,
        "isotonic": isotonic.transform,
    }


def measure(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    from aidetect.metrics import accuracy, expected_calibration_error

    return {
        "ece": expected_calibration_error(labels, probabilities),
        "brier": float(np.mean((probabilities - labels) ** 2)),
        "accuracy_at_0.5": accuracy(labels, (probabilities >= 0.5).astype(int)),
    }


def fpr_check(detector: Any, labels: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Observed false-positive rate on test reals at each validated target-FPR threshold of the card."""
    thresholds = detector.fpr_thresholds()
    reals = probabilities[labels == 0]
    return {
        f"{fpr:g}": {"threshold": thresholds[fpr], "observed_fpr": float((reals >= thresholds[fpr]).mean()),
                     "recall": float((probabilities[labels == 1] >= thresholds[fpr]).mean())}
        for fpr in TARGET_FPRS if fpr in thresholds
    }


def plot(path: Path, name: str, labels: np.ndarray, curves: dict[str, np.ndarray]) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from aidetect.metrics import expected_calibration_error, reliability_curve

    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    for label, probabilities in curves.items():
        mean_score, ai_share, _ = reliability_curve(labels, probabilities, n_bins=10)
        ece = expected_calibration_error(labels, probabilities)
        axes.plot(mean_score, ai_share, marker="o", label=f"{label} (ECE {ece:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="mean predicted P(AI)", ylabel="share of AI images", title=f"{name}: reliability on test",
             xlim=(0, 1), ylim=(-0.02, 1.02))
    axes.legend(loc="upper left", fontsize="small")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(figure)
    return True


def to_markdown(data: dict[str, Any]) -> str:
    machine = data["run"]["machine"]
    lines = [
        "# Calibration before and after",
        "",
        f"Run {data['run']['date']} on {machine['cpu']}. Calibrators fitted on the validation split "
        f"({data['n_val']} images), measured on the test split ({data['n_test']} images).",
        "",
        "| detector | mapping | ECE | Brier | accuracy at 0.5 |",
        "|---|---|---:|---:|---:|",
    ]
    for name, result in data["detectors"].items():
        for mapping, values in result["test"].items():
            lines.append(f"| {name} | {mapping} | {values['ece']:.3f} | {values['brier']:.3f} | "
                         f"{values['accuracy_at_0.5']:.3f} |")
    lines += ["", "## Do the validated false-positive thresholds hold on test?", "",
              "| detector | target FPR (validation) | threshold | observed FPR on test reals | recall on test AI |",
              "|---|---:|---:|---:|---:|"]
    for name, result in data["detectors"].items():
        for fpr, check in result["fpr_thresholds"].items():
            lines.append(f"| {name} | {float(fpr):.0%} | {check['threshold']:.3f} | {check['observed_fpr']:.1%} | "
                         f"{check['recall']:.1%} |")
    if data["plots"]:
        lines += ["", "Reliability diagrams: " + ", ".join(f"[{n}](calibration/{n}.png)" for n in data["plots"]), ""]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--detector", "-d", nargs="+", default=list(DETECTORS))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    from aidetect.datasets import load_dataset

    if not args.manifest.is_file():
        sys.exit(f"error: dataset manifest not found: {args.manifest}")
    dataset = load_dataset(args.manifest)
    val, test = dataset.split_named("val"), dataset.split_named("test")
    data: dict[str, Any] = {"run": run_facts(), "n_val": len(val), "n_test": len(test), "detectors": {},
                            "skipped": {}, "plots": []}
    for name in args.detector:
        detector, reason, _ = build_detector(name)
        if detector is None:
            data["skipped"][name] = reason
            print(f"skip {name}: {reason}", flush=True)
            continue
        print(f"{name} ...", flush=True)
        val_raw, test_raw = raw_scores(detector, val), raw_scores(detector, test)
        curves = {label: np.asarray(fn(test_raw), dtype=np.float64)
                  for label, fn in mappings(detector, val_raw, val.labels).items()}
        data["detectors"][name] = {
            "test": {label: measure(test.labels, probabilities) for label, probabilities in curves.items()},
            "fpr_thresholds": fpr_check(detector, test.labels, curves["card (Platt)"]),
        }
        if plot(args.out / "calibration" / f"{name}.png", name, test.labels, curves):
            data["plots"].append(name)
    write_outputs(args.out, "calibration", data, to_markdown(data))
    print(to_markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
