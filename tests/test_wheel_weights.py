"""The wheel carries what prediction needs; the torch state dict (fine-tuning start point) comes on demand.

`efficientnet.pt` (13.8 MB) is left out of the wheel. `aidetect.weights.resolve_card_file` finds it beside
the card, bundled (git checkout, sdist) or cached, else downloads it from the card entry's ``url`` and keeps
it only if its sha256 is the card's. The downloads here come from a server on 127.0.0.1.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from aidetect.errors import ChecksumMismatchError, WeightsError
from aidetect.weights import ModelCard, bundled_dir, resolve_card_file, sha256_file
from test_weights import isolated_dirs, server  # noqa: F401  (fixtures)

REPO = Path(__file__).resolve().parents[1]
STATE_DICT = "efficientnet.pt"


def card_with_state_dict_url(folder: Path, url: str | None) -> ModelCard:
    """The bundled efficientnet card, copied to ``folder``, its state-dict entry given ``url``."""
    data = json.loads((bundled_dir() / "efficientnet.json").read_text(encoding="utf-8"))
    if url is not None:
        data["torch_state_dict"]["url"] = url
    path = folder / "efficientnet.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return ModelCard.from_file(path)


@pytest.fixture
def published_state_dict(server) -> tuple[str, Path]:  # noqa: F811
    """The real state dict served over HTTP, as a release would publish it."""
    base, root = server
    shutil.copy(REPO / "src" / "aidetect" / "models" / STATE_DICT, root / STATE_DICT)
    return f"{base}/{STATE_DICT}", root / STATE_DICT


def test_the_state_dict_downloads_into_the_cache_checked(isolated_dirs, published_state_dict) -> None:  # noqa: F811
    url, served = published_state_dict
    card = card_with_state_dict_url(isolated_dirs["cards"], url)
    path = resolve_card_file(card, "torch_state_dict")
    assert path == isolated_dirs["cache"] / STATE_DICT
    assert sha256_file(path) == card.info["torch_state_dict"]["sha256"] == sha256_file(served)
    served.unlink()  # the second time it comes from the cache
    assert resolve_card_file(card, "torch_state_dict") == path


def test_a_tampered_download_is_refused_and_not_kept(isolated_dirs, published_state_dict) -> None:  # noqa: F811
    url, served = published_state_dict
    data = bytearray(served.read_bytes())
    data[len(data) // 2] ^= 0xFF
    served.write_bytes(bytes(data))
    card = card_with_state_dict_url(isolated_dirs["cards"], url)
    with pytest.raises(ChecksumMismatchError):
        resolve_card_file(card, "torch_state_dict")
    assert not any(isolated_dirs["cache"].iterdir())


def test_without_a_url_the_error_names_the_file_its_sha256_and_where_to_put_it(isolated_dirs) -> None:  # noqa: F811
    card = card_with_state_dict_url(isolated_dirs["cards"], None)
    sha = card.info["torch_state_dict"]["sha256"]
    with pytest.raises(WeightsError) as excinfo:
        resolve_card_file(card, "torch_state_dict")
    message = str(excinfo.value)
    assert STATE_DICT in message and sha in message and str(isolated_dirs["cache"]) in message


@pytest.mark.slow
def test_torch_users_rebuild_the_network_from_a_downloaded_state_dict(
    isolated_dirs, published_state_dict, tmp_path  # noqa: F811
) -> None:
    pytest.importorskip("torch")
    from aidetect.detectors.efficientnet import EfficientNetDetector

    url, _ = published_state_dict
    card_with_state_dict_url(isolated_dirs["cards"], url)
    shutil.copy(REPO / "src" / "aidetect" / "models" / "efficientnet.onnx", isolated_dirs["cards"])
    detector = EfficientNetDetector(weights=isolated_dirs["cards"] / "efficientnet.onnx")
    network = detector.torch_module()
    assert sum(p.numel() for p in network.parameters()) > 3_000_000
    assert (isolated_dirs["cache"] / STATE_DICT).exists()


@pytest.mark.slow
def test_the_wheel_leaves_the_state_dict_out_and_keeps_what_prediction_needs(tmp_path) -> None:
    pytest.importorskip("hatchling")
    subprocess.run([sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path)], cwd=REPO,
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    models = {Path(name).name for name in names if name.startswith("aidetect/models/")}
    assert STATE_DICT not in models
    needed = {"efficientnet.onnx", "efficientnet-int8.onnx", "efficientnet.json", "cnn.pt", "forensic-svm.skops"}
    assert needed <= models
    # Size follows what is left in: every other bundled file, plus code and docs, but not the 13.8 MB state dict.
    shipped = sum(path.stat().st_size for path in bundled_dir().iterdir() if path.name != STATE_DICT)
    assert wheel.stat().st_size < shipped + 2_000_000 < shipped + (bundled_dir() / STATE_DICT).stat().st_size
