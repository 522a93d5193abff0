"""Model cards and weights files: checksums, the cache folder, downloads, the lookup order."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aidetect import weights
from aidetect.errors import ChecksumMismatchError, WeightsError
from aidetect.preprocess import Normalisation
from aidetect.weights import ModelCard, cache_dir, fetch, load_card, resolve_weights, sha256_file, verify

PAYLOAD = b"pretend these are network weights\n" * 100
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()
TIMEOUT = 5.0


def make_card(path: Path | None = None, **changes) -> ModelCard:
    fields = dict(name="toy", architecture="toy-net", weights_file="toy.bin", sha256=PAYLOAD_SHA, path=path)
    return ModelCard(**(fields | changes))


@pytest.fixture
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Separate, empty card / bundled / cache folders; nothing touches the real package or ~/.cache."""
    dirs = {name: tmp_path / name for name in ("cards", "bundled", "cache")}
    for folder in dirs.values():
        folder.mkdir()
    monkeypatch.setattr(weights, "bundled_dir", lambda: dirs["bundled"])
    monkeypatch.setenv("AIDETECT_HOME", str(dirs["cache"]))
    return dirs


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on 127.0.0.1 (any free port) serving a folder; yields (base URL, folder)."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=TIMEOUT)


# -- checksums ---------------------------------------------------------------------------------------


def test_sha256_and_verify(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(PAYLOAD)
    assert sha256_file(path) == PAYLOAD_SHA
    assert verify(path, PAYLOAD_SHA.upper()) == path


def test_a_tampered_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.bin"
    path.write_bytes(PAYLOAD[:-1] + b"!")
    with pytest.raises(ChecksumMismatchError) as caught:
        verify(path, PAYLOAD_SHA)
    assert caught.value.expected == PAYLOAD_SHA and caught.value.actual == sha256_file(path)
    assert isinstance(caught.value, WeightsError) and "refusing to load" in str(caught.value)


# -- the cache folder --------------------------------------------------------------------------------


def test_cache_dir_prefers_aidetect_home_then_xdg_then_home(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("AIDETECT_HOME", str(tmp_path / "aidetect-home"))
    assert cache_dir() == tmp_path / "aidetect-home"
    monkeypatch.delenv("AIDETECT_HOME")
    assert cache_dir() == tmp_path / "xdg" / "aidetect"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == tmp_path / "home" / ".cache" / "aidetect"
    monkeypatch.setenv("AIDETECT_HOME", "~/models")
    assert cache_dir() == tmp_path / "home" / "models"


# -- downloads ---------------------------------------------------------------------------------------


def test_fetch_keeps_a_download_with_the_right_sha(server, tmp_path: Path) -> None:
    url, root = server
    (root / "w.bin").write_bytes(PAYLOAD)
    destination = tmp_path / "cache" / "sub" / "w.bin"
    assert fetch(f"{url}/w.bin", destination, PAYLOAD_SHA, timeout=TIMEOUT) == destination
    assert destination.read_bytes() == PAYLOAD
    assert sorted(p.name for p in destination.parent.iterdir()) == ["w.bin"]  # no .part left over


def test_fetch_refuses_a_wrong_sha_and_leaves_nothing(server, tmp_path: Path) -> None:
    url, root = server
    (root / "w.bin").write_bytes(PAYLOAD)
    destination = tmp_path / "cache" / "w.bin"
    with pytest.raises(ChecksumMismatchError) as caught:
        fetch(f"{url}/w.bin", destination, "0" * 64, timeout=TIMEOUT)
    assert caught.value.path == f"{url}/w.bin" and caught.value.actual == PAYLOAD_SHA
    assert list(destination.parent.iterdir()) == []


def test_fetch_failures_are_weights_errors_and_leave_nothing(server, tmp_path: Path) -> None:
    url, _ = server
    destination = tmp_path / "cache" / "w.bin"
    with pytest.raises(WeightsError, match=r"download of .* failed"):
        fetch(f"{url}/missing.bin", destination, PAYLOAD_SHA, timeout=TIMEOUT)
    assert list(destination.parent.iterdir()) == []
    with pytest.raises(WeightsError, match="without a sha256"):
        fetch(f"{url}/w.bin", destination, "", timeout=TIMEOUT)


# -- where weights are found -------------------------------------------------------------------------


def put(folder: Path, content: bytes = PAYLOAD, name: str = "toy.bin") -> Path:
    path = folder / name
    path.write_bytes(content)
    return path


def test_an_explicit_path_wins(isolated_dirs) -> None:
    put(isolated_dirs["bundled"])
    explicit = put(isolated_dirs["cards"], name="mine.bin")
    assert resolve_weights(make_card(), explicit) == explicit
    with pytest.raises(WeightsError, match="not found"):
        resolve_weights(make_card(), isolated_dirs["cards"] / "absent.bin")


def test_an_explicit_path_with_its_own_card_is_checked_against_that_card(isolated_dirs) -> None:
    trained = put(isolated_dirs["cards"], b"my own training run", name="mine.bin")
    make_card(sha256=sha256_file(trained), weights_file="mine.bin").write(trained.with_suffix(".json"))
    assert resolve_weights(make_card(), trained) == trained  # the bundled card's sha does not apply


def test_the_card_folder_then_bundled_then_cache(isolated_dirs) -> None:
    card_in_folder = make_card(path=isolated_dirs["cards"] / "toy.json")
    put(isolated_dirs["cache"], b"tampered cache copy")  # would fail verification if it were looked at first
    put(isolated_dirs["bundled"])
    assert resolve_weights(make_card()) == isolated_dirs["bundled"] / "toy.bin"
    assert resolve_weights(card_in_folder) == isolated_dirs["bundled"] / "toy.bin"
    put(isolated_dirs["cards"])
    assert resolve_weights(card_in_folder) == isolated_dirs["cards"] / "toy.bin"


def test_the_cache_is_used_when_nothing_is_bundled(isolated_dirs) -> None:
    cached = put(isolated_dirs["cache"])
    assert resolve_weights(make_card()) == cached
    assert weights.has_weights(make_card())


def test_a_tampered_bundled_file_is_refused_not_skipped(isolated_dirs) -> None:
    put(isolated_dirs["bundled"], b"tampered")
    put(isolated_dirs["cache"])
    with pytest.raises(ChecksumMismatchError):
        resolve_weights(make_card())


def test_the_url_is_the_last_resort_and_fills_the_cache(isolated_dirs, server) -> None:
    url, root = server
    put(root)
    card = make_card(url=f"{url}/toy.bin")
    assert not weights.has_weights(card)
    with pytest.raises(WeightsError, match="neither bundled nor cached"):
        resolve_weights(card, download=False)
    assert resolve_weights(card) == isolated_dirs["cache"] / "toy.bin"
    assert weights.has_weights(card)
    (root / "toy.bin").unlink()  # the second lookup must not need the network
    assert resolve_weights(card) == isolated_dirs["cache"] / "toy.bin"


def test_no_weights_and_no_url(isolated_dirs) -> None:
    with pytest.raises(WeightsError, match="names no download URL"):
        resolve_weights(make_card())


# -- model cards -------------------------------------------------------------------------------------


def full_card() -> ModelCard:
    return make_card(
        input_size=160,
        normalisation=Normalisation((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
        max_tiles_per_side=2,
        threshold=0.42,
        calibration={"method": "platt", "a": 1.5, "b": -0.25},
        fpr_thresholds={0.01: 0.91, 0.05: 0.7},
        url="https://example.invalid/toy.bin",
        info={"metrics": {"roc_auc": 0.97}, "license": "Apache-2.0"},
    )


def test_card_round_trips_through_dict_and_file(tmp_path: Path) -> None:
    card = full_card()
    assert ModelCard.from_dict(card.to_dict()) == card
    path = card.write(tmp_path / "toy.json")
    loaded = ModelCard.from_file(path)
    assert loaded == card and loaded.path == path
    assert load_card(path) == card


def test_card_json_shape(tmp_path: Path) -> None:
    data = full_card().to_dict()
    assert data["weights"] == {"file": "toy.bin", "sha256": PAYLOAD_SHA, "url": "https://example.invalid/toy.bin"}
    assert data["crop_policy"] == {"input_size": 160, "max_tiles_per_side": 2}
    assert data["fpr_thresholds"] == {"0.01": 0.91, "0.05": 0.7} and data["license"] == "Apache-2.0"


@pytest.mark.parametrize(
    "breakage",
    [
        lambda d: d.pop("name"),
        lambda d: d.pop("weights"),
        lambda d: d["weights"].pop("sha256"),
        lambda d: d.update(weights="toy.bin"),
        lambda d: d.update(threshold="high"),
        lambda d: d.update(fpr_thresholds={"one percent": 0.9}),
        lambda d: d["weights"].update(sha256=1234),
    ],
    ids=["no-name", "no-weights", "no-sha", "weights-not-a-table", "bad-threshold", "bad-fpr", "sha-not-text"],
)
def test_a_malformed_card_is_a_weights_error(breakage) -> None:
    data = full_card().to_dict()
    breakage(data)
    with pytest.raises(WeightsError, match="malformed model card"):
        ModelCard.from_dict(data)


def test_unreadable_or_unknown_cards(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(WeightsError, match="cannot read model card"):
        ModelCard.from_file(broken)
    with pytest.raises(WeightsError, match="no model card named 'no-such-card'"):
        load_card("no-such-card")
