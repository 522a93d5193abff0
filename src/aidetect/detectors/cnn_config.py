"""The small CNN's architecture knobs, free of torch: `aidetect.detectors.cnn` takes its defaults from here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class CNNConfig:
    """The tunable knobs of `SmallCNN` (the founding reports' search space, at native resolution)."""

    filters: tuple[int, ...] = (24, 48, 96, 192)
    convs_per_block: int = 1
    pooling: str = "max"
    dense_units: int = 128
    dropout: float = 0.3
    residual_stem: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["filters"] = list(self.filters)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CNNConfig:
        fields = {"filters", "convs_per_block", "pooling", "dense_units", "dropout", "residual_stem"}
        known = {k: v for k, v in data.items() if k in fields}
        if "filters" in known:
            known["filters"] = tuple(int(f) for f in known["filters"])
        return cls(**known)
