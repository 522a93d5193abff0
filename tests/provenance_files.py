"""Image files with provenance metadata, built in code for the provenance tests.

Each builder returns the bytes of a real file (Pillow writes the container,
so what a generator's front-end would write is what we read). `strip` returns
a copy of the same pixels with no metadata at all, what a screenshot or a
re-upload gives.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np
from PIL import Image, PngImagePlugin

IPTC_CODES = "http://cv.iptc.org/newscodes/digitalsourcetype/"
A1111_PARAMETERS = ("a lighthouse at dusk, oil painting\nNegative prompt: blurry\n"
                    "Steps: 28, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x512, "
                    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly")
COMFY_PROMPT = json.dumps({"3": {"class_type": "KSampler", "inputs": {"seed": 5, "steps": 20, "cfg": 8.0}},
                           "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sdxl.safetensors"}}})
COMFY_WORKFLOW = json.dumps({"last_node_id": 9, "nodes": [{"id": 3, "type": "KSampler"}], "links": []})
NOVELAI_COMMENT = json.dumps({"prompt": "a cat", "steps": 28, "sampler": "k_euler_ancestral", "seed": 42,
                              "scale": 5.0})


def pixels(seed: int = 0, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def png(text: dict[str, str] | None = None, *, compressed: tuple[str, ...] = (), xmp: str | None = None,
        exif: Image.Exif | None = None) -> bytes:
    """A PNG with ``text`` chunks (tEXt, or zTXt for the keys in ``compressed``), optional XMP and eXIf."""
    info = PngImagePlugin.PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value, zip=key in compressed)
    if xmp is not None:
        info.add_itxt("XML:com.adobe.xmp", xmp)
    options: dict = {"pnginfo": info}
    if exif is not None:
        options["exif"] = exif
    return _save(pixels(), "PNG", **options)


def jpeg(*, exif: Image.Exif | None = None, xmp: str | None = None, comment: str | None = None) -> bytes:
    options: dict = {"quality": 90}
    if exif is not None:
        options["exif"] = exif
    if xmp is not None:
        options["xmp"] = xmp.encode("utf-8")
    if comment is not None:
        options["comment"] = comment.encode("utf-8")
    return _save(pixels(), "JPEG", **options)


def xmp_source_type(code: str, *, as_attribute: bool = True) -> str:
    """An XMP packet declaring the IPTC digital source type ``code``, attribute- or element-style."""
    value = IPTC_CODES + code
    if as_attribute:
        body = f'<rdf:Description rdf:about="" Iptc4xmpExt:DigitalSourceType="{value}"/>'
    else:
        body = (f'<rdf:Description rdf:about=""><Iptc4xmpExt:DigitalSourceType>{value}'
                "</Iptc4xmpExt:DigitalSourceType></rdf:Description>")
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            f'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">{body}</rdf:RDF></x:xmpmeta>')


def exif(*, software: str | None = None, camera: bool = False, user_comment: str | None = None) -> Image.Exif:
    """EXIF with a Software tag, camera make/model/exposure/lens tags, and/or a UNICODE UserComment."""
    tags = Image.Exif()
    if software is not None:
        tags[0x0131] = software
    sub = tags.get_ifd(0x8769)
    if camera:
        tags[0x010F], tags[0x0110] = "Canon", "Canon EOS 80D"
        sub[0x829A], sub[0x829D], sub[0x8827], sub[0xA434] = (1, 250), (28, 10), 400, "EF-S 18-135mm"
    if user_comment is not None:
        sub[0x9286] = b"UNICODE\x00" + user_comment.encode("utf-16-be")
    return tags


def with_jpeg_segment(marker: int, payload: bytes) -> bytes:
    """A small JPEG with one more marker segment (e.g. ``0xEB``, APP11 / JUMBF) right after SOI."""
    data = jpeg()
    return data[:2] + struct.pack(">BBH", 0xFF, marker, len(payload) + 2) + payload + data[2:]


def strip(data: bytes) -> bytes:
    """The same pixels in the same format, with no metadata."""
    with Image.open(io.BytesIO(data)) as image:
        fmt = image.format
        array = np.asarray(image.convert("RGB"))
    return _save(array, fmt or "PNG")


def _save(array: np.ndarray, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()
