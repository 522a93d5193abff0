"""``clip``: a small calibrated head on frozen CLIP ViT-B/16 image embeddings.

Where ``efficientnet`` reads native-resolution texture, this detector reads
semantics: the whole picture at 224 px, as CLIP sees it. The two err on
different images, which is what the fitted ensemble exploits.

The 85 MB encoder is not in the wheel: ``aidetect weights install clip``
puts it in the weights cache once (see `aidetect.clip_weights`). The head
(``clip-head.npz``) and its model card (``clip.json``) are bundled; the card
names the encoder sha256 the head was trained on, and a different installed
encoder is refused rather than silently mis-scored. Predicting needs numpy,
Pillow and onnxruntime only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np

from aidetect.calibration import calibrator_from_dict
from aidetect.clip_encoder import VIEWS, ClipEncoder, image_views
from aidetect.clip_head import ClipHead
from aidetect.clip_weights import INSTALL_COMMAND, require_encoder
from aidetect.datasets import Dataset
from aidetect.detector import BaseDetector, CropPolicy
from aidetect.errors import NotFittedError, WeightsError
from aidetect.hookspecs import hookimpl
from aidetect.weights import ModelCard, card_for_weights, load_card, resolve_weights

CARD_NAME = "clip"


class ClipDetector(BaseDetector):
    """CLIP image embeddings -> head -> calibration.

    Parameters beyond `BaseDetector`'s:

    weights
        A head ``.npz`` with its ``.json`` card beside it (from ``aidetect train clip``);
        default: the bundled head.
    views
        Which 224 px views of an image to score and average: ``("resized",)`` (the
        default, CLIP's own preprocessing) and/or ``"native"`` (native-resolution tiles).
    threads
        ONNX Runtime intra-op threads (default: ``OMP_NUM_THREADS`` if set, else all cores).
    heads, calibration, seed
        Training only (`fit`): the head candidates to choose from on validation
        (default: logistic regressions and small MLPs), the calibration method.
    """

    name: ClassVar[str] = "clip"
    trainer: ClassVar[str] = "aidetect.training.clip_head:fit_clip_detector"
    saver: ClassVar[str] = "aidetect.training.clip_head:save_clip_detector"

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        *,
        views: Sequence[str] | None = None,
        threads: int | None = None,
        heads: Sequence[dict[str, Any]] | None = None,
        calibration: str = "platt",
        seed: int = 0,
        threshold: float | None = None,
        target_fpr: float | None = None,
        uncertain_band: tuple[float, float] | None = None,
    ) -> None:
        super().__init__(threshold=threshold, target_fpr=target_fpr, uncertain_band=uncertain_band)
        unknown = set(views or ()) - set(VIEWS)
        if unknown:
            raise ValueError(f"unknown CLIP view(s) {sorted(unknown)}; choose from {', '.join(VIEWS)}")
        self.weights = weights
        self.views = tuple(views) if views else None
        self.threads = threads
        self.heads = heads
        self.calibration = calibration
        self.seed = seed

    # -- model card and state -----------------------------------------------------------
    @property
    def card_(self) -> ModelCard:
        self._ensure_loaded()
        return self._card

    @property
    def encoder_(self) -> ClipEncoder:
        """The CLIP image encoder (loaded from the weights cache on first use)."""
        with self._lock:
            if getattr(self, "_encoder", None) is None:
                path, sha256 = require_encoder()
                self._encoder, self._encoder_sha256 = ClipEncoder(path, threads=self.threads), sha256
            return self._encoder

    @property
    def encoder_sha256_(self) -> str:
        self.encoder_  # noqa: B018 -- loads it
        return self._encoder_sha256

    def _is_loaded(self) -> bool:
        return getattr(self, "_card", None) is not None

    def _load(self) -> None:
        installed = self.encoder_sha256_  # first: a missing encoder is the error to report
        card = self._card_for(self.weights)
        head = ClipHead.load(resolve_weights(card, self.weights))
        expected = card.info.get("encoder", {}).get("sha256")
        if expected and expected != installed:
            raise WeightsError(
                f"clip: this head was trained on the encoder with sha256 {expected}, but the installed encoder "
                f"is {installed}; run `{INSTALL_COMMAND}` for the pinned one, or retrain the head "
                "on yours with `aidetect train clip`"
            )
        self.set_trained(head, card)

    def _card_for(self, weights: str | os.PathLike[str] | None) -> ModelCard:
        if weights is not None:
            own = card_for_weights(weights)
            if own is None:
                raise WeightsError(f"{weights}: a CLIP head needs its model card ({Path(weights).stem}.json) beside it")
            return own
        try:
            return load_card(CARD_NAME)
        except WeightsError as exc:
            raise NotFittedError("clip: no bundled head; train one with `aidetect train clip`") from exc

    def set_trained(self, head: ClipHead, card: ModelCard) -> None:
        """Serve ``head`` with ``card``'s calibration and thresholds (after loading or `fit`)."""
        self.head_ = head
        self._calibrator = calibrator_from_dict(card.calibration)
        self._card = card

    # -- what BaseDetector needs --------------------------------------------------------
    def active_views(self) -> tuple[str, ...]:
        return self.views or tuple(self.card_.info.get("views", ["resized"]))

    def crop_policy(self) -> CropPolicy:
        return CropPolicy(224, 2)

    def crops(self, image: np.ndarray) -> list[np.ndarray]:
        return [crop for view in self.active_views() for crop in image_views(image, view)]

    def raw_scores(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        self._ensure_loaded()
        return self.head_.logits(self.encoder_.embed_crops(list(crops)))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        self._ensure_loaded()
        return self._calibrator.transform(np.asarray(raw, dtype=np.float64))

    def default_threshold(self) -> float:
        return self.card_.threshold

    def fpr_thresholds(self) -> dict[float, float]:
        return self.card_.fpr_thresholds

    # -- training -----------------------------------------------------------------------
    def fit(self, dataset: Dataset, val: Dataset | None = None, **options: Any) -> ClipDetector:
        """Fit a new head on ``dataset`` (embeddings cached by content hash); choose and calibrate it on ``val``."""
        from aidetect.trainable import resolve_trainer

        # Named, not imported: inference modules never import `aidetect.training` (the trainer contract).
        resolve_trainer(self.trainer)(self, dataset, val, **options)
        return self

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the head (``.npz``) and its model card (``.json``) beside it."""
        from aidetect.trainable import resolve_trainer

        # resolve_trainer is typed for trainers; a saver returns the written path
        saver = cast("Callable[..., Path]", resolve_trainer(self.saver))
        saved: Path = saver(self, Path(path))
        return saved


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "clip",
        ClipDetector,
        description="Calibrated head on CLIP ViT-B/16 image embeddings (semantic evidence); "
                    f"encoder: `{INSTALL_COMMAND}`",
        backend="onnxruntime",
        requires=["onnxruntime"],
        extra="clip",
        card=CARD_NAME,
    )
