"""Train a bundled neural detector on mixed-v1 + photoreal-v1 with whole sources held out.

How the bundled ``efficientnet`` and ``cnn`` weights are made (stage 1: the network):

    python benchmarks/train_bundled.py efficientnet --work /tmp/aidetect-train/efficientnet

* Data: every dataset given with ``--data`` (default: ../shared mixed-v1 and photoreal-v1); their
  ``test`` splits are never read.
* Whole sources held out (``hold_out_sources``, 15% of each class of each set, seeded): none of
  their images is trained on; their train+val images choose the calibration and the default
  threshold, their test images report false positives on sources the model never saw.
* Sampling: each class half of every epoch, sources weighted by the square root of their size.
* Augmentation: random rescaling 0.25x-2x with six filters, a simulated social-media pipeline,
  random JPEG, crops, flips, colour jitter (``aidetect.training.augment``).

Writes ``splits.csv`` (path, label, source, role), ``architecture.txt``, ``best.pt``/``last.pt``
and ``history.json`` to ``--work``. ``--arch efficientnet-lite1 --crop-size 224`` trains another
candidate with the same data, sampling and augmentation (``select_efficientnet.py`` compares them).
Stage 2 (calibration, ONNX, int8, model card) is ``benchmarks/bundle_trained.py``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import torch

from aidetect import load
from aidetect.datasets import Dataset, concat_datasets, hold_out_sources, load_dataset
from aidetect.detectors.architectures import EFFICIENTNET_LITE_VARIANTS, build_efficientnet_lite
from aidetect.training.augment import AugmentConfig
from aidetect.training.loop import TrainConfig, train

SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"
DEFAULT_DATA = [SHARED / "mixed-v1" / "manifest.csv", SHARED / "photoreal-v1" / "manifest.csv"]
RECIPES = {
    "efficientnet": {"lr": 5e-4, "weight_decay": 1e-2, "crop_size": 160, "epochs": 8},
    "cnn": {"lr": 2e-3, "weight_decay": 1e-4, "crop_size": 128, "epochs": 16},
}


def training_roles(datasets: list[Dataset], *, hold_out: float, seed: int) -> dict[str, Dataset]:
    """train / val / calibration (held-out sources, non-test) / test, per the docstring above."""
    kept_parts, held_parts = [], []
    for dataset in datasets:
        kept, held = hold_out_sources(dataset, fraction=hold_out, seed=seed)
        kept_parts.append(kept)
        held_parts.append(held)
    kept = concat_datasets(kept_parts, name="kept")
    held = concat_datasets(held_parts, name="held-out-sources")
    return {
        "train": kept.where(lambda s: s.split == "train"),
        "val": kept.where(lambda s: s.split == "val"),
        "calibration": held.where(lambda s: s.split != "test"),
        "test": concat_datasets(datasets).where(lambda s: s.split == "test"),
        "test_heldout": held.where(lambda s: s.split == "test"),
    }


def write_roles(path: Path, roles: dict[str, Dataset]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "generator", "source", "split", "role"])
        for role, dataset in roles.items():
            for sample in dataset.samples:
                writer.writerow([sample.path, sample.label, sample.generator, sample.source, sample.split, role])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", choices=sorted(RECIPES))
    parser.add_argument("--data", action="append", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--hold-out", type=float, default=0.15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--resume", type=Path)
    parser.add_argument("--arch", choices=EFFICIENTNET_LITE_VARIANTS,
                        help="efficientnet only: the EfficientNet-Lite size (default: the bundled card's)")
    parser.add_argument("--crop-size", type=int, help="training and validation crop size (default: the recipe's)")
    args = parser.parse_args(argv)
    recipe = RECIPES[args.name]
    datasets = [load_dataset(path) for path in (args.data or DEFAULT_DATA)]
    roles = training_roles(datasets, hold_out=args.hold_out, seed=args.seed)
    args.work.mkdir(parents=True, exist_ok=True)
    write_roles(args.work / "splits.csv", roles)
    for role, dataset in roles.items():
        print(f"{role}: {dataset!r}, {len(set(dataset.sources))} sources", flush=True)
    # The early-stopping set mixes seen sources' val split with unseen sources, so that the
    # epoch chosen is the one that generalises, not the one that memorises the sources.
    val = concat_datasets([roles["val"], roles["calibration"]], name="val+held-out")
    config = TrainConfig(
        epochs=recipe["epochs"] if args.epochs is None else args.epochs, batch_size=32, lr=recipe["lr"],
        weight_decay=recipe["weight_decay"], balance="source", seed=args.seed, num_workers=1,
        threads=args.threads, patience=3,
        augment=AugmentConfig(crop_size=args.crop_size or recipe["crop_size"]),
    )
    torch.manual_seed(args.seed)
    network = build_efficientnet_lite(args.arch) if args.arch else load(args.name).build_network()
    (args.work / "architecture.txt").write_text(args.arch or load(args.name).card_.architecture)
    result = train(network, roles["train"], val, config, args.work, resume=args.resume)
    print(f"best epoch {result.best_epoch + 1}, score {result.best_score:.4f}, {result.seconds:.0f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
