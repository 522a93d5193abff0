"""Turning raw detector scores into probabilities, and thresholds for a target false-positive rate.

Calibrators map a detector's raw score (a logit or SVM margin, higher = more
likely AI) to P(AI). Four kinds exist, each serialisable into a model card
with ``to_dict()`` and rebuilt by `calibrator_from_dict`:

``platt``
    ``sigmoid(a * raw + b)`` fitted by Newton's method (`PlattCalibrator`).
``isotonic``
    A monotone step-free map through pool-adjacent-violators knots (`IsotonicCalibrator`).
``sigmoid``
    The plain logistic of the raw score; what a model card without calibration means.
``identity``
    The raw scores already are probabilities; they are only clipped.

Everything is numpy: no scikit-learn needed at inference time. Thresholds
(`threshold_for_fpr`, `fpr_table`) are measured on the scores of real images,
because the false-positive rate only depends on those.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from aidetect.errors import NotFittedError

if TYPE_CHECKING:
    from aidetect.datasets import Dataset
    from aidetect.detector import Detector

PROB_EPS = 1e-4
"""Isotonic and identity outputs are clipped to ``[PROB_EPS, 1 - PROB_EPS]``: never a certain verdict."""

DEFAULT_FPRS = (0.001, 0.01, 0.05, 0.1)
"""False-positive rates a model card records thresholds for."""

__all__ = [
    "Calibrator",
    "IdentityCalibrator",
    "IsotonicCalibrator",
    "PlattCalibrator",
    "SigmoidCalibrator",
    "calibrator_from_dict",
    "fpr_table",
    "leave_one_source_out",
    "make_calibrator",
    "threshold_for_fpr",
    "threshold_for_fpr_on",
    "threshold_for_source_fpr",
]


@runtime_checkable
class Calibrator(Protocol):
    """What every calibrator offers."""

    method: str

    def fit(self, raw: Iterable[float], y: Iterable[int]) -> Calibrator: ...

    def transform(self, raw: Iterable[float]) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


# -- helpers --------------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # tanh form: no overflow warning for large |z|, unlike 1 / (1 + exp(-z)).
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _as_raw(raw: Iterable[float]) -> np.ndarray:
    values = np.asarray(list(raw) if not isinstance(raw, np.ndarray) else raw, dtype=np.float64).ravel()
    if not np.isfinite(values).all():
        raise ValueError("raw scores must be finite")
    return values


def _as_training_pair(raw: Iterable[float], y: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    values = _as_raw(raw)
    labels = np.asarray(list(y) if not isinstance(y, np.ndarray) else y).ravel()
    if labels.shape[0] != values.shape[0]:
        raise ValueError(f"got {values.shape[0]} scores for {labels.shape[0]} labels")
    if not values.size:
        raise ValueError("cannot fit a calibrator on zero scores")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("labels must be 0 (real) or 1 (AI)")
    return values, labels.astype(np.float64)


def _clip(probabilities: np.ndarray) -> np.ndarray:
    result: np.ndarray = np.clip(probabilities, PROB_EPS, 1.0 - PROB_EPS)
    return result


# -- calibrators ------------------------------------------------------------------------------


class _NothingToFit:
    """A calibrator with nothing to fit: the raw score is mapped by a fixed function."""

    method: str

    def fit(self, raw: Iterable[float], y: Iterable[int]) -> _NothingToFit:
        return self

    def transform(self, raw: Iterable[float]) -> np.ndarray:
        return self._map(_as_raw(raw))

    @staticmethod
    def _map(raw: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class SigmoidCalibrator(_NothingToFit):
    """``sigmoid(raw)``: the raw score is already a logit."""

    method = "sigmoid"

    @staticmethod
    def _map(raw: np.ndarray) -> np.ndarray:
        return _sigmoid(raw)


class IdentityCalibrator(_NothingToFit):
    """The raw score already is a probability; it is only clipped away from 0 and 1."""

    method = "identity"

    @staticmethod
    def _map(raw: np.ndarray) -> np.ndarray:
        return _clip(raw)


class PlattCalibrator:
    """Platt scaling: ``P(AI) = sigmoid(a * raw + b)``.

    Fitted by Newton's method on the log-loss with Platt's smoothed targets
    (``(n_ai + 1) / (n_ai + 2)`` and ``1 / (n_real + 2)`` instead of 1 and 0)
    plus an L2 penalty ``l2 * a**2 / 2``: both keep ``a`` finite when the
    classes are perfectly separated.
    """

    method = "platt"

    def __init__(self, *, l2: float = 1e-3, max_iter: int = 100, tol: float = 1e-10) -> None:
        self.l2 = l2
        self.max_iter = max_iter
        self.tol = tol

    def fit(self, raw: Iterable[float], y: Iterable[int]) -> PlattCalibrator:
        values, labels = _as_training_pair(raw, y)
        targets = _smoothed_targets(labels)
        n_ai, n_real = labels.sum(), labels.size - labels.sum()
        params = np.array([0.0, math.log((n_ai + 1.0) / (n_real + 1.0))])  # Platt's starting point
        design = np.column_stack([values, np.ones_like(values)])
        penalty = np.diag([self.l2, 0.0])
        loss = _platt_loss(params, design, targets, self.l2)
        for _ in range(self.max_iter):
            probs = _sigmoid(design @ params)
            gradient = design.T @ (probs - targets) + penalty @ params
            # The 1e-12 ridge keeps the Hessian invertible when every probability saturates.
            hessian = design.T @ (design * (probs * (1.0 - probs))[:, None]) + penalty + 1e-12 * np.eye(2)
            step = np.linalg.solve(hessian, gradient)
            params, new_loss = _backtrack(params, step, loss, design, targets, self.l2)
            converged = loss - new_loss <= self.tol * max(1.0, abs(loss))
            loss = new_loss
            if converged:
                break
        self.a_, self.b_ = float(params[0]), float(params[1])
        return self

    def transform(self, raw: Iterable[float]) -> np.ndarray:
        self._check_fitted()
        return _sigmoid(self.a_ * _as_raw(raw) + self.b_)

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"method": self.method, "a": self.a_, "b": self.b_}

    def _check_fitted(self) -> None:
        if not hasattr(self, "a_"):
            raise NotFittedError("PlattCalibrator is not fitted; call fit(raw, y) first")

    def __repr__(self) -> str:
        state = f"a={self.a_:.4g}, b={self.b_:.4g}" if hasattr(self, "a_") else "unfitted"
        return f"PlattCalibrator({state})"


def _smoothed_targets(labels: np.ndarray) -> np.ndarray:
    n_ai = labels.sum()
    n_real = labels.size - n_ai
    result: np.ndarray = np.where(labels == 1, (n_ai + 1.0) / (n_ai + 2.0), 1.0 / (n_real + 2.0))
    return result


def _platt_loss(params: np.ndarray, design: np.ndarray, targets: np.ndarray, l2: float) -> float:
    logits = design @ params
    # log(1 + exp(z)) - t z, written with logaddexp so large logits cannot overflow.
    return float(np.sum(np.logaddexp(0.0, logits) - targets * logits) + 0.5 * l2 * params[0] ** 2)


def _backtrack(
    params: np.ndarray, step: np.ndarray, loss: float, design: np.ndarray, targets: np.ndarray, l2: float
) -> tuple[np.ndarray, float]:
    """Take the Newton step, halving it until the loss does not increase."""
    scale = 1.0
    for _ in range(30):
        candidate = params - scale * step
        candidate_loss = _platt_loss(candidate, design, targets, l2)
        if candidate_loss <= loss:
            return candidate, candidate_loss
        scale *= 0.5
    return params, loss


class IsotonicCalibrator:
    """A non-decreasing map from raw score to P(AI), fitted by pool-adjacent-violators.

    The fit is stored as knots ``x_`` (raw scores) and ``y_`` (probabilities);
    `transform` interpolates linearly between knots, holds the end values
    outside them, and clips to ``[PROB_EPS, 1 - PROB_EPS]``.
    """

    method = "isotonic"

    def fit(self, raw: Iterable[float], y: Iterable[int]) -> IsotonicCalibrator:
        values, labels = _as_training_pair(raw, y)
        # Equal raw scores must get one value: pool them before the monotone fit.
        unique_x, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
        means = np.bincount(inverse, weights=labels) / counts
        fitted = _pool_adjacent_violators(means, counts.astype(np.float64))
        keep = _knots_to_keep(fitted)
        self.x_ = unique_x[keep]
        self.y_ = fitted[keep]
        return self

    def transform(self, raw: Iterable[float]) -> np.ndarray:
        self._check_fitted()
        return _clip(np.interp(_as_raw(raw), self.x_, self.y_))

    def to_dict(self) -> dict[str, Any]:
        self._check_fitted()
        return {"method": self.method, "x": self.x_.tolist(), "y": self.y_.tolist()}

    def _check_fitted(self) -> None:
        if not hasattr(self, "x_"):
            raise NotFittedError("IsotonicCalibrator is not fitted; call fit(raw, y) first")

    def __repr__(self) -> str:
        state = f"{len(self.x_)} knots" if hasattr(self, "x_") else "unfitted"
        return f"IsotonicCalibrator({state})"


def _pool_adjacent_violators(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted least-squares non-decreasing fit to ``values`` (already ordered by x)."""
    block_means: list[float] = []
    block_weights: list[float] = []
    block_sizes: list[int] = []
    for value, weight in zip(values.tolist(), weights.tolist(), strict=True):
        block_means.append(value)
        block_weights.append(weight)
        block_sizes.append(1)
        # Merge backwards while the newest block breaks monotonicity.
        while len(block_means) > 1 and block_means[-2] > block_means[-1]:
            weight_sum = block_weights[-2] + block_weights[-1]
            merged = (block_means[-2] * block_weights[-2] + block_means[-1] * block_weights[-1]) / weight_sum
            block_means[-2:] = [merged]
            block_weights[-2:] = [weight_sum]
            block_sizes[-2:] = [block_sizes[-2] + block_sizes[-1]]
    return np.repeat(np.array(block_means), block_sizes)


def _knots_to_keep(fitted: np.ndarray) -> np.ndarray:
    """Indices of the first and last point of each constant run: enough for exact interpolation."""
    if fitted.size <= 2:
        return np.arange(fitted.size)
    changes_before = np.r_[True, fitted[1:] != fitted[:-1]]
    changes_after = np.r_[fitted[1:] != fitted[:-1], True]
    return np.flatnonzero(changes_before | changes_after)


_CALIBRATORS: dict[str, Callable[[], Calibrator]] = {
    "platt": PlattCalibrator,
    "isotonic": IsotonicCalibrator,
    "sigmoid": SigmoidCalibrator,
    "identity": IdentityCalibrator,
}


def make_calibrator(method: str) -> Calibrator:
    """A new, unfitted calibrator of kind ``method`` (``platt``, ``isotonic``, ``sigmoid``, ``identity``)."""
    if method not in _CALIBRATORS:
        raise ValueError(f"unknown calibration method {method!r}; use one of {', '.join(sorted(_CALIBRATORS))}")
    return _CALIBRATORS[method]()


def calibrator_from_dict(data: Mapping[str, Any] | None) -> Calibrator:
    """Rebuild a calibrator from its ``to_dict()``; ``None`` or ``{}`` means ``sigmoid`` (no calibration)."""
    if not data:
        return SigmoidCalibrator()
    method = data.get("method")
    required = {"platt": ("a", "b"), "isotonic": ("x", "y")}.get(str(method), ())
    missing = [key for key in required if key not in data]
    if missing:
        raise ValueError(f"{method} calibration lacks {', '.join(missing)}")
    if method == "platt":
        platt = PlattCalibrator()
        platt.a_, platt.b_ = float(data["a"]), float(data["b"])
        return platt
    if method == "isotonic":
        return _isotonic_from_knots(data["x"], data["y"])
    if method in ("sigmoid", "identity"):
        return make_calibrator(method)
    raise ValueError(f"unknown calibration method {method!r}; use one of {', '.join(sorted(_CALIBRATORS))}")


def _isotonic_from_knots(x: Iterable[float], y: Iterable[float]) -> IsotonicCalibrator:
    knots_x, knots_y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if knots_x.shape != knots_y.shape or not knots_x.size:
        raise ValueError("isotonic calibration needs equally long, non-empty 'x' and 'y' lists")
    if np.any(np.diff(knots_x) < 0) or np.any(np.diff(knots_y) < 0):
        raise ValueError("isotonic knots must be non-decreasing in both 'x' and 'y'")
    isotonic = IsotonicCalibrator()
    isotonic.x_, isotonic.y_ = knots_x, knots_y
    return isotonic


# -- thresholds ------------------------------------------------------------------------------


def threshold_for_fpr(scores_real: Iterable[float], fpr: float) -> float:
    """The smallest threshold at which at most a share ``fpr`` of real images score ``>=`` it.

    With the real scores sorted from high to low, ``k = floor(fpr * n)`` of
    them may be flagged, so the threshold sits just above the ``(k+1)``-th
    highest score (the next float up, because a score equal to the threshold
    counts as flagged). With ``fpr = 1`` it is the lowest real score. Scores
    that tie with the ``(k+1)``-th are excluded too, so the rate reached can
    be below ``fpr`` but never above. The result exceeds 1 only if real
    images score exactly 1.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must be in [0, 1], got {fpr}")
    scores = np.sort(_as_raw(scores_real))[::-1]
    if not scores.size:
        raise ValueError("threshold_for_fpr needs at least one real image's score")
    # The epsilon stops e.g. 0.29 * 100 = 28.999999999999996 from allowing one false positive too few.
    allowed = math.floor(fpr * scores.size + 1e-9)
    if allowed >= scores.size:
        return float(scores[-1])
    return float(np.nextafter(scores[allowed], np.inf))


def fpr_table(scores_real: Iterable[float], fprs: Iterable[float] = DEFAULT_FPRS) -> dict[float, float]:
    """``{fpr: threshold_for_fpr(scores_real, fpr)}`` for each requested rate."""
    scores = _as_raw(scores_real)
    return {float(fpr): threshold_for_fpr(scores, fpr) for fpr in fprs}


def threshold_for_fpr_on(detector: Detector, dataset: Dataset, fpr: float, batch_size: int = 32) -> float:
    """Score the real images of ``dataset`` with ``detector`` and return `threshold_for_fpr` of them.

    Images that cannot be loaded are skipped with a warning. (Lives in
    `aidetect.recalibrate`, beside the other detector-level calibration.)
    """
    from aidetect.recalibrate import threshold_for_fpr_on as measure

    return measure(detector, dataset, fpr, batch_size)


# Thresholds that count each source equally live in `aidetect.thresholds`; importable from here as well.
from aidetect.thresholds import leave_one_source_out, threshold_for_source_fpr  # noqa: E402
