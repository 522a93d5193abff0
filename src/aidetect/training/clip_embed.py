"""Embedding whole datasets with the CLIP encoder, through the content-hash cache.

A broken image is reported and skipped (its row is NaN), never the end of the run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

import numpy as np

from aidetect.clip_encoder import EMBEDDING_DIM, ClipEncoder, EmbeddingCache, content_sha256, image_views
from aidetect.datasets import Dataset
from aidetect.errors import ImageError
from aidetect.io import load_image

Transform = Callable[[np.ndarray], np.ndarray]


def cache_view_name(view: str, transform_name: str | None) -> str:
    """The cache's name for a view of a transformed image (``resized@normalised``)."""
    return f"{view}@{transform_name}" if transform_name else view


def embed_dataset(
    encoder: ClipEncoder,
    dataset: Dataset,
    cache: EmbeddingCache,
    *,
    view: str = "resized",
    transform: Transform | None = None,
    transform_name: str | None = None,
    batch_size: int = 8,
    log: TextIO | None = sys.stderr,
    log_every: int = 200,
) -> np.ndarray:
    """Raw ``(len(dataset), 512)`` embeddings, from the cache where present (NaN rows for unreadable files)."""
    if transform is not None and not transform_name:
        raise ValueError("a transform needs a transform_name, so its embeddings are cached apart")
    key_view = cache_view_name(view, transform_name)
    result = np.full((len(dataset), EMBEDDING_DIM), np.nan, dtype=np.float32)
    pending: list[tuple[int, str, list[np.ndarray]]] = []
    started, computed = time.monotonic(), 0

    def flush() -> None:
        nonlocal computed
        crops = [crop for _, _, views in pending for crop in views]
        embedded = encoder.embed_crops(crops, batch_size=batch_size)
        offset = 0
        for index, digest, views in pending:
            vector = embedded[offset : offset + len(views)].mean(axis=0)
            offset += len(views)
            cache.put(digest, key_view, vector)
            result[index] = vector
        computed += len(pending)
        pending.clear()

    for index, sample in enumerate(dataset.samples):
        try:
            digest = content_sha256(sample.path)
        except OSError as exc:
            _say(log, f"skipping {sample.path}: {exc}")
            continue
        cached = cache.get(digest, key_view)
        if cached is not None:
            result[index] = cached
            continue
        try:
            image = load_image(sample.path)
            pending.append((index, digest, image_views(transform(image) if transform else image, view)))
        except ImageError as exc:
            _say(log, f"skipping {sample.path}: {exc}")
            continue
        if len(pending) >= batch_size:
            flush()
            if computed % log_every < batch_size:
                rate = computed / max(time.monotonic() - started, 1e-9)
                _say(log, f"{key_view}: {index + 1}/{len(dataset)} seen, {computed} embedded, {rate:.2f} images/s")
    if pending:
        flush()
    return result


def _say(log: TextIO | None, message: str) -> None:
    if log is not None:
        print(message, file=log, flush=True)


def cached_embeddings(dataset: Dataset, cache: EmbeddingCache, *, view: str = "resized",
                      transform_name: str | None = None) -> np.ndarray:
    """``(len(dataset), 512)`` embeddings read from the cache only (NaN rows where absent)."""
    key_view = cache_view_name(view, transform_name)
    result = np.full((len(dataset), EMBEDDING_DIM), np.nan, dtype=np.float32)
    for index, sample in enumerate(dataset.samples):
        found = cache.get(content_sha256(sample.path), key_view)
        if found is not None:
            result[index] = found
    return result
