"""``forensic-svm``: an SVM on hand-crafted forensic features (ELA, noise residual, residual spectrum).

Instead of raw pixels (slow to train, easily fooled by content) the SVM sees
the 374 numbers of `aidetect.features.forensic_features` per 256 px tile,
which describe compression history, noise and periodic up-sampling traces.
It trains in minutes on a laptop CPU and predicts a 512x512 image in a few
milliseconds, so it is the cheap, explainable member of the detector family.

Large images are judged from native-resolution tiles (never shrunk), whose
SVM margins are averaged and mapped to P(AI) by Platt scaling (or isotonic) fitted on
validation data. Training re-compresses both classes as JPEG at random
qualities so that the file format cannot carry the label.

Weights are a scikit-learn ``Pipeline(StandardScaler, SVC)`` stored with
skops (never pickle) plus a JSON model card whose sha256 is checked, and
whose type list is audited against `TRUSTED_TYPES`, before anything is loaded.
Importing this module is cheap: scikit-learn, OpenCV, joblib and skops are
imported only when a model is trained or loaded.
"""

from __future__ import annotations

import itertools
import json
import os
import platform
import time
import warnings
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from aidetect.calibration import Calibrator, calibrator_from_dict, fpr_table, make_calibrator
from aidetect.datasets import AI, REAL, Dataset
from aidetect.detector import BaseDetector, CropPolicy
from aidetect.errors import AidetectError, DatasetError, NotFittedError, WeightsError
from aidetect.hookspecs import hookimpl
from aidetect.weights import ModelCard, card_for_weights, load_card, resolve_weights, sha256_file

CARD_NAME = "forensic-svm"
WEIGHTS_FILE = "forensic-svm.skops"
FPRS = (0.01, 0.05, 0.1)
"""False-positive rates whose thresholds (measured on validation reals) go into the model card."""

TILE_SIZE = 256
MAX_TILES_PER_SIDE = 2
"""Default crop policy of training: up to 2x2 native-resolution 256 px tiles per image."""

JPEG_PROBABILITY = 0.8
JPEG_QUALITY_RANGE = (60, 100)
"""Training augmentation: with this probability, re-save as JPEG at a quality drawn from this range (inclusive)."""

TRUSTED_TYPES: tuple[str, ...] = (
    "builtins.dict",
    "builtins.list",
    "builtins.str",
    "builtins.tuple",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int32",
    "numpy.int64",
    "numpy.ndarray",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.svm._classes.SVC",
)
"""Every type a forensic-svm skops file may contain; a file naming any other type is refused unread."""

_PIPELINE_STEPS = ("scale", "svm")


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
    explain_methods: ClassVar[tuple[str, ...]] = ("window", "evidence")

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
        _require_both_classes(dataset, "training")
        _require_both_classes(val, "validation")
        log = log or (lambda message: None)
        started = time.perf_counter()
        pipeline, search, timings = _train_pipeline(self, dataset, val, log)
        calibration, thresholds, val_report = _calibrate(self, pipeline, val, log)
        timings["total_s"] = round(time.perf_counter() - started, 2)
        card = _build_card(self, pipeline, dataset, val, search, timings, calibration, thresholds, val_report)
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
        _write_json(path.with_suffix(".json"), card)
        self._card = card
        return path

    def features(self, images: Sequence[Any]) -> np.ndarray:
        """Forensic features, one row per tile, of already loaded images or paths (for inspection)."""
        crops = [crop for image in images for crop in self.crops(self.load(image))]
        return features_of(crops)


# -- features ------------------------------------------------------------------------------------


def features_of(crops: Sequence[np.ndarray]) -> np.ndarray:
    """``(n, len(FEATURE_NAMES))`` float32 matrix of `aidetect.features.forensic_features` rows."""
    from aidetect.features import FEATURE_NAMES, forensic_features

    if not crops:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    return np.stack([forensic_features(crop) for crop in crops])


def augmented_tile(image: np.ndarray, tile_size: int, augment_jpeg: bool, rng: np.random.Generator) -> np.ndarray:
    """One training view: maybe a JPEG re-save (both classes alike), then a random native-resolution tile.

    Images smaller than a tile are first enlarged the way `aidetect.preprocess.tile_crops` does at inference.
    """
    from aidetect.preprocess import jpeg_recompress, random_crop, resize_short_side

    if augment_jpeg and rng.random() < JPEG_PROBABILITY:
        image = jpeg_recompress(image, int(rng.integers(JPEG_QUALITY_RANGE[0], JPEG_QUALITY_RANGE[1] + 1)))
    if min(image.shape[:2]) < tile_size:
        image = resize_short_side(image, tile_size)
    return random_crop(image, tile_size, rng)


def _training_row(path: str, index: int, tile_size: int, augment_jpeg: bool, seed: int) -> np.ndarray | None:
    """Features of one augmented training view; ``None`` if the image cannot be read."""
    from aidetect.features import MIN_SIDE, forensic_features
    from aidetect.io import load_image

    try:
        image = load_image(path, min_side=MIN_SIDE)
    except AidetectError as exc:
        warnings.warn(f"forensic-svm: skipping unreadable training image: {exc}", stacklevel=2)
        return None
    rng = np.random.default_rng([seed, index])
    return forensic_features(augmented_tile(image, tile_size, augment_jpeg, rng))


def _scoring_rows(path: str, tile_size: int, max_tiles: int, normalise: bool) -> np.ndarray | None:
    """Features of the inference tiles of one image (optionally of its format-normalised copy)."""
    from aidetect.features import MIN_SIDE
    from aidetect.io import load_image
    from aidetect.preprocess import normalise_format, tile_crops

    try:
        image = load_image(path, min_side=MIN_SIDE)
    except AidetectError as exc:
        warnings.warn(f"forensic-svm: skipping unreadable image: {exc}", stacklevel=2)
        return None
    if normalise:
        image = normalise_format(image)
    return features_of(tile_crops(image, tile_size, max_tiles))


def _parallel(function: Callable[..., Any], argument_lists: list[tuple[Any, ...]], n_jobs: int) -> list[Any]:
    if n_jobs == 1 or len(argument_lists) < 8:
        return [function(*arguments) for arguments in argument_lists]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs, batch_size=16)(delayed(function)(*arguments) for arguments in argument_lists)


def training_features(detector: ForensicSVMDetector, dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """``views_per_image`` augmented views per training image: ``(X, y)``, unreadable images left out."""
    views = max(1, int(detector.views_per_image))
    tile_size = detector.training_policy().input_size
    arguments = [
        (str(sample.path), index * views + view, tile_size, detector.augment_jpeg, detector.seed)
        for index, sample in enumerate(dataset.samples)
        for view in range(views)
    ]
    rows = _parallel(_training_row, arguments, detector.n_jobs)
    labels = np.repeat(dataset.labels, views)
    keep = [i for i, row in enumerate(rows) if row is not None]
    return np.stack([rows[i] for i in keep]), labels[keep]


def scoring_features(
    detector: ForensicSVMDetector, dataset: Dataset, policy: CropPolicy, *, normalise: bool = False
) -> tuple[list[np.ndarray], np.ndarray, list[int]]:
    """Per image, the features of its tiles under ``policy``; with the labels and indices of readable images."""
    arguments = [
        (str(sample.path), policy.input_size, policy.max_tiles_per_side, normalise) for sample in dataset.samples
    ]
    rows = _parallel(_scoring_rows, arguments, detector.n_jobs)
    keep = [i for i, row in enumerate(rows) if row is not None]
    return [rows[i] for i in keep], dataset.labels[keep], keep


def image_margins(pipeline: Any, tiles_per_image: list[np.ndarray]) -> np.ndarray:
    """Mean SVM margin over each image's tiles, as `BaseDetector` combines them at inference."""
    if not tiles_per_image:
        return np.zeros(0)
    margins = pipeline.decision_function(np.concatenate(tiles_per_image))
    bounds = np.cumsum([0] + [len(t) for t in tiles_per_image])
    return np.array([margins[a:b].mean() for a, b in itertools.pairwise(bounds)])


# -- fitting -------------------------------------------------------------------------------------


def make_pipeline(C: float, gamma: float | str, kernel: str, seed: int) -> Any:
    """``StandardScaler`` then ``SVC(class_weight="balanced")``: the model forensic-svm trains."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svm = SVC(C=C, gamma=gamma, kernel=kernel, class_weight="balanced", random_state=seed, cache_size=500)
    return Pipeline([(_PIPELINE_STEPS[0], StandardScaler()), (_PIPELINE_STEPS[1], svm)])


def _train_pipeline(
    detector: ForensicSVMDetector, train: Dataset, val: Dataset, log: Callable[[str], None]
) -> tuple[Any, dict[str, Any] | None, dict[str, float]]:
    timings: dict[str, float] = {}
    started = time.perf_counter()
    X, y = training_features(detector, train)
    timings["train_features_s"] = round(time.perf_counter() - started, 2)
    log(f"features of {len(y)} training views in {timings['train_features_s']:.1f} s")
    params = {"C": detector.C, "gamma": detector.gamma, "kernel": detector.kernel}
    search = None
    grid = parse_grid(detector.grid)
    if grid:
        started = time.perf_counter()
        search = _grid_search(detector, grid, X, y, val)
        params.update(search["best_params"])
        timings["grid_search_s"] = round(time.perf_counter() - started, 2)
        log(f"grid search: best {search['best_params']} (val ROC-AUC {search['best_score']:.4f})")
    started = time.perf_counter()
    pipeline = make_pipeline(params["C"], params["gamma"], params["kernel"], detector.seed).fit(X, y)
    timings["svm_fit_s"] = round(time.perf_counter() - started, 2)
    timings["n_train_views"] = len(y)
    return pipeline, search, timings


def _grid_search(
    detector: ForensicSVMDetector, grid: Mapping[str, Sequence[Any]], X: np.ndarray, y: np.ndarray, val: Dataset
) -> dict[str, Any]:
    """Score every grid point on the validation tiles (original files and format-normalised copies)."""
    from sklearn.model_selection import GridSearchCV

    val_X, val_y = [], []
    for normalise in (False, True):
        tiles, labels, _ = scoring_features(detector, val, detector.training_policy(), normalise=normalise)
        val_X += tiles
        val_y += [np.full(len(t), label) for t, label in zip(tiles, labels, strict=True)]
    all_X = np.concatenate([X, *val_X])
    all_y = np.concatenate([y, *val_y])
    split = [(np.arange(len(y)), np.arange(len(y), len(all_y)))]
    param_grid = {f"svm__{key}": list(values) for key, values in grid.items()}
    base = make_pipeline(detector.C, detector.gamma, detector.kernel, detector.seed)
    search = GridSearchCV(base, param_grid, scoring="roc_auc", cv=split, refit=False, n_jobs=detector.n_jobs)
    search.fit(all_X, all_y)
    results = [
        {**{k.removeprefix("svm__"): _jsonable(v) for k, v in params.items()}, "val_roc_auc": round(float(score), 4)}
        for params, score in zip(search.cv_results_["params"], search.cv_results_["mean_test_score"], strict=True)
    ]
    best = {k.removeprefix("svm__"): v for k, v in search.best_params_.items()}
    return {"best_params": best, "best_score": float(search.best_score_), "results": results}


def _calibrate(
    detector: ForensicSVMDetector, pipeline: Any, val: Dataset, log: Callable[[str], None]
) -> tuple[Calibrator, dict[float, float], dict[str, Any]]:
    """Calibrate the validation margins (``detector.calibration``); thresholds for `FPRS` from the validation reals."""
    from aidetect.metrics import binary_report

    tiles, labels, _ = scoring_features(detector, val, detector.training_policy())
    margins = image_margins(pipeline, tiles)
    calibrator = make_calibrator(detector.calibration).fit(margins, labels)
    probabilities = calibrator.transform(margins)
    thresholds = fpr_table(probabilities[labels == REAL], FPRS)
    report = binary_report(labels, probabilities, 0.5)
    log(f"calibrated on {len(labels)} validation images: {calibrator!r}")
    return calibrator, thresholds, report


def _require_both_classes(dataset: Dataset, role: str) -> None:
    labels = set(dataset.labels.tolist())
    if labels != {AI, REAL}:
        raise DatasetError(f"{dataset.name}: the {role} data needs both real and AI images, got {dataset.counts()}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPU(s), {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def _build_card(
    detector: ForensicSVMDetector,
    pipeline: Any,
    train: Dataset,
    val: Dataset,
    search: dict[str, Any] | None,
    timings: dict[str, float],
    calibration: Calibrator,
    thresholds: dict[float, float],
    val_report: dict[str, Any],
) -> dict[str, Any]:
    """The model card of a freshly fitted model (the weights entry is filled in by `save`)."""
    from aidetect.features import FEATURE_NAMES

    svm = pipeline.named_steps["svm"]
    policy = detector.training_policy()
    return {
        "name": CARD_NAME,
        "architecture": f"StandardScaler + SVC(kernel={svm.kernel}) on forensic features",
        "features": {"count": len(FEATURE_NAMES), "families": ["ela", "noise", "spectrum"], "names": FEATURE_NAMES},
        "input_size": policy.input_size,
        "crop_policy": {"input_size": policy.input_size, "max_tiles_per_side": policy.max_tiles_per_side},
        "calibration": {**calibration.to_dict(), "fitted_on": f"{val.name} ({len(val)} images, mean tile margin)"},
        "threshold": 0.5,
        "fpr_thresholds": {f"{fpr:g}": value for fpr, value in sorted(thresholds.items())},
        "weights": {"file": None, "sha256": None, "format": "skops"},
        "training": {
            "data": train.name,
            "split": "train",
            "n": int(timings["n_train_views"]),
            "counts": train.counts(),
            "validation": {"data": val.name, "n": len(val), "metrics": _rounded(val_report)},
            "augmentation": {
                "jpeg_recompress": {"p": JPEG_PROBABILITY, "quality": list(JPEG_QUALITY_RANGE)}
                if detector.augment_jpeg else None,
                "crop": f"{detector.views_per_image} random native-resolution {policy.input_size} px tile(s) "
                        "per image, each with its own JPEG re-save (smaller images enlarged to the tile first, "
                        "as at inference)",
            },
            "hyper_parameters": {
                "C": float(svm.C), "gamma": _jsonable(svm.gamma), "kernel": svm.kernel,
                "class_weight": "balanced", "seed": detector.seed, "views_per_image": detector.views_per_image,
                "n_support_vectors": int(svm.n_support_.sum()),
            },
            "grid_search": search,
            "training_time_seconds": timings["total_s"],
            "timings": timings,
            "machine": _machine(),
        },
        "metrics": {},
        "license": "Apache-2.0 (model); training images keep their sources' terms, research use",
    }


def _rounded(report: Mapping[str, Any]) -> dict[str, Any]:
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in report.items()}


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    """JSON without NaN (a one-class generator has no AUC: null), numpy values as Python ones."""
    from aidetect.evaluation import json_safe

    path.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")


# -- loading -------------------------------------------------------------------------------------


def _card_path_for(weights: str | os.PathLike | None, card_name: str) -> tuple[ModelCard, Path]:
    if weights is not None:
        own = card_for_weights(weights)
        if own is None:
            raise WeightsError(f"{weights}: no model card {Path(weights).with_suffix('.json').name} beside it")
        return own, Path(own.path)  # type: ignore[arg-type]
    try:
        card = load_card(card_name)
    except WeightsError as exc:
        raise NotFittedError(
            f"forensic-svm: no bundled model ({exc}); train one with fit() or `aidetect train forensic-svm`, "
            "or pass weights=PATH.skops (with its .json model card beside it)"
        ) from exc
    return card, Path(card.path)  # type: ignore[arg-type]


def audit_types(path: str | os.PathLike) -> list[str]:
    """The types named in a skops file that are not in `TRUSTED_TYPES` (read from its schema, nothing built)."""
    try:
        with zipfile.ZipFile(path) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: not a skops file ({exc})") from exc
    found: set[str] = set()
    stack: list[Any] = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__module__" in node and "__class__" in node:
                found.add(f"{node['__module__']}.{node['__class__']}")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found - set(TRUSTED_TYPES))


def load_model(weights: str | os.PathLike | None = None, *, card_name: str = CARD_NAME) -> tuple[Any, dict[str, Any]]:
    """Load a forensic-svm pipeline and its card: sha256 check, type audit, then ``skops.io.load``.

    Raises `aidetect.errors.ChecksumMismatchError` when the file is not the
    one the card describes, `aidetect.errors.WeightsError` when it names a
    type outside `TRUSTED_TYPES` or does not hold the expected pipeline, and
    `aidetect.errors.NotFittedError` when ``weights`` is ``None`` and no model is bundled.
    """
    import skops.io

    card, card_path = _card_path_for(weights, card_name)
    path = resolve_weights(card, weights)  # checks the sha256 before anything reads the file
    untrusted = audit_types(path)
    if untrusted:
        raise WeightsError(f"{path}: refusing to load, the file names untrusted type(s) {untrusted}")
    try:
        pipeline = skops.io.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises its own exception types for untrusted or malformed content
        raise WeightsError(f"{path}: cannot load the skops file ({type(exc).__name__}: {exc})") from exc
    _check_pipeline(pipeline, path)
    data = json.loads(card_path.read_text(encoding="utf-8"))
    return pipeline, data


def _check_pipeline(pipeline: Any, path: Path) -> None:
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from aidetect.features import FEATURE_NAMES

    ok = (
        isinstance(pipeline, Pipeline)
        and [name for name, _ in pipeline.steps] == list(_PIPELINE_STEPS)
        and type(pipeline.steps[0][1]) is StandardScaler
        and type(pipeline.steps[1][1]) is SVC
    )
    if not ok:
        raise WeightsError(f"{path}: expected Pipeline([('scale', StandardScaler), ('svm', SVC)]), got {pipeline!r}")
    if getattr(pipeline, "n_features_in_", None) != len(FEATURE_NAMES):
        raise WeightsError(
            f"{path}: model expects {getattr(pipeline, 'n_features_in_', '?')} features but this version of "
            f"aidetect.features computes {len(FEATURE_NAMES)}; retrain the model"
        )


# -- command-line training -----------------------------------------------------------------------


def parse_grid(text: str | Mapping[str, Sequence[Any]] | None) -> dict[str, list[Any]] | None:
    """``"C=1,10;gamma=scale,0.01;kernel=rbf"`` -> ``{"C": [1.0, 10.0], "gamma": ["scale", 0.01], ...}``."""
    if text is None or isinstance(text, Mapping):
        return None if text is None else {k: list(v) for k, v in text.items()}
    grid: dict[str, list[Any]] = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, values = part.partition("=")
        key = key.strip()
        if not sep or key not in ("C", "gamma", "kernel") or not values.strip():
            raise ValueError(f"bad grid entry {part!r}; expected e.g. 'C=1,10;gamma=scale,0.01;kernel=rbf'")
        grid[key] = [_grid_value(v.strip()) for v in values.split(",") if v.strip()]
    return grid or None


def _grid_value(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text


# -- plugin hook ---------------------------------------------------------------------------------


@hookimpl
def register_detectors(register: Any) -> None:
    register(
        "forensic-svm",
        ForensicSVMDetector,
        description="SVM on forensic features (ELA, noise residual, residual spectrum); fast CPU baseline",
        backend="sklearn",
        requires=["sklearn", "cv2", "skops"],
        extra="forensic",
        aliases=["ela-svm", "svm"],
        card="forensic-svm",
    )
