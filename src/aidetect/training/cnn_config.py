"""Deprecated location: `CNNConfig` moved to `aidetect.detectors.cnn_config`."""

from aidetect.detectors.cnn_config import CNNConfig

__all__ = ["CNNConfig"]
