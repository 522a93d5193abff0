"""Train / validation / test splits for ``aidetect train`` and ``aidetect tune``, and their record on disk."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aidetect.cli._common import dataset_location

if TYPE_CHECKING:
    from aidetect.datasets import Dataset


def training_splits(
    location: str | os.PathLike[str] | Dataset, *, val_split: str | None = None, seed: int = 0
) -> tuple[Dataset, Dataset, Dataset | None]:
    """Train / val / test for ``aidetect train`` and ``aidetect tune``.

    A manifest with a ``split`` column gives its ``train`` split and its
    ``val_split`` (default ``val``); without a val split, 10% of train is
    split off. Anything else is split 80/10/10 by label and generator.
    ``location`` may also be a `Dataset` already loaded.
    """
    from aidetect.datasets import Dataset, load_dataset, split_dataset

    dataset = location if isinstance(location, Dataset) else load_dataset(dataset_location(location))
    named = {sample.split for sample in dataset.samples} - {None}
    if not named:
        return split_dataset(dataset, val=0.1, test=0.1, seed=seed)
    train = dataset.split_named("train")
    test = dataset.split_named("test") if "test" in named else None
    if val_split is None and "val" not in named:
        train, val, _ = split_dataset(train, val=0.1, test=0.0, seed=seed)
        return train, val, test
    return train, dataset.split_named(val_split or "val"), test


def write_split_manifest(path: Path, splits: Mapping[str, Dataset]) -> Path:
    """Record which image went to which split (``path,label,generator,split``), to evaluate on test later."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["path", "label", "generator", "split"])
        for name, dataset in splits.items():
            for sample in dataset.samples:
                label = "fake" if sample.label == 1 else "real"
                writer.writerow([sample.path.resolve(), label, sample.generator or "", name])
    return path
