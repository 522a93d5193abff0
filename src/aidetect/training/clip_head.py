"""Training the `clip` detector's head: candidates, choice on validation, calibration, model card.

The encoder is frozen, so training is: embed every image once (cached by
content hash, `aidetect.training.clip_embed`), fit a few small heads on the
training embeddings (scikit-learn), keep the one with the best ROC-AUC on the
validation embeddings, calibrate its logits on validation and choose the
default threshold there. With cached embeddings this takes seconds.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from aidetect.calibration import Calibrator, fpr_table, make_calibrator
from aidetect.clip_encoder import CLIP_NORMALISATION, EmbeddingCache, l2_normalise
from aidetect.clip_head import ClipHead
from aidetect.clip_weights import installed_manifest
from aidetect.datasets import Dataset, source_sample_weights, split_dataset
from aidetect.errors import DatasetError
from aidetect.metrics import roc_auc
from aidetect.thresholds import threshold_for_source_fpr
from aidetect.training.clip_embed import embed_dataset
from aidetect.weights import ModelCard, cache_dir, sha256_file

if TYPE_CHECKING:
    from aidetect.detectors.clip import ClipDetector

HEAD_CANDIDATES: tuple[dict[str, Any], ...] = (
    {"kind": "logistic", "C": 0.003},
    {"kind": "logistic", "C": 0.01},
    {"kind": "logistic", "C": 0.03},
    {"kind": "logistic", "C": 0.1},
    {"kind": "logistic", "C": 0.3},
    {"kind": "logistic", "C": 1.0},
    {"kind": "mlp", "hidden": 256, "alpha": 1e-2},
    {"kind": "mlp", "hidden": 256, "alpha": 1e-1},
)
"""The heads `fit` chooses from (by validation ROC-AUC); C and alpha are regularisation strengths."""

DEFAULT_FPR = 0.05
"""The default threshold holds the mean over validation real sources of their false-positive rate to 5%."""


def embedding_cache(encoder_sha256: str) -> EmbeddingCache:
    """The user's embedding cache for this encoder: ``<weights cache>/clip-embeddings``."""
    return EmbeddingCache(cache_dir() / "clip-embeddings", encoder_sha256)


def training_weights(dataset: Dataset) -> np.ndarray:
    """Per-image weights with mean 1: each class half the weight, sources by the square root of their size."""
    return source_sample_weights(dataset) * len(dataset)


def fit_head(spec: dict[str, Any], embeddings: np.ndarray, labels: np.ndarray, weights: np.ndarray,
             *, seed: int = 0) -> ClipHead:
    """Fit one candidate head (``spec`` as in `HEAD_CANDIDATES`) on raw embeddings."""
    features = l2_normalise(embeddings)
    mean, scale = features.mean(axis=0), features.std(axis=0) + 1e-6
    standard = (features - mean) / scale
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    if spec["kind"] == "logistic":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=float(spec["C"]), max_iter=3000)
        model.fit(standard, labels, sample_weight=weights)
        layers = ((model.coef_.T.astype(np.float32), model.intercept_.astype(np.float32)),)
    elif spec["kind"] == "mlp":
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(hidden_layer_sizes=(int(spec["hidden"]),), alpha=float(spec["alpha"]),
                              max_iter=100, early_stopping=False, random_state=seed)
        model.fit(standard, labels, sample_weight=weights)
        layers = tuple((w.astype(np.float32), b.astype(np.float32))
                       for w, b in zip(model.coefs_, model.intercepts_, strict=True))
    else:
        raise ValueError(f"unknown head kind {spec['kind']!r} (logistic or mlp)")
    return ClipHead(mean.astype(np.float32), scale.astype(np.float32), layers)


def select_head(
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    selection: tuple[np.ndarray, np.ndarray],
    candidates: Sequence[dict[str, Any]] = HEAD_CANDIDATES,
    *,
    seed: int = 0,
) -> tuple[ClipHead, dict[str, Any], list[dict[str, Any]]]:
    """The candidate with the best ROC-AUC on ``selection``; also every candidate's AUC."""
    results = []
    for spec in candidates:
        head = fit_head(spec, *train, seed=seed)
        results.append((roc_auc(selection[1], head.logits(selection[0])), head, spec))
    best = max(results, key=lambda item: item[0])
    return best[1], dict(best[2]), [{**spec, "selection_auc": auc} for auc, _, spec in results]


def calibrate(logits: np.ndarray, labels: np.ndarray, sources: Sequence[str], method: str = "platt"
              ) -> tuple[Calibrator, float, dict[float, float]]:
    """Calibrator, default threshold (`DEFAULT_FPR` per source) and FPR table, all from ``logits``."""
    calibrator = make_calibrator(method).fit(logits, labels)
    probabilities = calibrator.transform(logits)
    real = labels == 0
    real_sources = [s for s, is_real in zip(sources, real, strict=True) if is_real]
    threshold = threshold_for_source_fpr(probabilities[real], real_sources, DEFAULT_FPR)
    return calibrator, threshold, fpr_table(probabilities[real])


def build_card(head: ClipHead, calibrator: Calibrator, threshold: float, fpr_thresholds: dict[float, float],
               *, encoder_sha256: str, views: Sequence[str], info: dict[str, Any]) -> ModelCard:
    """The model card of a trained head (the weights file and its sha256 are filled in by `save`)."""
    source = (installed_manifest() or {}).get("source", {})
    encoder = {"sha256": encoder_sha256, "source": source, "install": "aidetect weights install clip",
               "input": "pixel_values [batch, 3, 224, 224]", "output": "image_embeds [batch, 512]"}
    return ModelCard(
        name="clip", architecture=f"clip-vit-b16-image-int8 + {head.kind} head", weights_file="",
        sha256="", input_size=224, normalisation=CLIP_NORMALISATION, max_tiles_per_side=2,
        threshold=float(threshold), calibration=calibrator.to_dict(), fpr_thresholds=fpr_thresholds,
        info={"encoder": encoder, "views": list(views), **info},
    )


def dataset_embeddings(detector: ClipDetector, dataset: Dataset, views: Sequence[str],
                       log: TextIO | None) -> np.ndarray:
    """``(len(views), n, 512)`` raw embeddings through the user's cache (NaN rows: unreadable files)."""
    cache = embedding_cache(detector.encoder_sha256_)
    return np.stack([embed_dataset(detector.encoder_, dataset, cache, view=view, log=log) for view in views])


def view_logits(head: ClipHead, embeddings: np.ndarray) -> np.ndarray:
    """Per-image logits averaged over views (embeddings shaped ``(views, n, 512)``)."""
    result: np.ndarray = np.mean([head.logits(view) for view in embeddings], axis=0)
    return result


def fit_clip_detector(detector: ClipDetector, train: Dataset, val: Dataset | None = None,
                      *, log: TextIO | None = sys.stderr) -> None:
    """Train, choose, calibrate and attach a new head to ``detector`` (its card records how)."""
    started = time.monotonic()
    if val is None:
        train, val, _ = split_dataset(train, val=0.1, test=0.0, seed=detector.seed)
    views = detector.views or ("resized",)
    embedded = {name: (data, dataset_embeddings(detector, data, views, log))
                for name, data in (("train", train), ("val", val))}
    kept = {name: np.isfinite(emb).all(axis=(0, 2)) for name, (_, emb) in embedded.items()}
    train_x, val_x = embedded["train"][1][:, kept["train"]], embedded["val"][1][:, kept["val"]]
    train_data, val_data = (subset(data, kept[name]) for name, (data, _) in embedded.items())
    if len(set(train_data.labels.tolist())) < 2 or len(set(val_data.labels.tolist())) < 2:
        raise DatasetError("clip: training and validation data must each hold real and AI images")
    # Each view of a training image is one training row; validation averages the views' logits.
    rows = train_x.reshape(-1, train_x.shape[-1])
    labels = np.tile(train_data.labels, len(views))
    weights = np.tile(training_weights(train_data), len(views))
    head, spec, table = select_head((rows, labels, weights), (val_x.mean(axis=0), val_data.labels),
                                    detector.heads or HEAD_CANDIDATES, seed=detector.seed)
    logits = view_logits(head, val_x)
    calibrator, threshold, fprs = calibrate(logits, val_data.labels, val_data.sources, detector.calibration)
    info = {
        "head": {**spec, "candidates": table},
        "training": {"data": train.name, "n_train": len(train_data), "n_val": len(val_data),
                     "skipped_unreadable": int((~kept["train"]).sum() + (~kept["val"]).sum()),
                     "seconds": round(time.monotonic() - started, 1)},
        "validation": {"auc": roc_auc(val_data.labels, logits), "n": len(val_data)},
    }
    card = build_card(head, calibrator, threshold, fprs, encoder_sha256=detector.encoder_sha256_,
                      views=views, info=info)
    detector.set_trained(head, card)


def save_clip_detector(detector: ClipDetector, path: Path) -> Path:
    """``path.npz`` (the head) and ``path.json`` (its card, with the head's sha256)."""
    head_path = path.with_suffix(".npz")
    head_path.parent.mkdir(parents=True, exist_ok=True)
    detector.head_.save(head_path)
    card = ModelCard(**{**vars(detector.card_), "weights_file": head_path.name,
                        "sha256": sha256_file(head_path), "path": None})
    card.write(head_path.with_suffix(".json"))
    return head_path


def subset(dataset: Dataset, keep: np.ndarray) -> Dataset:
    """The samples of ``dataset`` where ``keep`` is true."""
    return Dataset(tuple(s for s, k in zip(dataset.samples, keep, strict=True) if k), name=dataset.name,
                   root=dataset.root)
