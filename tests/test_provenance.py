"""The provenance detector on files built in code: generator chunks, IPTC/XMP, EXIF; stripped copies abstain."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import aidetect
from aidetect.detectors.provenance import STRONG_SCORE, verdict
from aidetect.errors import DetectorError, EmptyImageError, ImageError, UnsupportedImageError
from aidetect.evidence import Evidence
from aidetect.provenance import read_provenance
from provenance_files import (
    A1111_PARAMETERS,
    COMFY_PROMPT,
    COMFY_WORKFLOW,
    NOVELAI_COMMENT,
    exif,
    jpeg,
    png,
    strip,
    with_jpeg_segment,
    xmp_source_type,
)

STRONG_AI_FILES: dict[str, tuple[Callable[[], bytes], str | tuple[str, ...]]] = {
    "a1111-parameters": (lambda: png({"parameters": A1111_PARAMETERS}), "png-parameters"),
    "a1111-parameters-ztxt": (lambda: png({"parameters": A1111_PARAMETERS}, compressed=("parameters",)),
                              "png-parameters"),
    "comfyui-prompt": (lambda: png({"prompt": COMFY_PROMPT}), "png-parameters"),
    "comfyui-workflow": (lambda: png({"workflow": COMFY_WORKFLOW}), "png-parameters"),
    "novelai": (lambda: png({"Software": "NovelAI", "Comment": NOVELAI_COMMENT}),
                ("png-software", "png-parameters")),
    "xmp-trained": (lambda: jpeg(xmp=xmp_source_type("trainedAlgorithmicMedia")), "iptc-digital-source-type"),
    "xmp-composite-element": (lambda: jpeg(xmp=xmp_source_type("compositeWithTrainedAlgorithmicMedia",
                                                               as_attribute=False)), "iptc-digital-source-type"),
    "png-xmp-trained": (lambda: png(xmp=xmp_source_type("trainedAlgorithmicMedia")), "iptc-digital-source-type"),
    "exif-software": (lambda: jpeg(exif=exif(software="Midjourney v6")), "exif-software"),
    "exif-a1111-user-comment": (lambda: jpeg(exif=exif(user_comment=A1111_PARAMETERS)), "exif-parameters"),
}


@pytest.fixture(scope="module")
def detector() -> aidetect.Detector:
    return aidetect.load("provenance")


@pytest.mark.parametrize("case", sorted(STRONG_AI_FILES))
def test_strong_generator_evidence_says_ai(detector: aidetect.Detector, case: str) -> None:
    build, kinds = STRONG_AI_FILES[case]
    prediction = detector.predict(build())
    assert prediction.label == "ai" and prediction.score == STRONG_SCORE and prediction.detector == "provenance"
    strong = [finding for finding in prediction.evidence if finding.is_strong]
    expected = (kinds,) if isinstance(kinds, str) else kinds
    assert [(f.kind, f.indicates) for f in strong] == [(kind, "ai") for kind in expected]


@pytest.mark.parametrize("case", sorted(STRONG_AI_FILES))
def test_a_stripped_copy_of_each_gives_uncertain(detector: aidetect.Detector, case: str) -> None:
    prediction = detector.predict(strip(STRONG_AI_FILES[case][0]()))
    assert (prediction.label, prediction.score, prediction.evidence) == ("uncertain", 0.5, ())


def test_camera_exif_is_weak_evidence_and_never_a_confident_real(detector: aidetect.Detector) -> None:
    prediction = detector.predict(jpeg(exif=exif(camera=True)))
    (finding,) = prediction.evidence
    assert (finding.kind, finding.strength, finding.indicates) == ("camera-exif", "weak", "real")
    assert "Canon EOS 80D" in finding.detail and "exposure" in finding.detail and "lens" in finding.detail
    assert prediction.label == "uncertain" and 0.3 < prediction.score < 0.5


def test_a_generator_beats_camera_tags_in_the_same_file(detector: aidetect.Detector) -> None:
    prediction = detector.predict(jpeg(exif=exif(camera=True, software="Stable Diffusion XL")))
    assert prediction.label == "ai"
    assert {f.kind for f in prediction.evidence} == {"exif-software", "camera-exif"}


def test_capture_source_type_in_xmp_is_only_weak(detector: aidetect.Detector) -> None:
    prediction = detector.predict(jpeg(xmp=xmp_source_type("digitalCapture")))
    (finding,) = prediction.evidence
    assert (finding.strength, finding.indicates, prediction.label) == ("weak", "real", "uncertain")


def test_generator_named_in_free_text_is_weak(detector: aidetect.Detector) -> None:
    prediction = detector.predict(jpeg(comment="made with Midjourney, then retouched"))
    (finding,) = prediction.evidence
    assert (finding.kind, finding.strength, finding.indicates) == ("generator-mention", "weak", "ai")
    assert prediction.label == "uncertain" and prediction.score > 0.5


def test_ordinary_metadata_is_no_evidence(detector: aidetect.Detector) -> None:
    """An editor's Software tag, a title, an unrelated text chunk: nothing to report."""
    prediction = detector.predict(png({"Title": "holiday", "Software": "GIMP 2.10"}))
    assert (prediction.label, prediction.score, prediction.evidence) == ("uncertain", 0.5, ())
    assert detector.predict(jpeg(exif=exif(software="Adobe Photoshop 25.0"))).evidence == ()


def test_a_parameters_chunk_without_settings_is_weak(detector: aidetect.Detector) -> None:
    (finding,) = detector.predict(png({"parameters": "hello"})).evidence
    assert (finding.kind, finding.strength) == ("png-parameters", "weak")


def test_inputs_paths_files_pil_images_and_arrays(detector: aidetect.Detector, tmp_path: Path) -> None:
    data = png({"parameters": A1111_PARAMETERS})
    path = tmp_path / "gen.png"
    path.write_bytes(data)
    assert detector.predict(path).label == "ai" and detector.predict(path).source == str(path)
    assert detector.predict(str(path)).label == "ai"
    assert detector.predict(io.BytesIO(data)).label == "ai"
    with Image.open(path) as image:
        assert detector.predict(image).label == "ai"
    array_prediction = detector.predict(np.zeros((8, 8, 3), np.uint8))
    assert (array_prediction.label, array_prediction.evidence, array_prediction.source) == ("uncertain", (), None)
    assert [p.label for p in detector.predict_batch([data, strip(data)])] == ["ai", "uncertain"]


def test_bad_input_gets_typed_errors(detector: aidetect.Detector, tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(EmptyImageError):
        detector.predict(tmp_path / "empty.png")
    with pytest.raises(UnsupportedImageError):
        detector.predict(tmp_path / "notes.png")
    with pytest.raises(ImageError, match="no such file"):
        detector.predict(tmp_path / "missing.png")


def test_verdict_rules() -> None:
    ai, real = Evidence("x", "", "strong", "ai"), Evidence("y", "", "strong", "real")
    weak_ai, weak_real = Evidence("z", "", "weak", "ai"), Evidence("w", "", "weak", "real")
    assert verdict([]) == (0.5, "uncertain")
    assert verdict([real, ai]) == (STRONG_SCORE, "ai")  # a declaration of AI anywhere wins
    assert verdict([real, weak_ai]) == pytest.approx((1 - STRONG_SCORE, "real"))
    assert verdict([weak_ai, weak_real]) == (0.5, "uncertain")
    with pytest.raises(ValueError, match="strength"):
        Evidence("x", "", "medium")


def test_evidence_serialises(detector: aidetect.Detector) -> None:
    data = detector.predict(png({"parameters": A1111_PARAMETERS})).to_dict()
    assert data["evidence"] == [{"kind": "png-parameters", "detail": data["evidence"][0]["detail"],
                                 "strength": "strong", "indicates": "ai"}]
    assert aidetect.Prediction(0.1, "real", 0.5, "x").evidence == ()  # backward compatible default


def test_other_containers_through_pillow(detector: aidetect.Detector) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16)).save(buffer, "TIFF", exif=exif(software="DALL-E 3"))
    prediction = detector.predict(buffer.getvalue())
    assert prediction.label == "ai" and prediction.evidence[0].kind == "exif-software"


def test_provenance_never_decodes_pixels(tmp_path: Path) -> None:
    """Metadata before a broken image stream is still read: the pixel data is never touched."""
    data = png({"parameters": A1111_PARAMETERS})
    idat = data.index(b"IDAT")
    broken = data[: idat + 4] + b"\x00" * 64 + data[idat + 68:]
    with pytest.raises(ImageError):
        aidetect.io.load_image(broken)
    assert read_provenance(broken).evidence[0].kind == "png-parameters"


def test_ambiguous_words_are_not_generator_names(detector: aidetect.Detector) -> None:
    """Bare "imagen" is Spanish for "image"; "Affinity Designer" is an editor."""
    assert detector.predict(jpeg(comment="Una imagen del puerto")).evidence == ()
    assert detector.predict(jpeg(exif=exif(software="Affinity Designer 2"))).evidence == ()
    assert detector.predict(jpeg(exif=exif(software="Google Imagen 3"))).label == "ai"


def test_a_c2pa_store_without_the_c2pa_library_is_reported_unchecked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)  # what a core install without [provenance] sees
    data = with_jpeg_segment(0xEB, b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x20jumb\x00\x00\x00\x18jumdc2pa")
    (finding,) = read_provenance(data).evidence
    assert finding.kind == "c2pa" and finding.c2pa is not None and finding.c2pa.validation == "unchecked"
    assert "[provenance]" in finding.detail and (finding.strength, finding.indicates) == ("weak", None)


def test_a_remote_c2pa_manifest_is_reported_and_never_fetched(detector: aidetect.Detector) -> None:
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description xmlns:dcterms="http://purl.org/dc/terms/" '
           'dcterms:provenance="https://manifests.example/abc.c2pa"/></rdf:RDF></x:xmpmeta>')
    prediction = detector.predict(jpeg(xmp=xmp))
    (finding,) = prediction.evidence
    assert finding.kind == "c2pa" and finding.c2pa is not None and finding.c2pa.validation == "unchecked"
    assert "https://manifests.example/abc.c2pa" in finding.detail and prediction.label == "uncertain"


def test_unreadable_trust_anchors_fail_before_any_file(tmp_path: Path) -> None:
    detector = aidetect.load("provenance", trust_anchors=tmp_path / "missing.pem")
    with pytest.raises(DetectorError, match="trust anchors"):
        detector.decision_rule()
