"""`ForensicSVMDetector`: the RBF-SVM on forensic features of native-resolution tiles."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aidetect.calibration import Calibrator
from aidetect.detector import CropPolicy, DecisionRule
from aidetect.detectors.forensic_svm.constants import CARD_NAME, MAX_TILES_PER_SIDE, TILE_SIZE
from aidetect.detectors.forensic_svm.features import features_of
from aidetect.detectors.forensic_svm.grid import parse_grid
from aidetect.detectors.forensic_svm.persistence import load_pipeline
from aidetect.errors import InvalidOptionError
from aidetect.trainable import TrainableDetector
from aidetect.trainconfig import CALIBRATIONS
from aidetect.weights import ModelCard, sha256_file


class ForensicSVMDetector(TrainableDetector):
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
    decision, threshold, target_fpr, uncertain_band
        The decision rule, see `aidetect.detector.BaseDetector`.

    Bad options (an unparsable ``grid``, an unknown ``calibration``) are
    refused here, before any training. Training is
    `aidetect.training.forensic_svm.train_forensic_svm`, imported only by `fit`.
    """

    name: ClassVar[str] = "forensic-svm"
    card_name: ClassVar[str] = CARD_NAME
    trainer: ClassVar[str] = "aidetect.training.forensic_svm:train_forensic_svm"
    weights_suffix: ClassVar[str] = ".skops"
    explain_methods: ClassVar[tuple[str, ...]] = ("window", "evidence")

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
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
        decision: DecisionRule | None = None,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(weights, decision=decision, threshold=threshold, target_fpr=target_fpr,
                         uncertain_band=uncertain_band)
        if calibration not in CALIBRATIONS:
            raise InvalidOptionError(f"forensic-svm: calibration must be one of {list(CALIBRATIONS)}, "
                                     f"got {calibration!r}")
        parse_grid(grid)  # refuse a bad grid now, not after the features are computed
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

    # -- the model -------------------------------------------------------------------
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

    def load_model(self, path: Path, card: ModelCard) -> Any:
        return load_pipeline(path)

    def serve(self, model: Any, card: ModelCard) -> None:
        self._pipeline = model

    # -- BaseDetector hooks --------------------------------------------------------------
    def crop_policy(self) -> CropPolicy:
        """The card's crop policy (the one the model was trained and calibrated with), unless overridden."""
        card = self.card_
        return CropPolicy(self.tile_size or card.input_size, self.max_tiles_per_side or card.max_tiles_per_side)

    def training_policy(self) -> CropPolicy:
        """The crop policy `fit` trains and calibrates with (and records in the new card)."""
        return CropPolicy(self.tile_size or TILE_SIZE, self.max_tiles_per_side or MAX_TILES_PER_SIDE)

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """SVM margin (``decision_function``) of each crop's forensic features; positive leans AI."""
        margins: np.ndarray = self.pipeline_.decision_function(features_of(crops)).astype(np.float64)
        return margins

    # -- saving ------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the pipeline with skops to ``path`` (``.skops``) and its model card beside it (``.json``)."""
        import skops.io

        path = self.weights_path(path)
        pipeline = self.pipeline_
        path.parent.mkdir(parents=True, exist_ok=True)
        skops.io.dump(pipeline, path, compression=zipfile.ZIP_DEFLATED, compresslevel=9)
        card = self.card_.replace(weights_file=path.name, sha256=sha256_file(path), weights_format="skops", path=None)
        card.write(path.with_suffix(".json"))
        self.adopt_card(card)
        return path

    def features(self, images: Sequence[Any]) -> np.ndarray:
        """Forensic features, one row per tile, of already loaded images or paths (for inspection)."""
        crops = [crop for image in images for crop in self.crops(self.load(image))]
        return features_of(crops)
