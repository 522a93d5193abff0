"""forensic-svm's hyper-parameter grid, as ``aidetect train --grid`` and the ``grid=`` option give it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aidetect.errors import InvalidOptionError

GRID_KEYS = ("C", "gamma", "kernel")


def parse_grid(text: str | Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]] | None:
    """``"C=1,10;gamma=scale,0.01;kernel=rbf"`` -> ``{"C": [1.0, 10.0], "gamma": ["scale", 0.01], ...}``.

    Raises `aidetect.errors.InvalidOptionError` (a ValueError) for anything else.
    """
    if text is None:
        return None
    if isinstance(text, Mapping):
        unknown = sorted(set(text) - set(GRID_KEYS))
        if unknown:
            raise InvalidOptionError(f"bad grid entry {unknown}; the grid searches {list(GRID_KEYS)}")
        return {k: list(v) for k, v in text.items()}
    grid: dict[str, list[Any]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or key not in GRID_KEYS or not values.strip():
            raise InvalidOptionError(f"bad grid entry {part!r}; expected e.g. 'C=1,10;gamma=scale,0.01;kernel=rbf'")
        grid[key] = [_grid_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid or None


def _grid_value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text
