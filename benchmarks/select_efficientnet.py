"""Choose the bundled ``efficientnet``'s size and crop size on validation, with each candidate's speed cost.

    python benchmarks/select_efficientnet.py --candidate lite0-160=/tmp/train/lite0-160 \\
        --candidate lite1-160=/tmp/train/lite1-160 --candidate lite0-224=/tmp/train/lite0-224

Each ``--candidate LABEL=DIR`` is a ``train_bundled.py`` work folder (same data, held-out sources,
sampling, augmentation and seed; only ``--arch`` and ``--crop-size`` differ). Two things are compared:

* **Validation** (never a test split), through the inference path: each candidate's bundled model
  (``bundle_trained.py --work DIR``, without ``--install``: ``DIR/bundle/efficientnet.onnx``) scores the
  seen sources' val split and the held-out sources' train+val images with ``predict``'s own tiling,
  original files and format-normalised copies; the selection score is the mean of those two ROC-AUCs.
  The training loop's per-epoch score (one centre crop at the training crop size) is reported beside it
  but not used: it favours a larger input, because it hides the tiles a smaller input adds at inference.
* **Speed**: ``predict`` of one 256x256 image (the size of both datasets' files; the candidate's own
  tiling, so a bigger input size means bigger tiles) on ONNX Runtime fp32 with one thread, the
  per-core figure the default must keep at 50 images/s or more. Timed interleaved with every other
  candidate (median of rotating repeats), on ImageNet-initialised networks: weights do not change
  the cost. Also the raw network call on one crop of the candidate's input size.

The rule: among candidates at least 50 images/s per core, the highest validation score, except that a
clearly slower candidate (more than 10% fewer images/s) must beat a faster one by more than 0.005.
Candidates stopped early (on CPU not all finish) are marked with the epochs they ran.
Writes ``<out>/select_efficientnet.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from bench_accuracy import write_outputs
from bundle_trained import read_roles

from aidetect import load
from aidetect.datasets import Dataset, concat_datasets
from aidetect.detectors.architectures import build_efficientnet_lite
from aidetect.detectors.efficientnet import EfficientNetDetector
from aidetect.export import onnx_bytes
from aidetect.io import load_image
from aidetect.metrics import roc_auc
from aidetect.onnx_session import make_session
from aidetect.preprocess import normalise_format

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
SPEED_FLOOR = 50.0  # images/s per core at batch 1: the floor for the default
TIE = 0.005  # validation-score differences below this are noise at ~1.5k validation images
SAME_SPEED = 0.9  # within 10% of each other, speeds count as equal: run-to-run noise on a shared machine


def read_candidate(label: str, work: Path) -> dict[str, Any]:
    history = json.loads((work / "history.json").read_text())
    config = json.loads((work / "config.json").read_text())
    architecture_file = work / "architecture.txt"
    architecture = architecture_file.read_text().strip() if architecture_file.exists() else "efficientnet-lite0"
    scores = [(h["val_auc"] + h["val_auc_normalised"]) / 2 for h in history]
    bundled_card = work / "bundle" / "efficientnet.json"  # the inference input size may differ from the crops'
    input_size = json.loads(bundled_card.read_text())["crop_policy"]["input_size"]
    return {"label": label, "work": str(work), "architecture": architecture, "input_size": input_size,
            "train_crop": config["augment"]["crop_size"], "epochs_run": len(history),
            "epochs_planned": config["epochs"], "scores": scores,
            "epoch_seconds": [h["seconds"] for h in history]}


def inference_validation(candidate: dict[str, Any], roles: dict[str, Dataset]) -> None:
    """ROC-AUC of the candidate's bundled model on the validation roles, as `predict` judges them."""
    detector = load("efficientnet", weights=Path(candidate["work"]) / "bundle" / "efficientnet.onnx")
    aucs = {}
    for role in ("val", "calibration"):
        dataset = roles[role]
        images = [load_image(path) for path in dataset.paths]
        for kind, batch in (("original", images), ("normalised", [normalise_format(i) for i in images])):
            aucs[f"{role}_{kind}"] = roc_auc(dataset.labels, detector.decision_function(batch))
    both = concat_datasets([roles["val"], roles["calibration"]])
    candidate["inference_auc"] = aucs
    candidate["n_validation"] = len(both)
    # Pooled over both roles, weighting them by their sizes: the same images as the training loop's score.
    pooled = {kind: (aucs[f"val_{kind}"] * len(roles["val"]) + aucs[f"calibration_{kind}"] * len(roles["calibration"]))
              / len(both) for kind in ("original", "normalised")}
    candidate["validation_score"] = (pooled["original"] + pooled["normalised"]) / 2


def timed(fn: Callable[[], object], seconds: float = 0.5) -> float:
    """Calls per second of ``fn`` over at least ``seconds``."""
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds or calls < 3:
        fn()
        calls += 1
    return calls / elapsed


def speed_cases(candidate: dict[str, Any]) -> dict[str, Callable[[], object]]:
    size = candidate["input_size"]
    network = build_efficientnet_lite(candidate["architecture"]).eval()
    card = load("efficientnet").card_.replace(architecture=candidate["architecture"], input_size=size)
    detector = EfficientNetDetector.from_trained(network, card, threads=1)
    session = make_session(onnx_bytes(network, size), 1)
    crop = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
    image = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    detector.predict(image)  # warm-up, and the export happens here, not in the timing
    return {"predict_256": lambda: detector.predict(image),
            "raw_crop": lambda: session.run(None, {"input": crop})}


def measure_speed(candidates: list[dict[str, Any]], repeats: int) -> None:
    cases = {c["label"]: speed_cases(c) for c in candidates}
    samples: dict[tuple[str, str], list[float]] = {(label, kind): [] for label in cases for kind in cases[label]}
    for repeat in range(repeats):
        order = list(cases)[repeat % len(cases):] + list(cases)[: repeat % len(cases)]
        for label in order:
            for kind, fn in cases[label].items():
                samples[(label, kind)].append(timed(fn))
    for candidate in candidates:
        for kind in ("predict_256", "raw_crop"):
            candidate[f"{kind}_per_s"] = statistics.median(samples[(candidate["label"], kind)])


def choose(candidates: list[dict[str, Any]]) -> dict[str, Any]:
    budget = min(c["epochs_run"] for c in candidates)
    for c in candidates:
        c["best_within_budget"] = max(c["scores"][:budget])
        c["fast_enough"] = c["predict_256_per_s"] >= SPEED_FLOOR
    eligible = sorted((c for c in candidates if c["fast_enough"]), key=lambda c: -c["predict_256_per_s"])
    if not eligible:
        return {"budget_epochs": budget, "chosen": None}
    chosen = eligible[0]  # the fastest
    for c in eligible[1:]:
        margin = 0.0 if c["predict_256_per_s"] >= SAME_SPEED * chosen["predict_256_per_s"] else TIE
        if c["validation_score"] > chosen["validation_score"] + margin:
            chosen = c
    return {"budget_epochs": budget, "chosen": chosen["label"]}


def write_report(out: Path, candidates: list[dict[str, Any]], decision: dict[str, Any]) -> None:
    base = next((c for c in candidates if c["label"] == decision["chosen"]), candidates[0])
    lines = [
        "# Choosing the bundled efficientnet (validation only)",
        "",
        f"Equal budget: the first {decision['budget_epochs']} epochs of each run. Validation score: mean ROC-AUC "
        "on val + held-out-source images, original and format-normalised (no test image). Speed: ONNX "
        "Runtime fp32, 1 thread, batch 1, medians of interleaved repeats in one run; ratios are to the chosen one "
        f"(to {base['label']} when none is chosen).",
        "",
        "| candidate | architecture | training crops | inference input | epochs run | "
        "**validation score (inference path)** | "
        "held-out sources AUC orig / norm | seen-source val AUC orig / norm | training-loop score per epoch | "
        "best in first " + str(decision["budget_epochs"]) + " epochs | "
        "predict 256 px, img/s/core | ratio | one crop, img/s/core | s/epoch (train) |",
        "|---|---|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in candidates:
        per_epoch = ", ".join(f"{s:.3f}" for s in c["scores"]) or "not trained (speed only)"
        seconds = f"{statistics.median(c['epoch_seconds'][1:] or c['epoch_seconds']):.0f}" if c["scores"] else "-"
        best = f"{c['best_within_budget']:.4f}" if c["scores"] else "-"
        auc = c.get("inference_auc")
        validation = f"{c['validation_score']:.4f}" if auc else "-"
        held = f"{auc['calibration_original']:.3f} / {auc['calibration_normalised']:.3f}" if auc else "-"
        seen = f"{auc['val_original']:.3f} / {auc['val_normalised']:.3f}" if auc else "-"
        lines.append(
            f"| {c['label']} | {c['architecture']} | {c.get('train_crop', '-')} | {c['input_size']} | "
            f"{c['epochs_run']} | "
            f"{validation} | {held} | "
            f"{seen} | {per_epoch} | {best} | {c['predict_256_per_s']:.1f} | "
            f"{c['predict_256_per_s'] / base['predict_256_per_s']:.2f}x | {c['raw_crop_per_s']:.1f} | {seconds} |"
        )
    lines += ["", f"Chosen: **{decision['chosen'] or f'none at {SPEED_FLOOR:.0f} img/s/core'}** (rule: the best "
              f"validation score through the inference path among candidates at >= {SPEED_FLOOR:.0f} img/s/core; a "
              f"candidate more than {1 - SAME_SPEED:.0%} slower than another must beat it by more than {TIE})."]
    write_outputs(out, "select_efficientnet", {"candidates": candidates, **decision}, "\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidate", action="append", required=True, metavar="LABEL=DIR")
    parser.add_argument("--speed-only", action="append", default=[], metavar="LABEL=ARCH:SIZE",
                        help="also time an untrained candidate (e.g. lite2-260=efficientnet-lite2:260)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    candidates = [read_candidate(label, Path(work)) for label, work in (c.split("=", 1) for c in args.candidate)]
    for label, spec in (c.split("=", 1) for c in args.speed_only):
        architecture, size = spec.split(":")
        candidates.append({"label": label, "architecture": architecture, "input_size": int(size), "epochs_run": 0,
                           "scores": [], "epoch_seconds": []})
    roles = read_roles(Path(candidates[0]["work"]) / "splits.csv")
    for candidate in candidates:
        if candidate["scores"]:
            inference_validation(candidate, roles)
    measure_speed(candidates, args.repeats)
    decision = choose([c for c in candidates if c["scores"]])
    write_report(args.out, candidates, decision)
    print((args.out / "select_efficientnet.md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
