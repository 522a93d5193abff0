"""``aidetect train``: train a detector on labelled data and save its weights with their model card."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aidetect.cli._common import (
    EXIT_OK,
    Subcommands,
    add_option_argument,
    capability,
    optional_dependencies,
    positive_int,
    say,
)
from aidetect.cli.splits import training_splits, write_split_manifest

TRAIN_OPTIONS = ("epochs", "patience", "batch_size", "lr", "seed", "grid", "resume", "config")
"""``aidetect train`` arguments passed to the detector as options of the same name, when given."""


def add_training_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data``, ``--val-split`` and ``--seed``: shared by ``train`` and ``tune``."""
    parser.add_argument("--data", required=True, metavar="DIR_OR_MANIFEST",
                        help="labelled folder or CSV manifest (a folder's manifest.csv is used when present)")
    parser.add_argument("--val-split", metavar="NAME",
                        help="manifest split to validate on (default: 'val' when the manifest has one)")
    parser.add_argument("--seed", type=int, help="random seed (training, and the split of an unsplit folder)")


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "train", help="train a detector and save its weights and model card")
    parser.add_argument("name", metavar="NAME", help="detector to train (cnn, efficientnet, forensic-svm, ...)")
    add_training_data_arguments(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="PATH", help="where to save the weights")
    parser.add_argument("--epochs", type=positive_int)
    parser.add_argument("--patience", type=positive_int,
                        help="stop after this many epochs without a better validation AUC (neural detectors)")
    parser.add_argument("--batch-size", type=positive_int)
    parser.add_argument("--lr", type=float, help="learning rate")
    parser.add_argument("--grid", metavar="SPEC", help="hyper-parameter grid, e.g. 'C=1,10;gamma=scale,0.01'")
    parser.add_argument("--resume", metavar="CKPT", help="continue from this training checkpoint")
    parser.add_argument("--config", metavar="JSON", help="architecture/training config (from 'aidetect tune')")
    add_option_argument(parser)
    return parser


def _given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _log_keyword(function: Callable[..., Any]) -> dict[str, Any]:
    """``{"log": ...}`` for a `fit` that reports progress through a ``log`` callable, else nothing."""
    try:
        accepts_log = "log" in inspect.signature(function).parameters
    except (TypeError, ValueError):
        accepts_log = False
    return {"log": say} if accepts_log else {}


def run(args: argparse.Namespace) -> int:
    from aidetect.registry import load

    train, val, test = training_splits(args.data, val_split=args.val_split, seed=args.seed or 0)
    if test is not None and not any(sample.split for sample in train.samples):
        manifest = write_split_manifest(args.out.with_suffix(".splits.csv"), {"train": train, "val": val,
                                                                             "test": test})
        say(f"split {args.data} 80/10/10 (train/val/test); the split is in {manifest}, "
            "evaluate on its test split with 'aidetect evaluate MANIFEST --split test'")
    detector = load(args.name, **{**_given(args, TRAIN_OPTIONS), **dict(args.option)})
    fit = capability(detector, "fit", args.name, "trained")
    save = capability(detector, "save", args.name, "saved")
    say(f"training {args.name} on {len(train)} images, validating on {len(val)}")
    with optional_dependencies(args.name):
        fit(train, val=val, **_log_keyword(fit))
        saved = save(args.out)
    say(f"saved {saved or args.out}")
    return EXIT_OK
