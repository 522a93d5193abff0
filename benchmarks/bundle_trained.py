"""Stage 2 of the bundled models: a trained network -> calibrated detector -> ONNX (+ int8) + model card.

Takes what ``benchmarks/train_bundled.py`` left in ``--work`` (``best.pt``, ``config.json``,
``history.json``, ``splits.csv``) and:

1. rebuilds the network from ``best.pt`` and builds the detector from it with
   ``Detector.from_trained(network, card)`` (the one constructor from a trained model);
2. calibrates it (Platt by default) on the ``calibration`` role of ``splits.csv`` (held-out
   sources, train+val splits: never trained on) through the detector's inference path,
   with `aidetect.recalibrate.calibrate`, which also sets the FPR thresholds;
3. saves weights, ``.pt`` state dict and card with ``detector.save(OUT)``; for efficientnet also a
   static int8 model calibrated on 64 inference crops of training images (``int8_calibration=``).

    python benchmarks/bundle_trained.py efficientnet --work /work/train/efficientnet --out /tmp/bundle/efficientnet.onnx
    python benchmarks/bundle_trained.py cnn --work /work/train/cnn --out /tmp/bundle/cnn.pt

The card's ``training`` entry records the run (config, history, datasets and their counts per role).
Copying the files into ``src/aidetect/models/`` (as ``<name>.onnx`` / ``.json``) is left to the caller.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch

import aidetect
from aidetect.datasets import Dataset, Sample
from aidetect.recalibrate import calibrate


def role_dataset(splits: Path, role: str) -> Dataset:
    """The samples ``train_bundled.py`` assigned to ``role`` in ``splits.csv``."""
    with splits.open(newline="") as handle:
        samples = tuple(
            Sample(Path(row["path"]), int(row["label"]), row["generator"] or None, row["split"] or None,
                   row["source"] or None)
            for row in csv.DictReader(handle) if row["role"] == role
        )
    return Dataset(samples, name=role)


def datasets_of(data: Dataset) -> dict[str, dict[str, int]]:
    """Per dataset (the ``name:`` prefix of the sources), images per class."""
    counts = Counter((s.source or "unknown").partition(":")[0] + (" ai" if s.label else " real") for s in data.samples)
    names = sorted({key.rsplit(" ", 1)[0] for key in counts})
    return {name: {"real": counts.get(f"{name} real", 0), "ai": counts.get(f"{name} ai", 0)} for name in names}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=("efficientnet", "cnn"))
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--calibration", choices=("platt", "isotonic"), default="platt")
    parser.add_argument("--int8-crops", type=int, default=64)
    args = parser.parse_args(argv)

    template = aidetect.load(args.name)  # the detector class and its defaults; nothing is loaded yet
    network = template.build_network(pretrained=False)
    network.load_state_dict(torch.load(args.work / "best.pt", map_location="cpu", weights_only=True))
    network.eval()
    splits = args.work / "splits.csv"
    roles = {role: role_dataset(splits, role) for role in ("train", "val", "calibration", "test", "test_heldout")}
    history = json.loads((args.work / "history.json").read_text())
    card = aidetect.ModelCard(
        name=args.name, architecture=template.architecture, weights_file=args.out.name, sha256="",
        input_size=template.default_input_size,
        info={
            "network": template.network_config(),
            "training": {
                "config": json.loads((args.work / "config.json").read_text()),
                "datasets": {role: datasets_of(data) for role, data in roles.items()},
                "epochs_run": len(history),
                "best_epoch": 1 + max(range(len(history)), key=lambda i: (history[i]["val_auc"]
                                                                           + history[i]["val_auc_normalised"])),
                "history": history,
                "driver": "benchmarks/train_bundled.py + benchmarks/bundle_trained.py",
            },
        },
    )
    detector = type(template).from_trained(network, card)
    calibrated = calibrate(detector, roles["calibration"], method=args.calibration)
    print(f"calibrated on {len(roles['calibration'])} held-out-source images: {calibrated.calibration}", flush=True)
    extra: dict[str, Any] = {}
    if args.name == "efficientnet":  # int8 ranges from crops of a random sample of training images
        picks = np.random.default_rng(0).permutation(len(roles["train"]))[: args.int8_crops]
        sample = Dataset(tuple(roles["train"].samples[i] for i in picks), name="train sample")
        extra = {"int8_calibration": sample, "int8_crops": args.int8_crops}
    saved = detector.save(args.out, **extra)
    print(f"saved {saved} and {saved.with_suffix('.json')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
