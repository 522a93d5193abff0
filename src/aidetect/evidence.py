"""Evidence: what a file says about its own origin, as typed, frozen findings.

A `Prediction` carries a tuple of `Evidence` (empty for pixel detectors).
Each finding names its ``kind`` (``c2pa``, ``iptc-digital-source-type``,
``png-parameters``, ``exif-software``, ``camera-exif``, ...), says in
``detail`` what was found and where, how much it weighs (``strength``:
``"strong"`` or ``"weak"``) and which way it points (``indicates``: ``"ai"``,
``"real"`` or ``None``). C2PA findings add a `C2paSummary`: whether the
signature validated, who signed, which tool made the claim, and its actions.

Metadata is trivially stripped and can be forged; a finding is a statement the
file makes, not proof (see docs/provenance.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

STRONG, WEAK = "strong", "weak"
STRENGTHS = (STRONG, WEAK)


@dataclass(frozen=True)
class C2paSummary:
    """What the C2PA reader found in a Content Credentials manifest.

    ``validation`` is ``"trusted"`` (signature valid, signer on a configured
    trust list), ``"valid"`` (signature and hashes valid, signer not on a
    trust list: anyone can make such a certificate), ``"invalid"`` (tampered
    after signing, or a broken signature) or ``"unchecked"`` (the C2PA
    library is not installed, so nothing was validated).
    """

    validation: str
    signer: str | None = None
    issuer: str | None = None
    claim_generator: str | None = None
    actions: tuple[str, ...] = ()
    digital_source_types: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()


@dataclass(frozen=True)
class Evidence:
    """One finding about an image's origin.

    ``score`` is set only on the ``pixel-detector`` finding of the ``auto``
    detector (the pixel detector's calibrated score).
    """

    kind: str
    detail: str
    strength: str
    indicates: str | None = None
    c2pa: C2paSummary | None = None
    score: float | None = None

    def __post_init__(self) -> None:
        if self.strength not in STRENGTHS:
            raise ValueError(f"strength must be one of {STRENGTHS}, got {self.strength!r}")

    @property
    def is_strong(self) -> bool:
        return self.strength == STRONG

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.c2pa is None:
            del data["c2pa"]
        else:
            data["c2pa"] = {key: list(value) if isinstance(value, tuple) else value
                            for key, value in data["c2pa"].items()}
        if self.score is None:
            del data["score"]
        return data

    def summary(self) -> str:
        """``kind:strength:indicates``, the compact form used in CSV output."""
        return f"{self.kind}:{self.strength}:{self.indicates or '-'}"
