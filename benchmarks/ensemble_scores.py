"""Member raw scores for ``fit_ensemble.py``, cached on disk per member version.

A file ``<member>-<version>[-normalised].json`` maps image paths to raw scores, so refitting the
ensemble after one member is retrained scores only that member again. With an embedding cache from
``embed_clip.py``, the ``clip`` member's scores come from cached embeddings through its head (the same
numbers its ``decision_function`` gives, without running the encoder again).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from aidetect.clip_encoder import EmbeddingCache
from aidetect.datasets import Dataset, Sample
from aidetect.io import load_image
from aidetect.preprocess import normalise_format
from aidetect.stacking import member_version
from aidetect.training.clip_embed import cached_embeddings

BATCH = 16


class MemberScores:
    def __init__(self, folder: Path, members: dict[str, Any], *, clip_cache: Path | None = None) -> None:
        self.folder, self.members, self.clip_cache = folder, members, clip_cache
        folder.mkdir(parents=True, exist_ok=True)

    def decoded(self, path: Path, normalised: bool = False) -> np.ndarray:
        image = load_image(path)
        return normalise_format(image) if normalised else image

    def _file(self, name: str, normalised: bool) -> Path:
        version = member_version(self.members[name])
        tag = (version.get("sha256") or "unversioned")[:12]
        if policy := version.get("crop_policy"):  # the same weights judged on other crops give other scores
            tag += f"-{policy['input_size']}x{policy['max_tiles_per_side']}"
        return self.folder / f"{name}-{tag}{'-normalised' if normalised else ''}.json"

    def raw(self, name: str, dataset: Dataset, *, normalised: bool = False) -> np.ndarray:
        file = self._file(name, normalised)
        known: dict[str, float] = json.loads(file.read_text()) if file.exists() else {}
        missing = [s.path for s in dataset.samples if str(s.path) not in known]
        if missing:
            print(f"scoring {len(missing)} images with {name}{' (normalised)' if normalised else ''}", flush=True)
            for start in range(0, len(missing), BATCH):
                paths = missing[start : start + BATCH]
                known.update(zip(map(str, paths), self._compute(name, paths, normalised), strict=True))
                file.write_text(json.dumps(known))
        return np.array([known[str(s.path)] for s in dataset.samples], dtype=np.float64)

    def _compute(self, name: str, paths: list[Path], normalised: bool) -> list[float]:
        detector = self.members[name]
        if name == "clip" and self.clip_cache is not None:
            from_cache = self._clip_from_cache(detector, paths, normalised)
            if from_cache is not None:
                return from_cache
        arrays = [self.decoded(p, normalised) for p in paths]
        return [float(v) for v in detector.decision_function(arrays, batch_size=BATCH)]

    def _clip_from_cache(self, detector: Any, paths: list[Path], normalised: bool) -> list[float] | None:
        cache = EmbeddingCache(self.clip_cache, detector.encoder_sha256_)
        subset = Dataset(tuple(Sample(Path(p), 0) for p in paths))
        views = [cached_embeddings(subset, cache, view=v, transform_name="normalised" if normalised else None)
                 for v in detector.active_views()]
        if not all(np.isfinite(v).all() for v in views):
            return None
        return [float(x) for x in np.mean([detector.head_.logits(v) for v in views], axis=0)]


def score_table(scores: MemberScores, names: list[str], dataset: Dataset, *, normalised: bool = False) -> np.ndarray:
    """``(len(dataset), len(names))`` raw member scores."""
    table = np.column_stack([scores.raw(n, dataset, normalised=normalised) for n in names])
    if not np.isfinite(table).all():
        raise ValueError("some member scores are not finite")
    return table
