"""forensic-svm: training on a toy set, skops persistence without pickle, refusal of bad files, CLI training."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("sklearn")
pytest.importorskip("cv2")
pytest.importorskip("skops")

import aidetect
from aidetect.cli import main
from aidetect.datasets import from_folder
from aidetect.detectors.forensic_svm import (
    ForensicSVMDetector,
    audit_types,
    parse_grid,
    training_features,
)
from aidetect.errors import ChecksumMismatchError, DatasetError, WeightsError
from aidetect.features import FEATURE_NAMES

SIZE = 64


def _real(rng: np.random.Generator) -> np.ndarray:
    """Photo-like: smooth structure plus independent pixel noise."""
    ramp = np.linspace(30, 220, SIZE, dtype=np.float32)
    base = ramp[None, :, None] * 0.6 + ramp[:, None, None] * 0.4 + rng.normal(0, 6, (SIZE, SIZE, 3))
    return np.clip(base, 0, 255).astype(np.uint8)


def _fake(rng: np.random.Generator) -> np.ndarray:
    """Generator-like: a noiseless image up-sampled 2x by pixel repetition (a periodic trace)."""
    small = _real(rng)[::2, ::2].astype(np.float32)
    smooth = small - rng.normal(0, 6, small.shape) * 0.9  # most of the noise removed
    return np.clip(np.repeat(np.repeat(smooth, 2, axis=0), 2, axis=1), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("toy-forensic")
    rng = np.random.default_rng(0)
    for label, make in (("real", _real), ("fake", _fake)):
        (root / label).mkdir()
        for index in range(16):
            Image.fromarray(make(rng)).save(root / label / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def trained(toy_root: Path) -> ForensicSVMDetector:
    dataset = from_folder(toy_root)
    return ForensicSVMDetector(tile_size=32, augment_jpeg=False, views_per_image=1, C=1.0).fit(dataset, val=dataset)


@pytest.fixture(scope="module")
def saved(trained: ForensicSVMDetector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return trained.save(tmp_path_factory.mktemp("weights") / "toy.skops")


def test_learns_the_periodic_trace(trained: ForensicSVMDetector, toy_root: Path) -> None:
    fakes = trained.predict_batch(sorted((toy_root / "fake").iterdir()))
    reals = trained.predict_batch(sorted((toy_root / "real").iterdir()))
    assert min(p.score for p in fakes) > max(p.score for p in reals)
    assert all(p.label == "ai" for p in fakes) and all(p.label == "real" for p in reals)


def test_card_records_the_recipe(trained: ForensicSVMDetector) -> None:
    card = trained.card_
    assert card["features"]["count"] == len(FEATURE_NAMES)
    assert card["training"]["hyper_parameters"]["C"] == 1.0
    assert card["training"]["n"] == 32
    assert card["calibration"]["method"] == "platt"


def test_views_per_image_multiplies_training_rows(toy_root: Path) -> None:
    dataset = from_folder(toy_root)
    X, y = training_features(ForensicSVMDetector(tile_size=32, views_per_image=3, seed=1), dataset)
    assert X.shape == (3 * len(dataset), len(FEATURE_NAMES))
    np.testing.assert_array_equal(y, np.repeat(dataset.labels, 3))
    assert not np.array_equal(X[0], X[1])  # each view is its own JPEG re-save and crop


def test_save_and_load_round_trip(trained: ForensicSVMDetector, saved: Path, toy_root: Path) -> None:
    card = json.loads(saved.with_suffix(".json").read_text())
    assert card["weights"]["format"] == "skops" and len(card["weights"]["sha256"]) == 64
    loaded = aidetect.load("forensic-svm", weights=saved)
    images = sorted((toy_root / "fake").iterdir())[:4]
    np.testing.assert_allclose([p.score for p in loaded.predict_batch(images)],
                               [p.score for p in trained.predict_batch(images)], atol=1e-12)


def test_the_file_holds_no_pickle(saved: Path) -> None:
    with zipfile.ZipFile(saved) as archive:
        assert "schema.json" in archive.namelist()
        assert all(not name.endswith((".pkl", ".pickle")) for name in archive.namelist())
    assert audit_types(saved) == []


def test_tampered_weights_are_refused(saved: Path, tmp_path: Path) -> None:
    copy = tmp_path / "toy.skops"
    copy.write_bytes(saved.read_bytes() + b"\0")
    (tmp_path / "toy.json").write_text(saved.with_suffix(".json").read_text())
    with pytest.raises(ChecksumMismatchError):
        aidetect.load("forensic-svm", weights=copy).predict(np.zeros((64, 64, 3), np.uint8))


def test_untrusted_types_are_refused_before_loading(saved: Path, tmp_path: Path) -> None:
    """A file naming a type outside the allow-list is refused from its schema, even with a matching card."""
    from aidetect.weights import sha256_file

    evil = tmp_path / "evil.skops"
    with zipfile.ZipFile(saved) as source, zipfile.ZipFile(evil, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "schema.json":
                data = data.replace(b'"sklearn.svm._classes"', b'"os"').replace(b'"SVC"', b'"system"')
            target.writestr(item, data)
    card = json.loads(saved.with_suffix(".json").read_text())
    card["weights"].update(file=evil.name, sha256=sha256_file(evil))
    evil.with_suffix(".json").write_text(json.dumps(card))
    assert "os.system" in audit_types(evil)
    with pytest.raises(WeightsError, match="untrusted"):
        aidetect.load("forensic-svm", weights=evil).predict(np.zeros((64, 64, 3), np.uint8))


def test_one_class_training_data_is_a_dataset_error(toy_root: Path) -> None:
    reals = from_folder(toy_root).where(lambda sample: sample.label == 0)
    with pytest.raises(DatasetError, match="both real and AI"):
        ForensicSVMDetector(tile_size=32).fit(reals, val=reals)


def test_grid_text_is_parsed() -> None:
    assert parse_grid("C=1,10;gamma=scale,0.01;kernel=rbf") == {
        "C": [1.0, 10.0], "gamma": ["scale", 0.01], "kernel": ["rbf"]}
    with pytest.raises(ValueError, match="bad grid entry"):
        parse_grid("depth=3")


def test_cli_trains_with_a_grid(toy_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.skops"
    code = main(["train", "forensic-svm", "--data", str(toy_root), "--out", str(out), "--grid", "C=0.1,1",
                 "-o", "tile_size=32", "-o", "augment_jpeg=false", "-o", "views_per_image=1"])
    assert code == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert {row["C"] for row in card["training"]["grid_search"]["results"]} == {0.1, 1.0}
    assert card["training"]["hyper_parameters"]["C"] == card["training"]["grid_search"]["best_params"]["C"]


def test_cards_hold_no_nan(tmp_path: Path) -> None:
    """A one-class generator has no AUC: the card says null rather than writing invalid JSON."""
    from aidetect.jsonio import write_json

    path = tmp_path / "card.json"
    write_json(path, {"per_generator": {"only-fakes": {"roc_auc": float("nan"), "recall": np.float64(0.5)}}})
    assert json.loads(path.read_text()) == {"per_generator": {"only-fakes": {"roc_auc": None, "recall": 0.5}}}


@pytest.fixture(scope="module")
def toy_generators_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """real/ and fake/<generator>/ with two toy generators."""
    root = tmp_path_factory.mktemp("toy-generators")
    rng = np.random.default_rng(1)
    for folder, make, count in (("real", _real, 20), ("fake/gen-a", _fake, 10), ("fake/gen-b", _fake, 10)):
        (root / folder).mkdir(parents=True)
        for index in range(count):
            Image.fromarray(make(rng)).save(root / folder / f"{index}.png")
    return root


def test_cli_leave_one_generator_out(
    toy_generators_root: Path, saved: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report"
    code = main(["evaluate", str(toy_generators_root), "-d", f"forensic-svm={saved}", "--leave-one-out", "gen-a",
                 "--output", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "leave one generator out, forensic-svm" in printed and "gen-a" in printed
    table = json.loads((out / "leave_one_out_forensic-svm.json").read_text())
    assert set(table) == {"gen-a"} and table["gen-a"]["n_ai"] == 10


def test_cli_leave_one_out_of_an_unknown_generator_is_a_clear_error(
    toy_generators_root: Path, saved: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["evaluate", str(toy_generators_root), "-d", f"forensic-svm={saved}", "--leave-one-out", "gen-zzz"])
    assert code != 0
    assert "gen-zzz" in capsys.readouterr().err


def test_isotonic_calibration_is_fitted_saved_and_reloaded(toy_root: Path, tmp_path: Path) -> None:
    dataset = from_folder(toy_root)
    detector = ForensicSVMDetector(tile_size=32, augment_jpeg=False, views_per_image=1, calibration="isotonic")
    detector.fit(dataset, val=dataset)
    assert detector.card_["calibration"]["method"] == "isotonic"
    saved = detector.save(tmp_path / "iso.skops")
    images = sorted((toy_root / "real").iterdir())[:3]
    np.testing.assert_allclose([p.score for p in aidetect.load("forensic-svm", weights=saved).predict_batch(images)],
                               [p.score for p in detector.predict_batch(images)])
