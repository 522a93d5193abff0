"""Train the bundled ``forensic-svm`` on the same data, held-out sources and threshold rule as the neural models.

    python benchmarks/train_forensic_bundled.py --roles /work/train/efficientnet/splits.csv --work DIR [--install]

``--roles`` is the ``splits.csv`` that ``train_bundled.py`` wrote, so all bundled detectors hold out the same
whole sources. The SVM is fitted on the ``train`` role (grid search and a first calibration on ``val``), with
training views re-saved in random containers (JPEG, WebP, palette GIF, CMYK JPEG; both classes), then
recalibrated (Platt) on the held-out sources (``calibration`` role), and its default threshold set so that the
mean over held-out real sources of their false-positive rate is 5%, exactly as ``bundle_trained.py`` does.
Test splits are not read.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from bundle_trained import DEFAULT_FPR, MODELS, dataset_versions, read_roles, source_report

from aidetect import load
from aidetect.recalibrate import calibrate
from aidetect.thresholds import leave_one_source_out, threshold_for_source_fpr


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--roles", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--grid", default="C=1,3,10;gamma=scale")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--install", action="store_true", help="copy the result into src/aidetect/models")
    args = parser.parse_args(argv)
    roles = read_roles(args.roles)
    args.work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    detector = load("forensic-svm", grid=args.grid, n_jobs=args.n_jobs)
    detector.fit(roles["train"], val=roles["val"])
    fitted_s = time.perf_counter() - started
    held = roles["calibration"]
    calibrate(detector, held, method="platt")
    probabilities = np.array([p.score for p in detector.predict_batch([s.path for s in held.samples])])
    is_real = held.labels == 0
    real_sources = [s for s, real in zip(held.sources, is_real, strict=True) if real]
    threshold = threshold_for_source_fpr(probabilities[is_real], real_sources, DEFAULT_FPR)
    card = detector.card_
    info = dict(card.info)
    info["training"] = {**info.get("training", {}), "data": dataset_versions(roles),
                        "held_out_sources": sorted(set(held.sources)), "seconds_fit": round(fitted_s, 1),
                        "recipe": "benchmarks/train_forensic_bundled.py: views re-saved in random containers "
                                  "(JPEG/WebP/GIF/CMYK JPEG), roles of benchmarks/train_bundled.py"}
    info["threshold_selection"] = {
        "rule": f"mean over held-out real sources of their false-positive rate <= {DEFAULT_FPR}",
        "calibration": "Platt on the held-out sources (train+val splits), through predict",
        "per_source_at_default": source_report(probabilities, held, threshold),
        "leave_one_source_out_at_0.05": leave_one_source_out(probabilities[is_real], real_sources, DEFAULT_FPR),
    }
    detector.adopt_card(card.replace(threshold=threshold, info=info))
    weights = detector.save(args.work / "forensic-svm.skops")
    print(json.dumps({"threshold": threshold, "seconds_fit": round(fitted_s, 1), "weights": str(weights)}, indent=2))
    if args.install:
        for path in (weights, weights.with_suffix(".json")):
            shutil.copyfile(path, MODELS / path.name)
        print(f"installed {weights.name} and its card into {MODELS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
