"""``ensemble``: combine any registered detectors into one.

``method="mean"`` averages the members' calibrated scores, ``"weighted"``
takes a weighted mean (``weights``), and ``"vote"`` (the founding reports'
majority vote) scores an image by the share of members that call it AI at
their own thresholds. Each image is decoded once and handed to every member.

By default the members are the built-in detectors that are installed. With
fewer than two of them (the core install has only ``efficientnet``) the
ensemble refuses, naming what to install, rather than quietly being one
detector; with some missing it warns once. Every prediction lists the
members it combined (`Prediction.members`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from aidetect.detector import BaseDetector, _ScoredImage
from aidetect.errors import DetectorError
from aidetect.hookspecs import hookimpl
from aidetect.io import ImageInput

DEFAULT_MEMBERS = ("efficientnet", "cnn", "forensic-svm")
METHODS = ("mean", "weighted", "vote")
MIN_DEFAULT_MEMBERS = 2
"""Fewer installed default members than this and the default ensemble refuses: one detector is no ensemble."""

_warned_missing: set[tuple[str, ...]] = set()


class EnsembleDetector(BaseDetector):
    """Several detectors judged together.

    ``members``: detector names (loaded with `aidetect.load`) or detector
    objects. By default, every built-in detector whose packages and weights are
    installed.
    """

    name: ClassVar[str] = "ensemble"

    def __init__(
        self,
        members: Sequence[str | Any] | None = None,
        *,
        method: str = "mean",
        weights: Sequence[float] | None = None,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(threshold=threshold, target_fpr=target_fpr, uncertain_band=uncertain_band)
        self.members = members
        self.method = method
        self.weights = weights

    @property
    def members_(self) -> list[Any]:
        """The member detectors, loaded on first use."""
        self._ensure_loaded()
        return self._members

    def _is_loaded(self) -> bool:
        return getattr(self, "_members", None) is not None

    def _load(self) -> None:
        self._members = self._load_members()

    def _load_members(self) -> list[Any]:
        from aidetect.registry import get_registry

        if self.method not in METHODS:
            raise DetectorError(f"ensemble method must be one of {', '.join(METHODS)}, got {self.method!r}")
        registry = get_registry()
        names = default_members(registry) if self.members is None else list(self.members)
        if not names:
            raise DetectorError("ensemble has no members: install a detector's extra or pass members=[...]")
        if self.method == "weighted" and (self.weights is None or len(self.weights) != len(names)):
            raise DetectorError("method='weighted' needs one weight per member")
        return [registry.load(member) if isinstance(member, str) else member for member in names]

    def _member_names(self) -> tuple[str, ...]:
        return tuple(str(getattr(member, "name", type(member).__name__)) for member in self.members_)

    def _score_sources(self, sources: list[ImageInput], batch_size: int) -> list[_ScoredImage]:
        arrays = [self.load(source) for source in sources]
        member_predictions = [member.predict_batch(arrays, batch_size=batch_size) for member in self.members_]
        if self.method == "vote":
            table = np.array([[p.is_ai for p in predictions] for predictions in member_predictions], dtype=float)
            combined = table.mean(axis=0)
        else:
            table = np.array([[p.score for p in predictions] for predictions in member_predictions])
            weights = np.asarray(self.weights if self.method == "weighted" else np.ones(len(table)), dtype=float)
            combined = weights @ table / weights.sum()
        members = self._member_names()
        return [_ScoredImage(float(score), tuple(float(s) for s in table[:, i]), members)
                for i, score in enumerate(combined)]

    def decision_function(self, images: Iterable[ImageInput], batch_size: int = 32) -> np.ndarray:
        """The combined score (already a probability for mean/weighted, a vote share for vote)."""
        return np.array([item.score for item in self._score_sources(list(images), batch_size)])


def default_members(registry: Any) -> list[str]:
    """The `DEFAULT_MEMBERS` installed with their weights; refuses (with what to install) below two, warns once."""
    usable = [n for n in DEFAULT_MEMBERS if not registry.get(n).missing() and registry.get(n).has_weights()]
    absent = [n for n in DEFAULT_MEMBERS if n not in usable]
    hint = "; ".join(_install_hint(registry.get(name)) for name in absent)
    if len(usable) < MIN_DEFAULT_MEMBERS:
        raise DetectorError(
            f"the default ensemble combines {', '.join(DEFAULT_MEMBERS)}, but only {', '.join(usable) or 'none'} "
            f"can run here: {hint}; or pass members=[...] (-o members=...) explicitly"
        )
    if absent and tuple(absent) not in _warned_missing:
        _warned_missing.add(tuple(absent))
        warnings.warn(f"ensemble runs with {', '.join(usable)} only: {hint}", stacklevel=2)
    return usable


def _install_hint(info: Any) -> str:
    missing = info.missing()
    if missing:
        package = f"'aidetect-images[{info.extra}]'" if info.extra else " ".join(missing)
        return f"{info.name} needs pip install {package}"
    return f"{info.name} has no weights"


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "ensemble",
        EnsembleDetector,
        description="Mean, weighted mean or majority vote of other detectors' calibrated scores",
        backend="ensemble",
        aliases=["vote"],
    )
