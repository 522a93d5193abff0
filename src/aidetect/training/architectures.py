"""Deprecated location: the networks moved to `aidetect.detectors.architectures` (inference needs them)."""

from aidetect.detectors.architectures import (
    EFFICIENTNET_ARCH,
    CNNConfig,
    HighPassResidual,
    SmallCNN,
    build_efficientnet_lite0,
)

__all__ = ["EFFICIENTNET_ARCH", "CNNConfig", "HighPassResidual", "SmallCNN", "build_efficientnet_lite0"]
