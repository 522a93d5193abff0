"""The one training configuration type: every option that decides a training run, torch-free.

`TrainConfig` is what a trainable neural detector keeps from its constructor's
training keywords (``aidetect.load("cnn", epochs=4, lr=1e-3)``), what
``aidetect train`` fills from its options, what the training loop
(`aidetect.training.loop.train`) runs, and what the model card records. It
imports neither torch nor the training package, so a detector can hold and
validate one without either; bad values are refused when the config is made,
before any training starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from aidetect.errors import InvalidOptionError
from aidetect.preprocess import Normalisation

OPTIMIZERS = ("adamw", "sgd")
BALANCING = ("weights", "sampler", "source")
CALIBRATIONS = ("platt", "isotonic")


@dataclass(frozen=True)
class AugmentConfig:
    """Probabilities and ranges of each augmentation (all applied to both classes)."""

    crop_size: int = 160
    resized_crop_p: float = 0.25
    resized_crop_scale: tuple[float, float] = (0.3, 1.0)
    rescale_p: float = 0.5
    rescale_range: tuple[float, float] = (0.25, 2.0)
    social_p: float = 0.25
    social_scale: tuple[float, float] = (0.4, 1.0)
    social_quality: tuple[int, int] = (60, 95)
    jpeg_p: float = 0.6
    jpeg_quality: tuple[int, int] = (50, 100)
    flip_p: float = 0.5
    color_jitter: float = 0.1

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run (saved beside its checkpoints and in the model card).

    ``balance``: ``"weights"`` (class weights in the loss), ``"sampler"``
    (class-balanced sampling) or ``"source"`` (class- and source-balanced
    sampling, sources weighted by ``size ** source_power``). ``calibration``:
    how the validation scores are mapped to P(AI) after training.
    """

    epochs: int = 8
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    warmup_epochs: float = 0.5
    patience: int = 3
    balance: str = "weights"
    source_power: float = 0.5
    seed: int = 0
    num_workers: int = 1
    threads: int | None = None
    eval_size: int | None = None
    max_steps_per_epoch: int | None = None
    calibration: str = "platt"
    normalisation: Normalisation = field(default_factory=Normalisation)
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        _require_choice("optimizer", self.optimizer, OPTIMIZERS)
        _require_choice("balance", self.balance, BALANCING)
        _require_choice("calibration", self.calibration, CALIBRATIONS)
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise InvalidOptionError(f"training option {name} must be at least 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise InvalidOptionError(f"training option lr must be positive, got {self.lr}")
        if self.num_workers < 0:
            raise InvalidOptionError(f"training option num_workers must be >= 0, got {self.num_workers}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_options(self, **options: Any) -> TrainConfig:
        """A copy with ``options`` applied; ``crop_size`` sets ``augment.crop_size``; unknown names are refused."""
        options = dict(options)
        crop_size = options.pop("crop_size", None)
        unknown = sorted(set(options) - TRAIN_OPTION_NAMES)
        if unknown:
            raise InvalidOptionError(
                f"unknown training option(s) {unknown}; known: {sorted(TRAIN_OPTION_NAMES | {'crop_size'})}"
            )
        if isinstance(options.get("augment"), Mapping):
            options["augment"] = AugmentConfig(**options["augment"])
        config = replace(self, **options)
        if crop_size is not None:
            config = replace(config, augment=replace(config.augment, crop_size=int(crop_size)))
        return config


TRAIN_OPTION_NAMES = frozenset(f.name for f in fields(TrainConfig))
"""The keyword arguments a trainable neural detector accepts as training options (plus ``crop_size``)."""


def _require_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InvalidOptionError(f"training option {name} must be one of {list(choices)}, got {value!r}")
