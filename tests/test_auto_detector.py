"""The ``auto`` detector (strong metadata decides, else pixels), scan output with evidence, ``aidetect inspect``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

import aidetect
from aidetect.cli import main
from aidetect.errors import ImageError
from aidetect.scan import scan
from conftest import BRIGHT, DARK
from provenance_files import A1111_PARAMETERS, exif

pytestmark = pytest.mark.usefixtures("test_detectors")


def grey_file(value: int, fmt: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((32, 32, 3), value, np.uint8)).save(buffer, fmt, **options)
    return buffer.getvalue()


def a1111_png(value: int) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", A1111_PARAMETERS)
    return grey_file(value, pnginfo=info)


@pytest.fixture
def auto() -> aidetect.Detector:
    return aidetect.load("auto", pixel_detector="test-brightness")


def test_strong_metadata_decides_and_the_pixel_score_is_kept(auto: aidetect.Detector) -> None:
    prediction = auto.predict(a1111_png(DARK))  # the pixels look "real" to the pixel detector
    assert (prediction.label, prediction.score, prediction.detector) == ("ai", 0.99, "auto")
    kinds = [finding.kind for finding in prediction.evidence]
    assert kinds == ["png-parameters", "pixel-detector"]
    pixel = prediction.evidence[-1]
    assert pixel.indicates == "real" and pixel.score is not None and pixel.score < 0.01
    assert len(prediction.crop_scores) == 4


def test_without_strong_metadata_the_pixels_decide(auto: aidetect.Detector) -> None:
    camera = auto.predict(grey_file(BRIGHT, "JPEG", exif=exif(camera=True)))
    assert camera.label == "ai" and camera.score > 0.9  # camera EXIF is weak: it cannot overrule the pixels
    assert [f.kind for f in camera.evidence] == ["camera-exif", "pixel-detector"]
    bare = auto.predict(grey_file(DARK))
    assert bare.label == "real" and [f.kind for f in bare.evidence] == ["pixel-detector"]
    assert bare.score == aidetect.load("test-brightness").predict(grey_file(DARK)).score


def test_pixels_can_be_skipped_once_metadata_decided() -> None:
    auto = aidetect.load("auto", pixel_detector="test-brightness", always_score_pixels=False)
    data = a1111_png(DARK)
    broken_pixels = data[: data.index(b"IDAT") + 8]  # metadata intact, image data cut off
    for source in (data, broken_pixels):
        prediction = auto.predict(source)
        assert prediction.label == "ai" and [f.kind for f in prediction.evidence] == ["png-parameters"]


def test_broken_pixels_without_strong_metadata_are_an_image_error(auto: aidetect.Detector, tmp_path: Path) -> None:
    data = grey_file(DARK)
    path = tmp_path / "cut.png"
    path.write_bytes(data[: data.index(b"IDAT") + 8])
    with pytest.raises(ImageError) as caught:
        auto.predict(path)
    assert caught.value.source == str(path)


def test_options_reach_the_pixel_detector() -> None:
    auto = aidetect.load("auto", pixel_detector="test-brightness", threshold=0.99)
    assert auto.predict(grey_file(DARK)).threshold == 0.99


def test_arrays_and_pil_images(auto: aidetect.Detector) -> None:
    assert auto.predict(np.full((32, 32, 3), BRIGHT, np.uint8)).label == "ai"
    with Image.open(io.BytesIO(a1111_png(DARK))) as image:
        assert auto.predict(image).evidence[0].kind == "png-parameters"


def test_scan_with_auto_and_provenance_reports_evidence(tmp_path: Path) -> None:
    (tmp_path / "gen.png").write_bytes(a1111_png(DARK))
    (tmp_path / "plain.png").write_bytes(grey_file(BRIGHT))
    (tmp_path / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnope")
    results = {Path(r.path).name: r for r in scan(tmp_path, "auto", options={"pixel_detector": "test-brightness"},
                                                   workers=1)}
    assert results["gen.png"].label == "ai" and results["plain.png"].label == "ai"
    assert results["gen.png"].evidence_summary() == "png-parameters:strong:ai;pixel-detector:weak:real"
    assert results["gen.png"].to_dict()["evidence"][0]["kind"] == "png-parameters"
    assert not results["broken.png"].ok
    metadata_only = {Path(r.path).name: r.label for r in scan(tmp_path, "provenance", workers=1)}
    assert metadata_only == {"gen.png": "ai", "plain.png": "uncertain", "broken.png": "uncertain"}


def test_scan_csv_has_an_evidence_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "gen.png").write_bytes(a1111_png(DARK))
    assert main(["scan", str(tmp_path), "-d", "provenance", "-f", "csv", "--workers", "1"]) == 0
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert row["label"] == "ai" and row["evidence"] == "png-parameters:strong:ai"


def test_inspect_prints_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "gen.png").write_bytes(a1111_png(DARK))
    (tmp_path / "camera.jpg").write_bytes(grey_file(DARK, "JPEG", exif=exif(camera=True)))
    (tmp_path / "plain.png").write_bytes(grey_file(DARK))
    assert main(["inspect", str(tmp_path), str(tmp_path / "missing.png")]) == 0
    out, err = capsys.readouterr()
    assert f"{tmp_path / 'gen.png'}: ai (0.99)" in out and "[strong → ai] png-parameters" in out
    assert "[weak → real] camera-exif: make 'Canon'" in out
    assert f"{tmp_path / 'plain.png'}: uncertain (0.50)\n  no provenance metadata found" in out
    assert "skipped" in err and "missing.png" in err
    assert main(["inspect", "-f", "json", str(tmp_path / "gen.png")]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["label"] == "ai" and record["evidence"][0]["strength"] == "strong"


def test_the_default_pixel_detector_is_efficientnet() -> None:
    auto = aidetect.load("auto")
    prediction = auto.predict(grey_file(DARK))
    assert auto.pixels_.name == "efficientnet" and prediction.evidence[-1].detail.startswith("efficientnet scored")
    assert prediction.score == pytest.approx(aidetect.load("efficientnet").predict(grey_file(DARK)).score)


class _RulelessPixels:
    """A duck-typed plugin pixel detector: predict/predict_batch only, no decision_rule()."""

    name = "ruleless"

    def predict(self, image: object) -> aidetect.Prediction:
        return self.predict_batch([image])[0]

    def predict_batch(self, images: object, batch_size: int = 32) -> list[aidetect.Prediction]:
        return [aidetect.Prediction(0.7, "ai", 0.6, self.name) for _ in list(images)]  # type: ignore[call-overload]


def test_a_pixel_detector_without_a_rule_gets_a_numeric_threshold() -> None:
    auto = aidetect.load("auto", pixel_detector=_RulelessPixels())
    decided = auto.predict(a1111_png(DARK))  # decided by metadata: the threshold comes from auto itself
    assert decided.label == "ai" and decided.threshold == 0.5
    assert auto.predict(grey_file(DARK)).threshold == 0.6  # the pixels decide: their own threshold
