"""cnn and efficientnet: training, saving, loading, ONNX parity, torch-free inference."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch", reason="the torch extra is not installed")

from aidetect.datasets import from_folder  # noqa: E402
from aidetect.detectors.cnn import CNNDetector  # noqa: E402
from aidetect.detectors.efficientnet import EfficientNetDetector  # noqa: E402
from aidetect.export import PARITY_TOLERANCE, max_parity_error  # noqa: E402

pytestmark = pytest.mark.slow  # every test here trains or exports a network


def _write_toy_dataset(root: Path, n_per_class: int = 12, size: int = 48, seed: int = 0) -> Path:
    """Reals are smooth gradients with mild noise; fakes carry a strong checkerboard (an up-sampling trace)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, size, dtype=np.float32)
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for index in range(n_per_class):
            base = ramp[None, :, None] + ramp[:, None, None] * 0.2 + rng.normal(0, 4, (size, size, 3))
            if label == "fake":
                checker = (np.indices((size, size)).sum(axis=0) % 2)[:, :, None] * 40.0
                base = base + checker
            Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(root / label / f"{index}.png")
    return root


@pytest.fixture(scope="module")
def toy_data(tmp_path_factory: pytest.TempPathFactory):
    return from_folder(_write_toy_dataset(tmp_path_factory.mktemp("toy")))


@pytest.fixture(scope="module")
def held_out_data(tmp_path_factory: pytest.TempPathFactory):
    """Images of the same kinds, never trained or calibrated on (fresh noise)."""
    return from_folder(_write_toy_dataset(tmp_path_factory.mktemp("held-out"), n_per_class=8, seed=1))


@pytest.fixture(scope="module")
def trained_cnn(toy_data, tmp_path_factory):
    detector = CNNDetector(filters=(8, 16), dense_units=8, epochs=3, batch_size=8, crop_size=32, input_size=32,
                           num_workers=0, lr=5e-3, work_dir=tmp_path_factory.mktemp("cnn-run"))
    return detector.fit(toy_data, val=toy_data)


def test_cnn_detector_defaults_mirror_the_network_config():
    from aidetect.detectors.architectures import CNNConfig

    assert CNNConfig.from_dict(CNNDetector().network_config()) == CNNConfig()


def test_residual_stem_passes_high_frequencies_only():
    from aidetect.detectors.architectures import HighPassResidual

    stem = HighPassResidual()
    flat = torch.full((1, 3, 16, 16), 0.7)
    out = stem(flat)
    assert out.shape == (1, 6, 16, 16)
    assert torch.equal(out[:, :3], flat)  # the pixels themselves pass unchanged
    assert out[:, 3:].abs().max() < 1e-6  # a flat image has no residual
    checker = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2
    assert stem(checker.float().expand(1, 3, 16, 16))[:, 3:].abs().mean() > 1.0


def test_cnn_learns_an_easy_signal(trained_cnn, held_out_data):
    from aidetect.metrics import roc_auc

    scores = trained_cnn.predict_proba(held_out_data.paths)[:, 1]
    assert roc_auc(held_out_data.labels, scores) > 0.8  # on images it never saw


def test_cnn_card_holds_training_facts(trained_cnn):
    card = trained_cnn.card_
    assert card.calibration["method"] == "platt"
    assert set(card.fpr_thresholds) == {0.001, 0.01, 0.05, 0.1}
    assert card.info["network"]["filters"] == [8, 16]
    assert card.info["training"]["epochs_run"] >= 1


def test_cnn_save_and_load_round_trip(trained_cnn, toy_data, tmp_path):
    weights = trained_cnn.save(tmp_path / "cnn.pt")
    card = json.loads((tmp_path / "cnn.json").read_text())
    assert card["weights"]["file"] == "cnn.pt" and len(card["weights"]["sha256"]) == 64
    reloaded = CNNDetector(weights=weights)
    expected = trained_cnn.predict_proba(toy_data.paths[:6])
    np.testing.assert_allclose(reloaded.predict_proba(toy_data.paths[:6]), expected, atol=1e-6)


def test_cnn_onnx_export_matches_torch(trained_cnn, tmp_path):
    path = trained_cnn.export_onnx(tmp_path / "cnn.onnx")
    batch = np.random.default_rng(1).standard_normal((4, 3, 32, 32)).astype(np.float32)
    assert max_parity_error(trained_cnn.torch_module(), path, batch) < PARITY_TOLERANCE


def test_cnn_isotonic_calibration_goes_into_the_card(toy_data, tmp_path):
    detector = CNNDetector(filters=(4,), dense_units=4, epochs=1, batch_size=8, crop_size=32, input_size=32,
                           num_workers=0, work_dir=tmp_path / "run", calibration="isotonic").fit(toy_data, val=toy_data)
    assert detector.card_.calibration["method"] == "isotonic"
    reloaded = CNNDetector(weights=detector.save(tmp_path / "iso.pt"))
    np.testing.assert_allclose([p.score for p in reloaded.predict_batch(toy_data.paths[:3])],
                               [p.score for p in detector.predict_batch(toy_data.paths[:3])], atol=1e-6)


def test_cnn_tampered_weights_are_refused(trained_cnn, tmp_path):
    from aidetect.errors import ChecksumMismatchError

    weights = trained_cnn.save(tmp_path / "cnn.pt")
    weights.write_bytes(weights.read_bytes() + b"tampered")
    with pytest.raises(ChecksumMismatchError):
        CNNDetector(weights=weights).predict(np.zeros((40, 40, 3), dtype=np.uint8))


def test_cnn_is_deterministic_with_a_seed(toy_data, tmp_path):
    def run(seed: int) -> np.ndarray:
        detector = CNNDetector(filters=(4,), dense_units=4, epochs=1, batch_size=8, crop_size=32, input_size=32,
                               num_workers=0, seed=seed, work_dir=tmp_path / f"run{seed}-{np.random.rand()}")
        return detector.fit(toy_data, val=toy_data).decision_function(toy_data.paths[:4])

    np.testing.assert_array_equal(run(3), run(3))


def test_training_resumes_from_checkpoint(toy_data, tmp_path):
    first = CNNDetector(filters=(4,), dense_units=4, epochs=1, batch_size=8, crop_size=32, input_size=32,
                        num_workers=0, work_dir=tmp_path / "a").fit(toy_data, val=toy_data)
    assert len(first.history_) == 1
    resumed = CNNDetector(filters=(4,), dense_units=4, epochs=2, batch_size=8, crop_size=32, input_size=32,
                          num_workers=0, work_dir=tmp_path / "b", resume=tmp_path / "a" / "last.pt")
    resumed.fit(toy_data, val=toy_data)
    assert [record["epoch"] for record in resumed.history_] == [0, 1]


@pytest.fixture(scope="module")
def saved_efficientnet(toy_data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("effnet")
    detector = EfficientNetDetector(epochs=1, batch_size=8, crop_size=32, input_size=64, num_workers=0,
                                    work_dir=out / "run")
    detector.fit(toy_data, val=toy_data)
    return detector.save(out / "effnet.onnx")


def test_efficientnet_onnx_matches_torch(saved_efficientnet):
    detector = EfficientNetDetector(weights=saved_efficientnet)
    batch = np.random.default_rng(2).standard_normal((3, 3, 64, 64)).astype(np.float32)
    assert max_parity_error(detector.torch_module(), saved_efficientnet, batch) < PARITY_TOLERANCE


def test_efficientnet_onnx_accepts_another_input_size(saved_efficientnet, toy_data):
    """Height and width are dynamic in the export: input_size=96 runs, and matches torch there too."""
    detector = EfficientNetDetector(weights=saved_efficientnet, input_size=96)
    assert detector.crop_policy().input_size == 96
    batch = np.random.default_rng(3).standard_normal((2, 3, 96, 96)).astype(np.float32)
    assert max_parity_error(detector.torch_module(), saved_efficientnet, batch) < PARITY_TOLERANCE
    assert 0.0 <= detector.predict(toy_data.paths[0]).score <= 1.0


def test_efficientnet_threads_follow_omp_num_threads(saved_efficientnet, monkeypatch):
    """Scan workers set OMP_NUM_THREADS=1: the ONNX session must then use one thread, unless told otherwise."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    detector = EfficientNetDetector(weights=saved_efficientnet)
    detector.card_  # noqa: B018  (creates the session)
    assert detector.session_.get_session_options().intra_op_num_threads == 1
    explicit = EfficientNetDetector(weights=saved_efficientnet, threads=2)
    explicit.card_  # noqa: B018
    assert explicit.session_.get_session_options().intra_op_num_threads == 2
    monkeypatch.delenv("OMP_NUM_THREADS")
    default = EfficientNetDetector(weights=saved_efficientnet)
    default.card_  # noqa: B018
    assert default.session_.get_session_options().intra_op_num_threads == 0  # ONNX Runtime's own default


def test_efficientnet_predicts_without_importing_torch(saved_efficientnet, toy_data):
    script = textwrap.dedent(
        f"""
        import sys, json
        import aidetect
        detector = aidetect.load("efficientnet", weights={str(saved_efficientnet)!r})
        predictions = detector.predict_batch({[str(p) for p in toy_data.paths[:3]]!r})
        banned = [m for m in ("torch", "sklearn", "cv2") if m in sys.modules]
        print(json.dumps({{"banned": banned, "scores": [p.score for p in predictions]}}))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["banned"] == []
    assert all(0.0 <= score <= 1.0 for score in report["scores"])


def test_efficientnet_threads_give_identical_results(saved_efficientnet, toy_data):
    from concurrent.futures import ThreadPoolExecutor

    detector = EfficientNetDetector(weights=saved_efficientnet)
    paths = toy_data.paths[:8]
    sequential = [detector.predict(path).score for path in paths]
    with ThreadPoolExecutor(max_workers=4) as pool:
        threaded = list(pool.map(lambda path: detector.predict(path).score, paths * 3))
    assert threaded == sequential * 3


def test_tune_writes_a_config_the_cnn_accepts(toy_data, tmp_path):
    pytest.importorskip("optuna", reason="the tune extra is not installed")
    from aidetect.trainconfig import TrainConfig
    from aidetect.training.tune import tune

    out = tmp_path / "best.json"
    base = TrainConfig(epochs=2, batch_size=8, num_workers=0, max_steps_per_epoch=2)
    base = base.__class__(**{**vars(base), "augment": base.augment.__class__(crop_size=32)})
    summary = tune("cnn", toy_data, toy_data, trials=3, out=out, base_config=base)
    saved = json.loads(out.read_text())
    assert saved["network"] == summary["network"] and len(saved["trials"]) == 3
    detector = CNNDetector(config=out)
    assert detector.network_config() == saved["network"]
    # The tuned training entries become the detector's training config (explicit options would win).
    assert (detector.training.optimizer, detector.training.lr) == (saved["training"]["optimizer"],
                                                                    saved["training"]["lr"])
    assert CNNDetector(config=out, lr=0.5).training.lr == 0.5
    network = detector.build_network()
    assert network(torch.zeros(1, 3, 32, 32)).shape == (1, 1)


def test_tune_rejects_untunable_detectors(toy_data, tmp_path):
    pytest.importorskip("optuna")
    from aidetect.training.tune import tune

    with pytest.raises(ValueError, match="cnn"):
        tune("efficientnet", toy_data, toy_data, trials=1, out=tmp_path / "x.json")
