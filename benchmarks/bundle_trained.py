"""Stage 2 of a bundled neural detector: from ``train_bundled.py``'s checkpoint to weights + model card.

    python benchmarks/bundle_trained.py efficientnet --work /tmp/aidetect-train/efficientnet [--install]

1. Rebuild the network from ``best.pt``; write the torch state dict, the ONNX export (parity-checked
   against torch) and, for efficientnet, a static int8 QDQ variant calibrated on training crops.
2. Score the held-out sources' train+val images (``role == calibration`` in ``splits.csv``: sources
   the network never trained on) through the detector's own inference path (native-resolution tiles).
3. Fit Platt scaling on those scores; choose the default threshold so that the mean over held-out
   real sources of their false-positive rate is 5% (each source counts equally), record the pooled
   0.1/1/5/10% thresholds, and a leave-one-source-out report of the false-positive rate a threshold
   chosen on the other sources gives each source.
4. Write the model card (data and versions, weighting, held-out sources, training history, calibration,
   thresholds, sha256 of every file); ``--install`` copies the files into ``src/aidetect/models``.
Test splits are not read here; ``bench_accuracy.py`` measures them afterwards.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import platform
import shutil
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from aidetect import load, preprocess
from aidetect.calibration import fpr_table, leave_one_source_out, make_calibrator, threshold_for_source_fpr
from aidetect.datasets import Dataset, Sample
from aidetect.detectors.architectures import build_efficientnet_lite
from aidetect.export import export_module, max_parity_error, quantize_int8
from aidetect.io import load_image
from aidetect.metrics import roc_auc
from aidetect.weights import ModelCard, sha256_file

MODELS = Path(__file__).resolve().parents[1] / "src" / "aidetect" / "models"
WEIGHTS_SUFFIX = {"efficientnet": ".onnx", "cnn": ".pt"}
DEFAULT_FPR = 0.05


def read_roles(path: Path) -> dict[str, Dataset]:
    samples: dict[str, list[Sample]] = defaultdict(list)
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            samples[row["role"]].append(Sample(Path(row["path"]), int(row["label"]), row["generator"] or None,
                                               row["split"] or None, row["source"] or None))
    return {role: Dataset(tuple(items), name=role) for role, items in samples.items()}


def dataset_versions(roles: dict[str, Dataset]) -> list[dict[str, object]]:
    """Name, manifest sha256 and image count of each dataset the samples came from."""
    versions = []
    for name in sorted({source.split(":", 1)[0] for source in roles["train"].sources}):
        root = next(s.path for s in roles["train"].samples if (s.source or "").startswith(name + ":"))
        manifest = next(p / "manifest.csv" for p in root.parents if (p / "manifest.csv").exists())
        versions.append({"name": name, "manifest_sha256": hashlib.sha256(manifest.read_bytes()).hexdigest(),
                         "train_images": sum(1 for s in roles["train"].sources if s.startswith(name + ":"))})
    return versions


def training_crops(dataset: Dataset, size: int, count: int, norm: preprocess.Normalisation) -> list[np.ndarray]:
    """Batches of 8 centre crops from ``count`` training images (int8 calibration data)."""
    picks = np.random.default_rng(0).choice(len(dataset), size=count, replace=False)
    crops = [preprocess.center_crop(preprocess.pad_to(load_image(dataset.samples[i].path), size), size)
             for i in picks]
    return [preprocess.to_nchw_float(crops[i : i + 8], norm) for i in range(0, count, 8)]


def export_files(name: str, network: torch.nn.Module, out: Path, input_size: int, train: Dataset,
                 norm: preprocess.Normalisation) -> dict[str, object]:
    """Write the state dict, and for ONNX-served detectors the ONNX and int8 files; return card facts."""
    suffix = WEIGHTS_SUFFIX[name]
    state = out / f"{name}.pt"
    torch.save(network.state_dict(), state)
    facts: dict[str, object] = {"torch_state_dict": {"file": state.name, "sha256": sha256_file(state)}}
    if suffix != ".onnx":
        return facts
    onnx_path = export_module(network, out / f"{name}.onnx", input_size)
    probe = np.random.default_rng(0).standard_normal((2, 3, input_size, input_size)).astype(np.float32)
    facts["export"] = {"opset": 17, "dynamic_axes": ["batch", "height", "width"],
                       "parity_max_abs_logit_error": max_parity_error(network, onnx_path, probe)}
    int8 = quantize_int8(onnx_path, out / f"{name}-int8.onnx", training_crops(train, input_size, 64, norm))
    facts["int8"] = {"file": int8.name, "sha256": sha256_file(int8),
                     "method": "onnxruntime static QDQ, per-channel, 64 train crops"}
    return facts


def source_report(probabilities: np.ndarray, data: Dataset, threshold: float) -> dict[str, dict[str, float]]:
    """False-positive (reals) or true-positive (fakes) rate at ``threshold`` for each source."""
    report = {}
    for source in sorted(set(data.sources)):
        inside = np.array([s == source for s in data.sources])
        label = int(data.labels[inside][0])
        rate = float((probabilities[inside] >= threshold).mean())
        report[source] = {"n": int(inside.sum()), "fpr" if label == 0 else "tpr": rate}
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(WEIGHTS_SUFFIX))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--input-size", type=int)
    parser.add_argument("--install", action="store_true", help="copy the result into src/aidetect/models")
    args = parser.parse_args(argv)
    suffix = WEIGHTS_SUFFIX[args.name]
    roles = read_roles(args.work / "splits.csv")
    history = json.loads((args.work / "history.json").read_text())
    config = json.loads((args.work / "config.json").read_text())
    input_size = args.input_size or config["augment"]["crop_size"]  # infer at the size it was validated at
    template = load(args.name)
    architecture_file = args.work / "architecture.txt"  # train_bundled.py --arch; older runs: the card's
    architecture = architecture_file.read_text().strip() if architecture_file.exists() else template.card_.architecture
    out = args.work / "bundle"
    out.mkdir(exist_ok=True)

    network = (build_efficientnet_lite(architecture, pretrained=False) if args.name == "efficientnet"
               else template.build_network(pretrained=False))
    network.load_state_dict(torch.load(args.work / "best.pt", map_location="cpu", weights_only=True))
    network.eval()
    norm = preprocess.Normalisation(tuple(config["normalisation"]["mean"]), tuple(config["normalisation"]["std"]))
    facts = export_files(args.name, network, out, input_size, roles["train"], norm)
    weights = out / f"{args.name}{suffix}"
    network_config = template.network_config()
    card = ModelCard(name=args.name, architecture=architecture, weights_file=weights.name,
                     sha256=sha256_file(weights), input_size=input_size, normalisation=norm,
                     info={"network": network_config, **facts})
    card.write(out / f"{args.name}.json")  # uncalibrated, so the inference path below can load it

    detector = load(args.name, weights=weights)
    calibration = roles["calibration"]
    raw = detector.decision_function([s.path for s in calibration.samples])
    raw_val = detector.decision_function([s.path for s in roles["val"].samples])
    calibrator = make_calibrator("platt").fit(raw, calibration.labels)
    probabilities = calibrator.transform(raw)
    is_real = calibration.labels == 0
    real_sources = [s for s, real in zip(calibration.sources, is_real, strict=True) if real]
    threshold = threshold_for_source_fpr(probabilities[is_real], real_sources, DEFAULT_FPR)
    best = max(range(len(history)), key=lambda i: history[i]["val_auc"] + history[i]["val_auc_normalised"])
    info = dict(card.info)
    info["training"] = {
        "data": dataset_versions(roles),
        "recipe": "benchmarks/train_bundled.py: whole sources held out (15% per class and set, seed 0); "
                  "class-balanced, sqrt-source-weighted sampling; rescale 0.25x-2x (6 filters), social-media "
                  "pipeline, JPEG 50-100, crops, flips, colour jitter",
        "weighting": {"balance": config["balance"], "source_power": config.get("source_power")},
        "n_train": len(roles["train"]), "n_val": len(roles["val"]),
        "held_out_sources": sorted(set(calibration.sources)),
        "config": config, "epochs_run": len(history), "best_epoch": best + 1,
        "seconds": round(sum(r["seconds"] for r in history), 1),
        "machine": f"{platform.machine()}, {config.get('threads')} torch threads, CPU", "history": history,
    }
    info["validation"] = {
        "seen_sources_val_auc": roc_auc(roles["val"].labels, raw_val),
        "held_out_sources_auc": roc_auc(calibration.labels, raw),
        "n_val": len(roles["val"]), "n_held_out": len(calibration),
    }
    info["threshold_selection"] = {
        "rule": f"mean over held-out real sources of their false-positive rate <= {DEFAULT_FPR}",
        "per_source_at_default": source_report(probabilities, calibration, threshold),
        "leave_one_source_out_at_0.05": leave_one_source_out(probabilities[is_real], real_sources, DEFAULT_FPR),
    }
    final = ModelCard(**{**vars(card), "threshold": threshold, "calibration": calibrator.to_dict(),
                         "fpr_thresholds": fpr_table(probabilities[is_real]), "info": info, "path": None})
    final.write(out / f"{args.name}.json")
    print(json.dumps({"threshold": threshold, "validation": info["validation"]}, indent=2))
    if args.install:
        for path in out.iterdir():
            shutil.copyfile(path, MODELS / path.name)
        print(f"installed {sorted(p.name for p in out.iterdir())} into {MODELS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
