"""The CLIP ViT-B/16 image tower on ONNX Runtime: views, embeddings, and their cache.

The encoder is a frozen feature extractor: an image becomes one or more
224 px views, each view a 512-d ``image_embeds`` vector. Two kinds of view:

``resized``
    CLIP's own preprocessing: shorter side resized to 224 (bicubic), centre crop.
    It sees the whole picture (semantics), which is what CLIP was trained on.
``native``
    Native-resolution 224 px tiles (`aidetect.preprocess.tile_crops`, at most
    2x2), no resampling of pixels that are large enough.

Embeddings are cached on disk by the sha256 of the image file's bytes, the
view and the encoder's sha256, so retraining a head on the same images costs
no encoder passes. Only numpy, Pillow and onnxruntime are needed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from aidetect.errors import WeightsError
from aidetect.preprocess import Normalisation, center_crop, resize_short_side, tile_crops, to_nchw_float

INPUT_SIZE = 224
EMBEDDING_DIM = 512
INPUT_NAME = "pixel_values"
OUTPUT_NAME = "image_embeds"
CLIP_NORMALISATION = Normalisation(
    mean=(0.48145466, 0.4578275, 0.40821073), std=(0.26862954, 0.26130258, 0.27577711)
)
VIEWS = ("resized", "native")
MAX_NATIVE_TILES_PER_SIDE = 2


def resized_view(image: np.ndarray) -> np.ndarray:
    """CLIP's preprocessing: shorter side to 224 px (bicubic), then the centre 224 x 224."""
    return center_crop(resize_short_side(image, INPUT_SIZE), INPUT_SIZE)


def native_views(image: np.ndarray) -> list[np.ndarray]:
    """Native-resolution 224 px tiles (one for a 256 px image, up to 2x2 for large ones)."""
    return tile_crops(image, INPUT_SIZE, MAX_NATIVE_TILES_PER_SIDE)


def image_views(image: np.ndarray, view: str) -> list[np.ndarray]:
    """The 224 px crops of ``image`` for ``view`` (see the module docstring)."""
    if view == "resized":
        return [resized_view(image)]
    if view == "native":
        return native_views(image)
    raise ValueError(f"unknown CLIP view {view!r}; choose from {', '.join(VIEWS)}")


def l2_normalise(embeddings: np.ndarray) -> np.ndarray:
    """Unit-length rows (CLIP compares embeddings by cosine)."""
    embeddings = np.asarray(embeddings, dtype=np.float32)
    result: np.ndarray = embeddings / np.maximum(np.linalg.norm(embeddings, axis=-1, keepdims=True), 1e-12)
    return result


class ClipEncoder:
    """An ONNX Runtime session over the CLIP image tower (``pixel_values`` -> ``image_embeds``).

    ``threads``: intra-op threads (default: ``OMP_NUM_THREADS`` if set, else all cores).
    ``InferenceSession.run`` is thread-safe, so one encoder may serve several threads.
    """

    def __init__(self, path: str | os.PathLike[str], *, threads: int | None = None) -> None:
        from aidetect.onnx_session import make_session

        self.path = Path(path)
        self.session = make_session(self.path, threads)
        check_interface(self.session, str(self.path))

    def embed_crops(self, crops: Sequence[np.ndarray], batch_size: int = 8) -> np.ndarray:
        """Raw (unnormalised) ``(len(crops), 512)`` embeddings of 224 x 224 RGB crops."""
        if not crops:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        parts = [
            self.session.run([OUTPUT_NAME], {INPUT_NAME: to_nchw_float(crops[i : i + batch_size], CLIP_NORMALISATION)})
            for i in range(0, len(crops), batch_size)
        ]
        parts = [part[0] for part in parts]
        return np.concatenate(parts).astype(np.float32)

    def embed_image(self, image: np.ndarray, view: str = "resized") -> np.ndarray:
        """The mean raw embedding of ``image``'s crops for ``view``: shape ``(512,)``."""
        result: np.ndarray = self.embed_crops(image_views(image, view)).mean(axis=0)
        return result


def check_interface(session: Any, name: str) -> None:
    """Raise `WeightsError` unless the graph takes ``pixel_values`` [N,3,224,224] and gives ``image_embeds`` [N,512]."""
    inputs = {item.name: item.shape for item in session.get_inputs()}
    outputs = {item.name: item.shape for item in session.get_outputs()}
    if INPUT_NAME not in inputs or OUTPUT_NAME not in outputs:
        raise WeightsError(
            f"{name}: not a CLIP image encoder: need input {INPUT_NAME!r} and output {OUTPUT_NAME!r}, "
            f"found inputs {sorted(inputs)} and outputs {sorted(outputs)}"
        )
    if list(inputs[INPUT_NAME])[1:] != [3, INPUT_SIZE, INPUT_SIZE]:
        raise WeightsError(
            f"{name}: input {INPUT_NAME!r} has shape {inputs[INPUT_NAME]}, expected [batch, 3, 224, 224]"
        )
    if list(outputs[OUTPUT_NAME])[1:] != [EMBEDDING_DIM]:
        raise WeightsError(f"{name}: output {OUTPUT_NAME!r} has shape {outputs[OUTPUT_NAME]}, expected [batch, 512]")


class EmbeddingCache:
    """Embeddings on disk, one ``.npy`` per (encoder, view, file content).

    The key is the sha256 of the file's bytes, so a renamed or copied image
    hits the cache and an edited one misses it.
    """

    def __init__(self, root: str | os.PathLike[str], encoder_sha256: str) -> None:
        self.root = Path(root) / encoder_sha256[:16]

    def _path(self, content_sha256: str, view: str) -> Path:
        return self.root / view / content_sha256[:2] / f"{content_sha256}.npy"

    def get(self, content_sha256: str, view: str) -> np.ndarray | None:
        path = self._path(content_sha256, view)
        try:
            result: np.ndarray | None = np.load(path, allow_pickle=False)
            return result
        except (OSError, ValueError):
            return None

    def put(self, content_sha256: str, view: str, embedding: np.ndarray) -> None:
        path = self._path(content_sha256, view)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp.npy")
        np.save(temporary, np.asarray(embedding, dtype=np.float32), allow_pickle=False)
        os.replace(temporary, path)


def content_sha256(path: str | os.PathLike[str]) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
