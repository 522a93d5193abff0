"""`ForensicSVMDetector`: the RBF-SVM on forensic features of native-resolution tiles."""

from __future__ import annotations

import json
import os
import time
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aidetect.calibration import Calibrator, calibrator_from_dict
from aidetect.datasets import Dataset
from aidetect.detector import BaseDetector, CropPolicy
from aidetect.detectors.forensic_svm.card import build_card
from aidetect.detectors.forensic_svm.constants import CARD_NAME, MAX_TILES_PER_SIDE, TILE_SIZE
from aidetect.detectors.forensic_svm.features import features_of
from aidetect.detectors.forensic_svm.fitting import calibrate, require_both_classes, train_pipeline
from aidetect.detectors.forensic_svm.persistence import load_model
from aidetect.jsonio import write_json
from aidetect.weights import sha256_file


class ForensicSVMDetector(BaseDetector):
    """RBF-SVM on forensic features of native-resolution tiles, calibrated on validation data.

    Parameters
    ----------
    weights
        A ``.skops`` file with its ``.json`` model card beside it; ``None``
        uses the bundled ``aidetect/models/forensic-svm.skops``.
    C, gamma, kernel
        `sklearn.svm.SVC` hyper-parameters used by `fit` (``class_weight="balanced"``).
    grid
        ``{"C": [...], "gamma": [...], "kernel": [...]}`` (or the same as text,
        ``"C=1,10;gamma=scale,0.01"``, as ``aidetect train --grid`` passes it): `fit` picks the
        combination with the best ROC-AUC on the validation split
        (`sklearn.model_selection.GridSearchCV` with that one split), then
        trains it on the training split only. ``None``: no search.
    tile_size, max_tiles_per_side
        Crop policy: an image is judged from up to ``max_tiles_per_side ** 2``
        native-resolution ``tile_size`` tiles. ``None`` (the default) takes
        them from the model card of the loaded model, and trains with
        `TILE_SIZE` and `MAX_TILES_PER_SIDE`; a value overrides both.
    augment_jpeg
        Re-save training images as JPEG (p=0.8, quality 60-100) before cropping.
    views_per_image
        Augmented training views (independent JPEG re-save and crop) drawn
        from each training image; more views cost feature-extraction time
        and support vectors, and buy robustness.
    seed
        Seeds augmentation, crops and the SVM: same data and seed, same model.
    n_jobs
        Worker processes for feature extraction and grid search in `fit`.
    calibration
        How `fit` maps the mean tile margin to P(AI) on the validation split:
        ``"platt"`` (a sigmoid) or ``"isotonic"`` (a monotone step-free map).
    threshold, target_fpr, uncertain_band
        The decision rule, see `aidetect.detector.BaseDetector`.
    """

    name: ClassVar[str] = "forensic-svm"
    card_name: ClassVar[str] = CARD_NAME

    def __init__(
        self,
        weights: str | os.PathLike | None = None,
        *,
        C: float = 10.0,
        gamma: float | str = "scale",
        kernel: str = "rbf",
        grid: Mapping[str, Sequence[Any]] | str | None = None,
        tile_size: int | None = None,
        max_tiles_per_side: int | None = None,
        augment_jpeg: bool = True,
        views_per_image: int = 2,
        seed: int = 0,
        n_jobs: int = 1,
        calibration: str = "platt",
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(threshold=threshold, target_fpr=target_fpr, uncertain_band=uncertain_band)
        self.weights = weights
        self.C = C
        self.gamma = gamma
        self.kernel = kernel
        self.grid = grid
        self.tile_size = tile_size
        self.max_tiles_per_side = max_tiles_per_side
        self.augment_jpeg = augment_jpeg
        self.views_per_image = views_per_image
        self.seed = seed
        self.n_jobs = n_jobs
        self.calibration = calibration

    # -- model state -------------------------------------------------------------------
    @property
    def pipeline_(self) -> Any:
        """The fitted ``Pipeline(StandardScaler, SVC)`` (loaded from the weights on first use)."""
        self._ensure_loaded()
        return self._pipeline

    @property
    def calibration_(self) -> Calibrator:
        """The calibrator (Platt by default) from mean SVM margin to P(AI)."""
        self._ensure_loaded()
        return self._calibrator

    @property
    def card_(self) -> dict[str, Any]:
        """The model card (a JSON-ready dict) of the model in use."""
        self._ensure_loaded()
        return self._card

    def _is_loaded(self) -> bool:
        return getattr(self, "_pipeline", None) is not None

    def _load(self) -> None:
        self._set_state(*load_model(self.weights, card_name=self.card_name))

    def _set_state(self, pipeline: Any, card: dict[str, Any]) -> None:
        self._calibrator = calibrator_from_dict(card.get("calibration"))
        self._fpr_thresholds = {float(k): float(v) for k, v in (card.get("fpr_thresholds") or {}).items()}
        self._card = card
        self._pipeline = pipeline

    # -- BaseDetector hooks --------------------------------------------------------------
    def crop_policy(self) -> CropPolicy:
        """The card's crop policy (the one the model was trained and calibrated with), unless overridden."""
        card = CropPolicy.from_dict(self.card_.get("crop_policy", {}))
        return CropPolicy(self.tile_size or card.input_size, self.max_tiles_per_side or card.max_tiles_per_side)

    def training_policy(self) -> CropPolicy:
        """The crop policy `fit` trains and calibrates with (and records in the new card)."""
        return CropPolicy(self.tile_size or TILE_SIZE, self.max_tiles_per_side or MAX_TILES_PER_SIDE)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """SVM margin (``decision_function``) of each crop's forensic features; positive leans AI."""
        pipeline = self.pipeline_
        return pipeline.decision_function(features_of(crops)).astype(np.float64)

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """The card's calibration (by default Platt, ``sigmoid(a * margin + b)``) fitted on validation margins."""
        return self.calibration_.transform(np.asarray(raw, dtype=np.float64))

    def default_threshold(self) -> float:
        return float(self.card_.get("threshold", 0.5))

    def fpr_thresholds(self) -> dict[float, float]:
        self._ensure_loaded()
        return dict(self._fpr_thresholds)

    # -- training ----------------------------------------------------------------------
    def fit(
        self, dataset: Dataset, val: Dataset | None = None, *, log: Callable[[str], None] | None = None
    ) -> ForensicSVMDetector:
        """Train on ``dataset``; select (with ``grid``), calibrate and set thresholds on ``val``.

        Without ``val``, 10% of ``dataset`` (stratified by label and generator)
        is split off for that. Training images are augmented (JPEG, random
        native-resolution crop); validation images are scored as at inference.
        """
        from aidetect.datasets import split_dataset

        if val is None:
            dataset, val, _ = split_dataset(dataset, val=0.1, test=0.0, seed=self.seed)
        require_both_classes(dataset, "training")
        require_both_classes(val, "validation")
        log = log or (lambda message: None)
        started = time.perf_counter()
        pipeline, search, timings = train_pipeline(self, dataset, val, log)
        calibration, thresholds, val_report = calibrate(self, pipeline, val, log)
        timings["total_s"] = round(time.perf_counter() - started, 2)
        card = build_card(self, pipeline, dataset, val, search, timings, calibration, thresholds, val_report)
        self._set_state(pipeline, card)
        log(f"trained in {timings['total_s']:.1f} s; val ROC-AUC {val_report['roc_auc']:.4f}")
        return self

    def save(self, path: str | os.PathLike) -> Path:
        """Write the pipeline with skops to ``path`` (``.skops``) and its model card beside it (``.json``)."""
        import skops.io

        path = Path(path)
        if path.suffix != ".skops":
            raise ValueError(f"{path}: forensic-svm weights are saved as .skops files")
        pipeline = self.pipeline_
        path.parent.mkdir(parents=True, exist_ok=True)
        skops.io.dump(pipeline, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        card = json.loads(json.dumps(self.card_))
        card["weights"] = {"file": path.name, "sha256": sha256_file(path), "format": "skops"}
        write_json(path.with_suffix(".json"), card)
        self._card = card
        return path

    def features(self, images: Sequence[Any]) -> np.ndarray:
        """Forensic features, one row per tile, of already loaded images or paths (for inspection)."""
        crops = [crop for image in images for crop in self.crops(self.load(image))]
        return features_of(crops)
