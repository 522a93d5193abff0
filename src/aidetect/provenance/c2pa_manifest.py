"""Validate a C2PA (Content Credentials) manifest store with the ``c2pa-python`` library, offline.

Only called when the container walk found a C2PA store, so files without one
never load the native library. Remote manifests and OCSP are never fetched;
the signer is checked against ``trust_anchors`` when given (PEM), else a valid
signature only says the file is unchanged since someone signed it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from aidetect.evidence import STRONG, WEAK, C2paSummary, Evidence
from aidetect.provenance.findings import AI_SOURCE_TYPES, CAPTURE_SOURCE_TYPES, source_type_code

MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "tiff": "image/tiff",
              "gif": "image/gif", "avif": "image/avif", "heif": "image/heif"}
MAX_LISTED = 16
"""Actions and failure codes kept per finding: a manifest with thousands of actions stays a short finding."""


def offline_settings(trust_anchors: str | None) -> dict[str, Any]:
    """c2pa-rs settings: never touch the network; check trust only against the anchors we are given."""
    settings: dict[str, Any] = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False,
                                           "verify_trust": trust_anchors is not None}}
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": trust_anchors}
    return settings


def c2pa_finding(data: bytes, container: str, trust_anchors: str | None = None) -> Evidence | None:
    """The finding for the C2PA store in ``data``, or None when the reader finds no manifest after all."""
    try:
        import c2pa
    except ImportError:
        return Evidence("c2pa", "C2PA manifest present but not validated: install 'aidetect-images[provenance]'",
                        WEAK, None, C2paSummary("unchecked"))
    mime = MIME_TYPES.get(container, "image/" + container)
    try:
        context = c2pa.Context.from_dict(offline_settings(trust_anchors))
        with c2pa.Reader(mime, io.BytesIO(data), context=context) as reader:
            store = json.loads(reader.json())
    except c2pa.C2paError.ManifestNotFound:
        return None
    except Exception as exc:  # unparsable store: report it, claim nothing
        reason = f"{type(exc).__name__}: {exc}"[:200]
        return Evidence("c2pa", f"C2PA manifest store could not be read ({reason}); its claims are not evidence",
                        WEAK, None, C2paSummary("invalid", failures=(reason,)))
    return summarise(store)


def summarise(store: dict[str, Any]) -> Evidence:
    """The finding for a manifest store as the reader reports it (``Reader.json()``)."""
    manifests = store.get("manifests") or {}
    active = manifests.get(store.get("active_manifest")) or {}
    source_types = tuple(dict.fromkeys(source_type_code(t) for m in manifests.values() for t in _source_types(m)))
    summary = C2paSummary(
        validation=_validation(store),
        signer=_signer(active),
        issuer=(active.get("signature_info") or {}).get("issuer"),
        claim_generator=_claim_generator(active),
        actions=tuple(dict.fromkeys(_actions(active)))[:MAX_LISTED],
        digital_source_types=source_types[:MAX_LISTED],
        failures=_failures(store)[:MAX_LISTED],
    )
    return Evidence("c2pa", _detail(summary), *_weight(summary), c2pa=summary)


def _validation(store: dict[str, Any]) -> str:
    state = str(store.get("validation_state") or "").lower()
    if state in ("trusted", "valid"):
        return state
    if state == "invalid" or store.get("validation_status"):
        return "invalid"
    return "valid"


def _weight(summary: C2paSummary) -> tuple[str, str | None]:
    """(strength, indicates): only a manifest that validated can be strong; a broken one points nowhere."""
    if summary.validation == "invalid":
        return WEAK, None
    if AI_SOURCE_TYPES & set(summary.digital_source_types):
        return STRONG, "ai"
    if CAPTURE_SOURCE_TYPES & set(summary.digital_source_types):
        return (STRONG if summary.validation == "trusted" else WEAK), "real"
    return WEAK, None


def _detail(summary: C2paSummary) -> str:
    signer = summary.signer or "an unnamed signer"
    head = {
        "trusted": f"C2PA manifest signed by {signer} (on the trust list), signature and hashes valid",
        "valid": f"C2PA manifest signed by {signer}, signature and hashes valid (signer not checked against a "
                 "trust list)",
        "invalid": f"C2PA manifest signed by {signer} FAILED validation (tampered after signing or broken: "
                   f"{', '.join(summary.failures[:3]) or 'no reason given'}); its claims are not evidence",
    }[summary.validation]
    parts = [head]
    if summary.claim_generator:
        parts.append(f"made by {summary.claim_generator}")
    if summary.digital_source_types:
        parts.append("digital source type " + ", ".join(summary.digital_source_types))
    return "; ".join(parts)


def _signer(manifest: dict[str, Any]) -> str | None:
    info = manifest.get("signature_info") or {}
    return info.get("common_name") or info.get("issuer")


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    infos = manifest.get("claim_generator_info") or []
    if infos and isinstance(infos[0], dict) and infos[0].get("name"):
        return " ".join(str(infos[0][key]) for key in ("name", "version") if infos[0].get(key))
    generator = manifest.get("claim_generator")
    return str(generator) if generator else None


def _action_entries(manifest: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for assertion in manifest.get("assertions") or []:
        if str(assertion.get("label", "")).startswith("c2pa.actions"):
            for action in (assertion.get("data") or {}).get("actions") or []:
                if isinstance(action, dict):
                    yield action


def _actions(manifest: dict[str, Any]) -> Iterator[str]:
    for action in _action_entries(manifest):
        agent = action.get("softwareAgent")
        agent_name = agent.get("name") if isinstance(agent, dict) else agent
        yield str(action.get("action", "?")) + (f" by {agent_name}" if agent_name else "")


def _source_types(manifest: dict[str, Any]) -> Iterator[str]:
    for action in _action_entries(manifest):
        if action.get("digitalSourceType"):
            yield str(action["digitalSourceType"])
    for assertion in manifest.get("assertions") or []:  # older manifests: c2pa.ingredient / creative work
        data = assertion.get("data")
        if isinstance(data, dict) and isinstance(data.get("digitalSourceType"), str):
            yield data["digitalSourceType"]


def _failures(store: dict[str, Any]) -> tuple[str, ...]:
    results = store.get("validation_results") or {}
    active = results.get("activeManifest") or {}
    codes = [str(item.get("code")) for item in active.get("failure") or [] if isinstance(item, dict)]
    codes += [str(item.get("code")) for item in store.get("validation_status") or [] if isinstance(item, dict)]
    return tuple(dict.fromkeys(codes))
