"""What a model card says about the data a model was trained on: every dataset, its size and classes."""

from __future__ import annotations

from collections import Counter
from typing import Any

from aidetect.datasets import Dataset


def dataset_names(data: Dataset) -> list[str]:
    """The datasets ``data`` was made of: from its ``name:source`` prefixes after `concat_datasets`, else its name."""
    prefixes = {source.partition(":")[0] for source in data.sources if ":" in source}
    return sorted(prefixes) if prefixes else [data.name]


def data_summary(train: Dataset, val: Dataset) -> dict[str, Any]:
    """Per dataset (name, with its version, e.g. ``mixed-v1``): training and validation images per class."""
    names = dataset_names(train)
    rows = []
    for name in names:
        def of(data: Dataset, name: str = name) -> Dataset:
            return data if len(names) == 1 else data.where(lambda s: (s.source or "").startswith(f"{name}:"))

        rows.append({"name": name, "train": _counts(of(train)), "val": _counts(of(val))})
    return {"data": train.name, "datasets": rows, "n_train": len(train), "n_val": len(val)}


def _counts(data: Dataset) -> dict[str, int]:
    counts = Counter("real" if label == 0 else "ai" for label in data.labels.tolist())
    return {"real": counts.get("real", 0), "ai": counts.get("ai", 0)}
