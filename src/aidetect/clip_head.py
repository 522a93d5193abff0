"""The small classifier on top of CLIP embeddings, as plain numpy arrays.

A head is a standardisation (``mean``, ``scale`` of the L2-normalised
embedding) followed by one dense layer (logistic regression) or two with a
ReLU between them (a one-hidden-layer MLP). It is stored as an ``.npz`` of
arrays (``mean``, ``scale``, ``W0``, ``b0``[, ``W1``, ``b1``]) and read with
``allow_pickle=False``: no pickle, no scikit-learn needed to predict.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aidetect.clip_encoder import EMBEDDING_DIM, l2_normalise
from aidetect.errors import WeightsError


@dataclass(frozen=True)
class ClipHead:
    """``logits(embeddings)``: one raw score per raw 512-d embedding; higher = more likely AI."""

    mean: np.ndarray
    scale: np.ndarray
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.layers) <= 2:
            raise WeightsError(f"a CLIP head has one or two layers, got {len(self.layers)}")
        if self.mean.shape != (EMBEDDING_DIM,) or self.scale.shape != (EMBEDDING_DIM,):
            raise WeightsError(f"head standardisation must have shape ({EMBEDDING_DIM},)")
        width = EMBEDDING_DIM
        for weights, bias in self.layers:
            if weights.ndim != 2 or weights.shape[0] != width or bias.shape != (weights.shape[1],):
                raise WeightsError(f"head layer shapes {weights.shape}/{bias.shape} do not chain from {width}")
            width = weights.shape[1]
        if width != 1:
            raise WeightsError(f"a CLIP head ends in one output, this one in {width}")

    @property
    def kind(self) -> str:
        return "logistic" if len(self.layers) == 1 else "mlp"

    def logits(self, embeddings: np.ndarray) -> np.ndarray:
        hidden = (l2_normalise(np.atleast_2d(embeddings)) - self.mean) / self.scale
        for index, (weights, bias) in enumerate(self.layers):
            hidden = hidden @ weights + bias
            if index < len(self.layers) - 1:
                hidden = np.maximum(hidden, 0.0)
        result: np.ndarray = hidden[:, 0].astype(np.float64)
        return result

    def save(self, path: str | os.PathLike[str]) -> Path:
        path = Path(path)
        arrays = {"mean": self.mean, "scale": self.scale}
        for index, (weights, bias) in enumerate(self.layers):
            arrays[f"W{index}"], arrays[f"b{index}"] = weights, bias
        with path.open("wb") as handle:  # a file handle: np.savez would append ".npz" to a bare name
            np.savez(handle, **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClipHead:
        try:
            with np.load(path, allow_pickle=False) as data:
                count = sum(1 for key in data.files if key.startswith("W"))
                layers = tuple((data[f"W{i}"], data[f"b{i}"]) for i in range(count))
                return cls(data["mean"], data["scale"], layers)
        except (OSError, KeyError, ValueError) as exc:
            raise WeightsError(f"{path}: not a CLIP head file ({exc})") from exc
