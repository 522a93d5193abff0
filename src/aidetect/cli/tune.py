"""``aidetect tune``: search a trainable detector's hyper-parameters with Optuna."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path

from aidetect.cli._common import EXIT_OK, Subcommands, optional_dependencies, positive_int, say
from aidetect.cli.splits import training_splits
from aidetect.cli.train import add_training_data_arguments


def add_parser(subcommands: Subcommands) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subcommands.add_parser(
        "tune", help="search hyper-parameters (Optuna, Hyperband pruning)")
    parser.add_argument("name", metavar="NAME", help="detector to tune (cnn)")
    add_training_data_arguments(parser)
    parser.add_argument("--trials", type=positive_int, default=20, help="configurations to try (default: 20)")
    parser.add_argument("--out", type=Path, default=Path("best.json"), metavar="JSON",
                        help="where to write the best configuration (default: best.json)")
    return parser


def run(args: argparse.Namespace) -> int:
    train, val, _ = training_splits(args.data, val_split=args.val_split, seed=args.seed or 0)
    with optional_dependencies(args.name):
        from aidetect.training.tune import tune

        result = tune(args.name, train, val, trials=args.trials, out=args.out, seed=args.seed or 0)
    best = result.get("best_value") if isinstance(result, Mapping) else None
    score = f" (validation score {best:.4f})" if isinstance(best, float) else ""
    say(f"best configuration written to {args.out}{score}")
    return EXIT_OK
