"""A fitted combination of detectors (stacking), as data: what the ``stacked`` detector serves.

Each member's raw score (its logit or SVM margin, `decision_function`) is
z-scored with the mean and standard deviation it had on the fitting data, the
z-scores are combined by a logistic regression fitted on validation data with
whole sources held out, and the result is calibrated. The optional cascade
scores every image with the cheap member first and consults the others only
when the cheap member's calibrated score falls inside an uncertainty band
chosen on validation.

All of it lives in one JSON model card (``aidetect/models/stacked.json``):
member names and versions (their weights' sha256), z-score statistics,
weights, calibration, thresholds and cascade bands. Fitting lives in
`aidetect.training.stacking`; nothing here needs scikit-learn.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aidetect.calibration import calibrator_from_dict
from aidetect.errors import WeightsError


@dataclass(frozen=True)
class StackedModel:
    """Weights over z-scored member logits, a calibration, and the decision facts."""

    members: tuple[str, ...]
    mean: np.ndarray
    std: np.ndarray
    coef: np.ndarray
    intercept: float
    calibration: dict[str, Any]
    threshold: float = 0.5
    fpr_thresholds: dict[float, float] = field(default_factory=dict)
    member_versions: dict[str, dict[str, Any]] = field(default_factory=dict)
    cascade: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        shapes = {len(self.members), self.mean.shape[0], self.std.shape[0], self.coef.shape[0]}
        if len(shapes) != 1 or not self.members:
            raise WeightsError(f"stacked model: members, mean, std and coef need one entry per member, got {shapes}")

    def raw(self, member_raw: np.ndarray) -> np.ndarray:
        """The stacked logit of ``(n, members)`` member raw scores."""
        z = (np.asarray(member_raw, dtype=np.float64) - self.mean) / self.std
        result: np.ndarray = z @ self.coef + self.intercept
        return result

    def probability(self, member_raw: np.ndarray) -> np.ndarray:
        return calibrator_from_dict(self.calibration).transform(self.raw(member_raw))

    # -- the card ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "name": "stacked",
            "architecture": "logistic regression on z-scored member logits, calibrated",
            "members": [
                {"name": name, "mean": float(m), "std": float(s), "weight": float(w),
                 "version": self.member_versions.get(name, {})}
                for name, m, s, w in zip(self.members, self.mean, self.std, self.coef, strict=True)
            ],
            "intercept": self.intercept,
            "calibration": self.calibration,
            "threshold": self.threshold,
            "fpr_thresholds": {f"{k:g}": v for k, v in sorted(self.fpr_thresholds.items())},
            "cascade": self.cascade,
            **self.info,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackedModel:
        try:
            members = data["members"]
            known = {"name", "architecture", "members", "intercept", "calibration", "threshold", "fpr_thresholds",
                     "cascade"}
            return cls(
                members=tuple(m["name"] for m in members),
                mean=np.array([float(m["mean"]) for m in members]),
                std=np.array([float(m["std"]) for m in members]),
                coef=np.array([float(m["weight"]) for m in members]),
                intercept=float(data["intercept"]),
                calibration=dict(data["calibration"]),
                threshold=float(data.get("threshold", 0.5)),
                fpr_thresholds={float(k): float(v) for k, v in (data.get("fpr_thresholds") or {}).items()},
                member_versions={m["name"]: dict(m.get("version") or {}) for m in members},
                cascade=dict(data.get("cascade") or {}),
                info={k: v for k, v in data.items() if k not in known},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"malformed stacked-ensemble card ({exc!r})") from exc

    def write(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> StackedModel:
        try:
            return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError) as exc:
            raise WeightsError(f"{path}: cannot read the stacked-ensemble card ({exc})") from exc


def member_version(detector: Any) -> dict[str, Any]:
    """What identifies a member's raw scores: its weights' sha256 (and the CLIP encoder's) and its crop policy.

    The crop policy counts because the same weights judged on other crops give other logits (a card
    may change its input size without touching the weights file).
    """
    card = getattr(detector, "card_", None)
    version: dict[str, Any] = {}
    if card is not None and hasattr(card, "sha256"):
        version["sha256"] = card.sha256
        if hasattr(card, "input_size"):
            version["crop_policy"] = {"input_size": card.input_size, "max_tiles_per_side": card.max_tiles_per_side}
        encoder = card.info.get("encoder", {}).get("sha256") if hasattr(card, "info") else None
        if encoder:
            version["encoder_sha256"] = encoder
    elif isinstance(card, dict):
        version["sha256"] = (card.get("weights") or {}).get("sha256")
    return version


def in_band(probabilities: np.ndarray, band: tuple[float, float]) -> np.ndarray:
    """Which cheap-member scores are uncertain enough to consult the other members."""
    low, high = band
    return (probabilities >= low) & (probabilities < high)
