"""Fit the ``stacked`` ensemble from the installed members, and compare every variant in one run.

    python benchmarks/fit_ensemble.py [--clip-cache /work/clip-cache/embeddings] [--install]

Re-run after any member is retrained: member scores are cached per member version
(``--scores``), so only the changed member is scored again.

1. Roles as ``train_bundled.py``'s `training_roles` (same held-out sources as the members).
2. Every candidate member (``efficientnet``, ``clip``, ``forensic-svm``, ``cnn``; those that load)
   scores the fitting set (seen sources' val split + held-out sources' train/val images) and the
   test splits, raw and format-normalised (`aidetect.preprocess.normalise_format`).
3. Members are chosen by source-grouped cross-validated ROC-AUC on the fitting set (a member that
   does not add 0.002 is dropped); weights are a class-balanced logistic regression on z-scored
   member logits over the whole fitting set; Platt calibration and the default threshold (mean
   false-positive rate over held-out real sources = 5%) on the held-out sources.
4. Cascade: the fastest chosen member runs first; two bands chosen on the fitting set (the fewest
   images consulted for an ROC-AUC loss of at most 0.01, and of at most 0.003).
5. Test (read only here): ROC-AUC raw/normalised per dataset for each member alone, the full stack
   and both cascades; false positives per held-out real source at the default threshold; and the
   throughput of each variant on the same images, single-threaded, measured in this run.
Writes ``benchmarks/results/ensemble.{json,md}``; ``--install`` writes ``src/aidetect/models/stacked.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ensemble_scores import MemberScores, score_table
from train_bundled import DEFAULT_DATA, training_roles

from aidetect import load
from aidetect.datasets import concat_datasets, load_dataset
from aidetect.detectors.stacked import StackedEnsembleDetector
from aidetect.errors import DetectorError
from aidetect.metrics import roc_auc
from aidetect.stacking import StackedModel, member_version
from aidetect.training.stacking import cascade_scores, choose_bands, fit_stacked, select_members

CANDIDATES = ("efficientnet", "clip", "forensic-svm", "cnn")
MODELS = Path(__file__).resolve().parents[1] / "src" / "aidetect" / "models"
RESULTS = Path(__file__).resolve().parent / "results"
BAND_LOSSES = {"narrow": 0.01, "wide": 0.003}


def usable_members(names: list[str]) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The members that load, single-threaded where they take a ``threads`` option, and those options."""
    members, options = {}, {}
    for name in names:
        for option in ({"threads": 1}, {}):
            try:
                detector = load(name, **option)
            except DetectorError:
                continue  # this detector takes no threads option
            try:
                detector.decision_rule()
            except Exception as exc:  # a benchmark reports a missing member and goes on without it
                print(f"skipping {name}: {exc}", flush=True)
            else:
                members[name], options[name] = detector, option
            break
    return members, options


def throughput(detectors: dict[str, Any], images: list[Any]) -> dict[str, float]:
    """Images per second of each variant on the same decoded images, one after the other."""
    speeds = {}
    for name, detector in detectors.items():
        detector.predict_batch(images[:2], batch_size=8)  # warm-up: sessions, members
        started = time.perf_counter()
        detector.predict_batch(images, batch_size=8)
        speeds[name] = len(images) / (time.perf_counter() - started)
        print(f"  {name}: {speeds[name]:.2f} images/s", flush=True)
    return speeds


def held_out_fpr(probabilities: np.ndarray, sources: list[str], labels: np.ndarray, threshold: float
                 ) -> dict[str, float]:
    names = np.asarray(sources, dtype=object)
    return {s: float((probabilities[(names == s) & (labels == 0)] >= threshold).mean())
            for s in sorted({s for s, y in zip(sources, labels, strict=True) if y == 0})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", default=",".join(CANDIDATES))
    parser.add_argument("--clip-cache", type=Path, help="embedding cache from embed_clip.py (skips the encoder)")
    parser.add_argument("--scores", type=Path, default=Path("/tmp/aidetect-member-scores"))
    parser.add_argument("--speed-images", type=int, default=48)
    parser.add_argument("--install", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where ensemble.json/.md go")
    parser.add_argument("--score-only", action="store_true", help="fill the member-score cache and stop")
    args = parser.parse_args(argv)
    roles = training_roles([load_dataset(p) for p in DEFAULT_DATA], hold_out=0.15, seed=0)
    fitting = concat_datasets([roles["val"], roles["calibration"]], name="fitting")
    members, options = usable_members(args.members.split(","))
    scores = MemberScores(args.scores, members, clip_cache=args.clip_cache)
    names = list(members)
    fit_raw = score_table(scores, names, fitting)
    test_raw = score_table(scores, names, roles["test"])
    test_norm = score_table(scores, names, roles["test"], normalised=True)
    labels, sources = fitting.labels, fitting.sources
    if args.score_only:
        return 0

    chosen, selection_table = select_members(fit_raw, labels, names, sources)
    index = [names.index(n) for n in chosen]
    calibration_rows = np.arange(len(fitting)) >= len(roles["val"])
    model = fit_stacked(fit_raw[:, index], labels, chosen, calibration_rows=calibration_rows, sources=sources)
    print(f"members chosen: {chosen}; weights {dict(zip(chosen, model.coef.round(3).tolist(), strict=True))}")

    step = max(1, len(roles["test"]) // args.speed_images)
    speed_images = [scores.decoded(s.path) for s in roles["test"].samples[::step]][: args.speed_images]
    print("throughput (single thread, same images):", flush=True)
    member_speed = throughput(members, speed_images)
    cheap = max(chosen, key=member_speed.get)
    calibrated = {n: members[n].calibrate(fit_raw[:, names.index(n)]) for n in names}
    bands = choose_bands(calibrated[cheap], model.probability(fit_raw[:, index]), labels, BAND_LOSSES)
    model = StackedModel(**{**vars(model), "member_versions": {n: member_version(members[n]) for n in chosen},
                            "cascade": {"cheap": cheap, "bands": bands}})

    variants: dict[str, tuple[np.ndarray, np.ndarray]] = {
        n: (members[n].calibrate(test_raw[:, names.index(n)]), members[n].calibrate(test_norm[:, names.index(n)]))
        for n in names
    }
    full = (model.probability(test_raw[:, index]), model.probability(test_norm[:, index]))
    variants["stacked"] = full
    for band_name, band in bands.items():
        variants[f"stacked cascade {band_name}"] = tuple(
            cascade_scores(variants[cheap][k], full[k], tuple(band["band"])) for k in (0, 1))
    test_labels, test_sources = roles["test"].labels, roles["test"].sources
    datasets = sorted({s.split(":", 1)[0] for s in test_sources})
    accuracy = {}
    for variant, (raw_p, norm_p) in variants.items():
        row = {}
        for name in datasets:
            inside = np.array([s.startswith(name + ":") for s in test_sources])
            row[name] = {"roc_auc": roc_auc(test_labels[inside], raw_p[inside]),
                         "roc_auc_normalised": roc_auc(test_labels[inside], norm_p[inside])}
        accuracy[variant] = row
    held_sources = set(roles["test_heldout"].sources)
    held = np.array([s in held_sources for s in test_sources])
    fpr = held_out_fpr(full[0][held], [s for s, h in zip(test_sources, held, strict=True) if h],
                       test_labels[held], model.threshold)

    card_path = (args.scores / "stacked.json")
    args.scores.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    info = {"selection": {"rule": "source-grouped 5-fold CV ROC-AUC on val + held-out sources; a larger set must "
                                  "gain 0.002", "table": selection_table},
            "fitted_on": {"n": len(fitting), "n_calibration": int(calibration_rows.sum()),
                          "held_out_sources": sorted(set(roles["calibration"].sources))},
            "metrics": {"test": accuracy["stacked"], "held_out_sources_test_fpr_at_default": fpr, "measured": now}}
    model = StackedModel(**{**vars(model), "info": info})
    model.write(card_path)
    variant_detectors = {}
    single = {n: options[n] for n in chosen}
    variant_detectors["stacked"] = StackedEnsembleDetector(card_path, member_options=single)
    for band_name in bands:
        variant_detectors[f"stacked cascade {band_name}"] = StackedEnsembleDetector(
            card_path, cascade=band_name, member_options=single)
    speed = {**member_speed, **throughput(variant_detectors, speed_images)}
    results = {"measured": now, "members_available": names, "chosen": chosen, "cheap": cheap,
               "weights": dict(zip(chosen, model.coef.tolist(), strict=True)), "threshold": model.threshold,
               "bands": bands, "accuracy": accuracy, "throughput_images_per_s": speed,
               "speed_images": len(speed_images), "held_out_fpr_at_default": fpr}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ensemble.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "ensemble.md").write_text(markdown(results, datasets))
    print((args.out / "ensemble.md").read_text())
    if args.install:
        model.write(MODELS / "stacked.json")
        print(f"installed {MODELS / 'stacked.json'}")
    return 0


def markdown(results: dict[str, Any], datasets: list[str]) -> str:
    header = "| variant | " + " | ".join(f"{d} AUC raw / normalised" for d in datasets) + " | images/s |"
    lines = [f"# Ensemble variants ({results['measured']})", "",
             f"Members chosen: {', '.join(results['chosen'])}; cascade runs `{results['cheap']}` first. "
             "Test splits, format-normalised = `normalise_format`. Throughput: one thread, batch 8, "
             f"{results['speed_images']} test images, all variants in this run.", "",
             header, "|---|" + "---|" * (len(datasets) + 1)]
    for variant, row in results["accuracy"].items():
        cells = [f"{row[d]['roc_auc']:.3f} / {row[d]['roc_auc_normalised']:.3f}" for d in datasets]
        speed = results["throughput_images_per_s"].get(variant)
        lines.append(f"| {variant} | " + " | ".join(cells) + f" | {speed:.2f} |" if speed else
                     f"| {variant} | " + " | ".join(cells) + " | - |")
    lines += ["", "False positives of the stacked ensemble at its default threshold "
              f"({results['threshold']:.3f}), held-out real sources (test split):", ""]
    lines += [f"- {source}: {rate:.3f}" for source, rate in results["held_out_fpr_at_default"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
