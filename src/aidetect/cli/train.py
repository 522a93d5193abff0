"""``aidetect train``: train a detector on labelled data and save its weights with their model card.

Everything is checked before training starts: the detector and its options
(an unknown option or a bad value), that it is `aidetect.Trainable`, the
``--out`` suffix, the data. ``--data`` may be given several times: the sets
are concatenated with their sources prefixed by the set's name
(`aidetect.datasets.concat_datasets`), ``--balance source`` samples every
class and source fairly, and ``--hold-out-sources F`` keeps a share F of each
set's sources (per class) out of training, to validate on sources the model
never saw.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aidetect.cli._common import (
    EXIT_OK,
    Subcommands,
    add_option_argument,
    dataset_location,
    optional_dependencies,
    positive_int,
    say,
)
from aidetect.cli.splits import training_splits, write_split_manifest
from aidetect.errors import DetectorError, InvalidOptionError

if TYPE_CHECKING:
    from aidetect.datasets import Dataset

TRAIN_OPTIONS = ("epochs", "patience", "batch_size", "lr", "seed", "grid", "resume", "config", "balance")
"""``aidetect train`` arguments passed to the detector as options of the same name, when given."""


def add_training_data_arguments(parser: argparse.ArgumentParser) -> None:
    """``--data`` (repeatable), ``--val-split`` and ``--seed``: shared by ``train`` and ``tune``."""
    parser.add_argument("--data", required=True, action="append", metavar="DIR_OR_MANIFEST",
                        help="labelled folder or CSV manifest (a folder's manifest.csv is used when present); "
                             "repeat to train on several sets")
    parser.add_argument("--val-split", metavar="NAME",
                        help="manifest split to validate on (default: 'val' when the manifest has one)")
    parser.add_argument("--seed", type=int, help="random seed (training, and the split of an unsplit folder)")


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


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
    parser.add_argument("--balance", choices=("weights", "sampler", "source"),
                        help="class balancing: loss weights, a class-balanced sampler, or class- and "
                             "source-balanced sampling (neural detectors)")
    parser.add_argument("--hold-out-sources", type=_fraction, metavar="FRACTION",
                        help="keep this share of each set's sources (per class) out of training and validate "
                             "on them together with the validation split")
    add_option_argument(parser)
    return parser


def _given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def trainable_detector(name: str, options: dict[str, Any]) -> Any:
    """The detector ``name`` built with ``options``, refused now unless it is `aidetect.Trainable`."""
    from aidetect.registry import load
    from aidetect.trainable import Trainable

    detector = load(name, **options)
    if not isinstance(detector, Trainable):
        raise DetectorError(f"detector {name!r} cannot be trained")
    return detector


def training_data(locations: Sequence[str], *, val_split: str | None, seed: int,
                  hold_out: float | None) -> tuple[Dataset, Dataset, Dataset | None, bool]:
    """Train / val / test over every ``--data`` set, and whether an unsplit folder was split here."""
    from aidetect.datasets import Dataset, concat_datasets, hold_out_sources, load_dataset

    sets = [load_dataset(dataset_location(location)) for location in locations]
    split_here = any(not any(sample.split for sample in data.samples) for data in sets)
    parts = [training_splits(data, val_split=val_split, seed=seed) for data in sets]
    if len(parts) == 1 and hold_out is None:
        return (*parts[0], split_here)
    joined = "+".join(data.name for data in sets)

    def concat(role: int, suffix: str) -> Dataset | None:
        present = [named for part, data in zip(parts, sets, strict=True)
                   if (named := _named(part[role], data.name)) is not None]
        return concat_datasets(present, name=joined + suffix) if present else None

    train, val, test = concat(0, ""), concat(1, " val"), concat(2, " test")
    assert train is not None and val is not None
    if hold_out is not None:
        train, held = hold_out_sources(train, fraction=hold_out, seed=seed)
        val = Dataset(val.samples + held.samples, name=f"{val.name} + held-out sources")
    return train, val, test, split_here


def _named(data: Dataset | None, name: str) -> Dataset | None:
    from dataclasses import replace

    return None if data is None else replace(data, name=name)


def _weights_path(detector: Any, out: Path) -> Path:
    """Where the weights will go; a `TrainableDetector` refuses a suffix its save() cannot honour, now."""
    from aidetect.trainable import TrainableDetector

    return detector.weights_path(out) if isinstance(detector, TrainableDetector) else out


def _log_keyword(fit: Any) -> dict[str, Any]:
    """``{"log": say}`` for a `fit` that takes the optional ``log`` keyword of the `Trainable` contract."""
    import inspect

    try:
        return {"log": say} if "log" in inspect.signature(fit).parameters else {}
    except (TypeError, ValueError):
        return {}


def run(args: argparse.Namespace) -> int:
    options = {**_given(args, TRAIN_OPTIONS), **dict(args.option)}
    with optional_dependencies(args.name):
        detector = trainable_detector(args.name, options)
    out = _weights_path(detector, args.out)
    seed = args.seed or 0
    train, val, test, split_here = training_data(args.data, val_split=args.val_split, seed=seed,
                                                 hold_out=args.hold_out_sources)
    if len(train) == 0 or len(val) == 0:
        raise InvalidOptionError(f"nothing to train on: {len(train)} training and {len(val)} validation images")
    if test is not None and split_here:
        manifest = write_split_manifest(args.out.with_suffix(".splits.csv"), {"train": train, "val": val,
                                                                             "test": test})
        say(f"split {', '.join(args.data)} 80/10/10 (train/val/test); the split is in {manifest}, "
            "evaluate on its test split with 'aidetect evaluate MANIFEST --split test'")
    say(f"training {args.name} on {len(train)} images ({train.name}), validating on {len(val)}")
    with optional_dependencies(args.name):
        detector.fit(train, val=val, **_log_keyword(detector.fit))
        saved = detector.save(out)
    say(f"saved {saved}")
    return EXIT_OK
