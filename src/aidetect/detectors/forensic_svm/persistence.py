"""Loading a forensic-svm safely: card lookup, sha256 check, skops type audit, pipeline shape check."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from aidetect.detectors.forensic_svm.constants import CARD_NAME, PIPELINE_STEPS, TRUSTED_TYPES
from aidetect.errors import NotFittedError, WeightsError
from aidetect.weights import ModelCard, card_for_weights, load_card, resolve_weights


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
        and [name for name, _ in pipeline.steps] == list(PIPELINE_STEPS)
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
