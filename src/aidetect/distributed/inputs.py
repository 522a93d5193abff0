"""Paths, folders, globs and object-store URIs to the list of files a distributed scan reads.

Local inputs are made absolute (a relative path means nothing on another
node) and selected exactly as the local engine selects them
(`aidetect.datasets.iter_images`: files named explicitly are always tried,
folders contribute their image files, sub-folders with ``recursive``).
URIs (``s3://``, ``gs://``, ...) are listed through pyarrow's file systems,
the ones Ray's readers use, keeping the files with an image suffix.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from aidetect.datasets import iter_images
from aidetect.io import is_image_path
from aidetect.scan import ScanPathError


def is_uri(location: str) -> bool:
    """Whether ``location`` names an object store or remote file system (``s3://...``), not a local path."""
    return "://" in location and not location.startswith("file://")


def expand_inputs(
    paths_or_globs: str | os.PathLike[str] | Iterable[str | os.PathLike[str]], *, recursive: bool = False
) -> list[str]:
    """Every file to judge, in a stable order (local: absolute paths; remote: full URIs)."""
    items = [paths_or_globs] if isinstance(paths_or_globs, (str, os.PathLike)) else list(paths_or_globs)
    if not items:
        raise ScanPathError("no paths to scan")
    files: list[str] = []
    missing: list[str] = []
    for item in (os.fspath(item) for item in items):
        found = list(_expand_one(item, recursive))
        if not found and not _is_existing_folder(item):
            missing.append(item)
        files.extend(found)
    if missing:
        raise ScanPathError(f"no such file or folder: {', '.join(missing)}")
    return list(dict.fromkeys(files))  # a file named twice (or by two globs) is judged once


def _is_existing_folder(item: str) -> bool:
    return not is_uri(item) and Path(item.removeprefix("file://")).is_dir()


def _expand_one(item: str, recursive: bool) -> Iterator[str]:
    if is_uri(item):
        yield from _list_uri(item, recursive)
        return
    item = item.removeprefix("file://")
    roots = sorted(glob.glob(item, recursive=True)) if glob.has_magic(item) else [item]
    for root in map(Path, roots):
        if root.exists():
            yield from (str(path.resolve()) for path in iter_images(root, recursive=recursive))


def _list_uri(uri: str, recursive: bool) -> Iterator[str]:
    """The image files at ``uri``: the object itself, or the objects under a prefix."""
    from pyarrow import fs

    filesystem, base = fs.FileSystem.from_uri(uri)
    scheme = uri.split("://", 1)[0]
    info = filesystem.get_file_info(base)
    if info.type == fs.FileType.File:
        yield uri
        return
    if info.type == fs.FileType.NotFound:
        return
    selector = fs.FileSelector(base, recursive=recursive)
    for entry in sorted(filesystem.get_file_info(selector), key=lambda entry: entry.path):
        if entry.type == fs.FileType.File and is_image_path(entry.path):
            yield f"{scheme}://{entry.path}"
