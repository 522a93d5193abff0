"""Model cards and weights files: where they are, and proof they are the right ones.

A model card is a small JSON file beside its weights (as timm's
``pretrained_cfg``): architecture, input size, normalisation, crop policy,
calibration, threshold, the weights file name and its sha256, training data
and metrics. Weights are looked up, in order: an explicit path, the files
bundled in the package (``aidetect/models/``), the cache directory
(``$AIDETECT_HOME``, else ``$XDG_CACHE_HOME/aidetect``, else
``~/.cache/aidetect``), and finally the card's ``url`` if it has one. Every
file is checked against the card's sha256 before use; no weights file is ever
read with pickle.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from aidetect.errors import ChecksumMismatchError, NotFittedError, WeightsError
from aidetect.preprocess import Normalisation

CARD_SUFFIX = ".json"


@dataclass(frozen=True)
class ModelCard:
    """Facts about one trained model; the detector reads its behaviour from here."""

    name: str
    architecture: str
    weights_file: str
    sha256: str
    input_size: int = 224
    normalisation: Normalisation = field(default_factory=Normalisation)
    max_tiles_per_side: int = 3
    threshold: float = 0.5
    calibration: dict[str, Any] = field(default_factory=lambda: {"method": "sigmoid"})
    fpr_thresholds: dict[float, float] = field(default_factory=dict)
    url: str | None = None
    info: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)
    weights_format: str | None = None
    """How the weights file is stored (``"onnx"``, ``"torch"``, ``"skops"``), when the card says."""

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: Path | None = None) -> ModelCard:
        try:
            weights = data["weights"]
            norm = data.get("normalisation", {})
            crop = data.get("crop_policy", {})
            return cls(
                name=data["name"],
                architecture=data.get("architecture", ""),
                weights_file=weights["file"],
                sha256=weights["sha256"].lower(),
                input_size=int(crop.get("input_size", data.get("input_size", 224))),
                normalisation=Normalisation(
                    tuple(norm.get("mean", (0.5, 0.5, 0.5))), tuple(norm.get("std", (0.5, 0.5, 0.5)))
                ),
                max_tiles_per_side=int(crop.get("max_tiles_per_side", 3)),
                threshold=float(data.get("threshold", 0.5)),
                calibration=dict(data.get("calibration") or {"method": "sigmoid"}),
                fpr_thresholds={float(k): float(v) for k, v in (data.get("fpr_thresholds") or {}).items()},
                url=weights.get("url"),
                info={k: v for k, v in data.items() if k not in _CARD_KEYS},
                path=path,
                weights_format=weights.get("format"),
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise WeightsError(f"{path or 'model card'}: malformed model card ({exc!r})") from exc

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ModelCard:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise WeightsError(f"{path}: cannot read model card ({exc})") from exc
        return cls.from_dict(data, path)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "architecture": self.architecture,
            "crop_policy": {"input_size": self.input_size, "max_tiles_per_side": self.max_tiles_per_side},
            "normalisation": asdict(self.normalisation),
            "threshold": self.threshold,
            "calibration": self.calibration,
            "fpr_thresholds": {f"{k:g}": v for k, v in sorted(self.fpr_thresholds.items())},
            "weights": {
                "file": self.weights_file, "sha256": self.sha256,
                **({"url": self.url} if self.url else {}),
                **({"format": self.weights_format} if self.weights_format else {}),
            },
        }
        data.update(self.info)
        return data

    def write(self, path: str | os.PathLike[str]) -> Path:
        """The card as JSON (NaN-free: a one-class AUC is ``null``)."""
        from aidetect.jsonio import write_json

        return write_json(path, self.to_dict())

    def replace(self, **changes: Any) -> ModelCard:
        """A copy with ``changes`` (fields of the card)."""
        return dataclasses.replace(self, **changes)

    def __getitem__(self, key: str) -> Any:
        """Deprecated: read the card as the JSON dict forensic-svm's ``card_`` used to be (``card["training"]``)."""
        warnings.warn("indexing a ModelCard is deprecated; use its attributes, or .info / .to_dict()",
                      DeprecationWarning, stacklevel=2)
        return self.to_dict()[key]

    def get(self, key: str, default: Any = None) -> Any:
        """Deprecated twin of `__getitem__`, with a default."""
        warnings.warn("ModelCard.get is deprecated; use its attributes, or .info / .to_dict()",
                      DeprecationWarning, stacklevel=2)
        return self.to_dict().get(key, default)


_CARD_KEYS = {"name", "architecture", "weights", "normalisation", "crop_policy", "input_size", "threshold",
              "calibration", "fpr_thresholds"}


def bundled_dir() -> Path:
    """The package folder that holds bundled weights and model cards."""
    return Path(str(resources.files("aidetect.models")))


def cache_dir() -> Path:
    """Where downloaded weights live: ``$AIDETECT_HOME``, else the XDG cache."""
    home = os.environ.get("AIDETECT_HOME")
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "aidetect"


def load_card(name_or_path: str | os.PathLike[str]) -> ModelCard:
    """A bundled card by name (``"efficientnet"``), or a card JSON by path."""
    candidate = Path(name_or_path)
    if candidate.suffix == CARD_SUFFIX and candidate.exists():
        return ModelCard.from_file(candidate)
    bundled = bundled_dir() / f"{name_or_path}{CARD_SUFFIX}"
    if bundled.exists():
        return ModelCard.from_file(bundled)
    raise WeightsError(f"no model card named {str(name_or_path)!r} (looked for {bundled})")


def card_for_weights(weights: str | os.PathLike[str]) -> ModelCard | None:
    """The card saved beside a weights file (``model.onnx`` -> ``model.json``), if any."""
    card_path = Path(weights).with_suffix(CARD_SUFFIX)
    return ModelCard.from_file(card_path) if card_path.exists() else None


def find_card(weights: str | os.PathLike[str] | None, *, card_name: str, detector: str) -> ModelCard:
    """The card of a model: the one beside ``weights`` if it has one, else the bundled card ``card_name``.

    Raises `NotFittedError` when neither exists (a trainable detector with nothing bundled).
    """
    if weights is not None:
        own = card_for_weights(weights)
        if own is not None:
            return own
    try:
        return load_card(card_name)
    except WeightsError as exc:
        raise NotFittedError(
            f"{detector}: no model card beside the weights and no bundled card {card_name!r} ({exc}); "
            f"train one with `aidetect train {detector}` or pass weights=PATH (with its .json card beside it)"
        ) from exc


def verified_model(weights: str | os.PathLike[str] | None, *, card_name: str, detector: str) -> tuple[ModelCard, Path]:
    """Card -> verify -> path: the one way every trainable detector finds its model before loading it.

    The card (`find_card`), then the weights it describes (`resolve_weights`),
    whose sha256 is checked before anything reads the file.
    """
    card = find_card(weights, card_name=card_name, detector=detector)
    return card, resolve_weights(card, weights)


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(path: str | os.PathLike[str], expected_sha256: str) -> Path:
    """Return ``path`` if its sha256 is ``expected_sha256``; raise `ChecksumMismatchError` otherwise."""
    actual = sha256_file(path)
    if actual != expected_sha256.lower():
        raise ChecksumMismatchError(str(path), expected_sha256.lower(), actual)
    return Path(path)


def has_weights(card: ModelCard) -> bool:
    """True when the card's weights file is bundled or cached (no check of its contents)."""
    return any(path.exists() for path in _local_candidates(card))


def resolve_weights(card: ModelCard, weights: str | os.PathLike[str] | None = None, *, download: bool = True) -> Path:
    """Find the weights the card describes and check their sha256.

    An explicit ``weights`` path is checked against ``card`` too, unless it has
    its own card beside it (a model you trained yourself), which is then used.
    """
    if weights is not None:
        path = Path(weights)
        if not path.exists():
            raise WeightsError(f"{path}: weights file not found")
        own_card = card_for_weights(path)
        return verify(path, (own_card or card).sha256)
    for path in _local_candidates(card):
        if path.exists():
            return verify(path, card.sha256)
    if card.url and download:
        return fetch(card.url, cache_dir() / card.weights_file, card.sha256)
    raise WeightsError(
        f"weights {card.weights_file!r} for {card.name!r} are neither bundled nor cached in {cache_dir()}"
        + ("" if card.url else " and the model card names no download URL")
    )


def _local_candidates(card: ModelCard, file_name: str | None = None) -> list[Path]:
    name = file_name or card.weights_file
    base = card.path.parent if card.path is not None else bundled_dir()
    return [base / name, bundled_dir() / name, cache_dir() / name]


def resolve_card_file(card: ModelCard, key: str, *, download: bool = True) -> Path:
    """A further file a card names under ``key`` (``{"file", "sha256", "url"?}``), found and checked as weights are.

    Used for the torch state dict, which the wheel leaves out (prediction never
    needs it): beside the card, bundled (a git checkout or sdist has it), in
    the cache directory, else downloaded from the entry's ``url`` into the cache.
    """
    entry = card.info.get(key)
    if not isinstance(entry, dict) or "file" not in entry or "sha256" not in entry:
        raise WeightsError(f"{card.name}: the model card names no {key!r} file")
    name, sha256, url = entry["file"], entry["sha256"], entry.get("url")
    for path in _local_candidates(card, name):
        if path.exists():
            return verify(path, sha256)
    if url and download:
        return fetch(url, cache_dir() / name, sha256)
    raise WeightsError(
        f"{name} ({key} of {card.name!r}, sha256 {sha256}) is not installed: wheels leave it out. "
        f"Put it in {cache_dir()} (from a git checkout or the sdist: src/aidetect/models/{name})"
        + (f" or download it from {url}" if url else "")
    )


def fetch(url: str, destination: str | os.PathLike[str], sha256: str, *, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``destination`` and keep it only if its sha256 matches.

    The file is written next to its destination and renamed into place after
    the check, so an interrupted or tampered download never leaves a usable file.
    """
    if not sha256:
        raise WeightsError(f"refusing to download {url} without a sha256 to check it against")
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    import urllib.request  # only a download needs it; keeps `import aidetect` light

    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=destination.name, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            shutil.copyfileobj(response, out)
        verify(temporary, sha256)
        os.replace(temporary, destination)
    except ChecksumMismatchError as exc:
        raise ChecksumMismatchError(url, exc.expected, exc.actual) from None
    except OSError as exc:
        raise WeightsError(f"download of {url} failed: {exc}") from exc
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return destination
