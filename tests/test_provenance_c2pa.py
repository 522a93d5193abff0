"""C2PA Content Credentials: files signed in the test with a certificate chain generated on the fly.

A throw-away root CA signs a signer certificate; ``c2pa-python`` signs images
with it. Nothing is fetched: the manifests are embedded and validated offline.
"""

from __future__ import annotations

import datetime
import io
from typing import Any

import pytest

from provenance_files import IPTC_CODES, jpeg, png, strip

c2pa = pytest.importorskip("c2pa", reason="C2PA tests need the [provenance] extra (c2pa-python)")
pytest.importorskip("cryptography")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

import aidetect  # noqa: E402
from aidetect.provenance import read_provenance  # noqa: E402
from aidetect.provenance.c2pa_manifest import offline_settings  # noqa: E402

SIGNER_NAME = "aidetect test signer"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "aidetect tests")])


def _certificate(subject: str, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                          encipher_only=False, decipher_only=False)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=7))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(usage, critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if not ca:
        builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                                  critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


class SigningAuthority:
    """A root CA and one signer certificate under it, generated for this test session."""

    def __init__(self) -> None:
        root_key, self.key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
        self.root = _certificate("aidetect test root", root_key, _name("aidetect test root"), root_key, ca=True)
        leaf = _certificate(SIGNER_NAME, self.key, self.root.subject, root_key, ca=False)
        self.chain = _pem(leaf) + _pem(self.root)

    @property
    def root_pem(self) -> str:
        return _pem(self.root).decode("ascii")

    def sign(self, data: bytes, mime: str, source_type: str, agent: str = "TestDiffusion 2") -> bytes:
        key = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(c2pa.C2paSigningAlg.ES256, self.chain, key, None))
        manifest = {
            "claim_generator_info": [{"name": "aidetect-tests", "version": "1.0"}],
            "assertions": [{"label": "c2pa.actions", "data": {"actions": [
                {"action": "c2pa.created", "digitalSourceType": IPTC_CODES + source_type,
                 "softwareAgent": {"name": agent}}]}}],
        }
        out = io.BytesIO()
        with c2pa.Builder(manifest) as builder:
            builder.sign(signer, mime, io.BytesIO(data), out)
        return out.getvalue()


@pytest.fixture(scope="module")
def authority() -> SigningAuthority:
    return SigningAuthority()


@pytest.fixture(scope="module")
def ai_jpeg(authority: SigningAuthority) -> bytes:
    return authority.sign(jpeg(), "image/jpeg", "trainedAlgorithmicMedia")


def tamper(data: bytes) -> bytes:
    """Flip one byte of the entropy-coded image data, after the manifest was signed."""
    changed = bytearray(data)
    changed[-20] ^= 0xFF
    return bytes(changed)


def test_a_valid_manifest_declaring_trained_algorithmic_media_is_strong_ai(ai_jpeg: bytes) -> None:
    prediction = aidetect.load("provenance").predict(ai_jpeg)
    (finding,) = prediction.evidence
    assert prediction.label == "ai" and prediction.score > 0.95
    assert (finding.kind, finding.strength, finding.indicates) == ("c2pa", "strong", "ai")
    summary = finding.c2pa
    assert summary is not None and summary.validation == "valid" and summary.signer == SIGNER_NAME
    assert summary.claim_generator == "aidetect-tests 1.0"
    assert summary.actions == ("c2pa.created by TestDiffusion 2",)
    assert summary.digital_source_types == ("trainedAlgorithmicMedia",)
    stripped = aidetect.load("provenance").predict(strip(ai_jpeg))
    assert (stripped.label, stripped.score, stripped.evidence) == ("uncertain", 0.5, ())


def test_a_manifest_tampered_after_signing_is_invalid_never_proof(ai_jpeg: bytes) -> None:
    prediction = aidetect.load("provenance").predict(tamper(ai_jpeg))
    (finding,) = prediction.evidence
    assert finding.c2pa is not None and finding.c2pa.validation == "invalid"
    assert "assertion.dataHash.mismatch" in finding.c2pa.failures
    assert (finding.strength, finding.indicates) == ("weak", None) and "FAILED" in finding.detail
    assert (prediction.label, prediction.score) == ("uncertain", 0.5)


def test_a_capture_manifest_is_weak_unless_its_signer_is_trusted(authority: SigningAuthority) -> None:
    signed = authority.sign(jpeg(), "image/jpeg", "digitalCapture", agent="TestCam")
    untrusted = aidetect.load("provenance").predict(signed)
    assert untrusted.label == "uncertain" and untrusted.evidence[0].indicates == "real"
    assert untrusted.evidence[0].strength == "weak"
    trusted = aidetect.load("provenance", trust_anchors=authority.root_pem).predict(signed)
    assert trusted.evidence[0].c2pa.validation == "trusted"
    assert (trusted.label, trusted.evidence[0].strength) == ("real", "strong")


def test_another_root_does_not_make_a_signer_trusted(ai_jpeg: bytes) -> None:
    stranger = SigningAuthority()
    (finding,) = read_provenance(ai_jpeg, trust_anchors=stranger.root_pem).evidence
    assert finding.c2pa.validation == "valid" and "signingCredential.untrusted" in finding.c2pa.failures


def test_png_manifests_and_stripped_copies(authority: SigningAuthority) -> None:
    signed = authority.sign(png(), "image/png", "trainedAlgorithmicMedia")
    detector = aidetect.load("provenance")
    assert detector.predict(signed).label == "ai"
    assert detector.predict(tamper_png(signed)).evidence[0].c2pa.validation == "invalid"
    stripped = detector.predict(strip(signed))
    assert (stripped.label, stripped.score, stripped.evidence) == ("uncertain", 0.5, ())


def tamper_png(data: bytes) -> bytes:
    """Change a byte inside the IDAT payload (the CRC is not fixed: a tamperer would, the hash still breaks)."""
    at = data.index(b"IDAT") + 20
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_without_validation_a_manifest_is_reported_unchecked(ai_jpeg: bytes) -> None:
    prediction = aidetect.load("provenance", c2pa=False).predict(ai_jpeg)
    (finding,) = prediction.evidence
    assert finding.c2pa.validation == "unchecked" and finding.strength == "weak" and prediction.label == "uncertain"


def test_validation_is_offline() -> None:
    settings = offline_settings(None)["verify"]
    assert settings["remote_manifest_fetch"] is False and settings["ocsp_fetch"] is False


def test_a_truncated_manifest_store_is_reported_not_raised(ai_jpeg: bytes) -> None:
    start = ai_jpeg.index(b"\xff\xeb")  # the first APP11 (JUMBF) segment
    broken = ai_jpeg[: start + 40] + ai_jpeg[start + 400:]
    (finding,) = read_provenance(broken).evidence
    assert (finding.kind, finding.strength, finding.indicates, finding.c2pa.validation) == ("c2pa", "weak", None,
                                                                                             "invalid")
