"""Labelled image collections: folder layouts, CSV manifests, splits, balancing.

A `Dataset` is an immutable list of `Sample` (a path, a label, and the
generator and split when known). Images are never read here; detectors and
training code load them lazily through `aidetect.io.load_image`, and
`iter_folder` walks a folder without listing it into memory first.

Labels are integers: ``1`` = AI-generated (fake), ``0`` = real.
"""

from __future__ import annotations

import csv
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import overload

import numpy as np

from aidetect.errors import DatasetError
from aidetect.io import is_image_path

AI, REAL = 1, 0

_LABEL_WORDS = {
    "fake": AI, "ai": AI, "ai-generated": AI, "generated": AI, "synthetic": AI, "1": AI, "true": AI,
    "real": REAL, "0": REAL, "false": REAL, "authentic": REAL, "camera": REAL,
}
# Folder names that mark a class, per common layout: real/ fake/, REAL/ FAKE/ (CIFAKE), 0_real/ 1_fake/ (CNNDetection).
_CLASS_DIRS = {"real": REAL, "0_real": REAL, "fake": AI, "1_fake": AI, "ai": AI}


def parse_label(value: str | int | bool) -> int:
    """Map ``real``/``fake``/``ai``/``0``/``1``/... to ``0`` (real) or ``1`` (AI)."""
    key = str(int(value) if isinstance(value, bool) else value).strip().lower()
    if key not in _LABEL_WORDS:
        raise DatasetError(f"unknown label {value!r}; use 'real' or 'fake' (or 0 / 1)")
    return _LABEL_WORDS[key]


@dataclass(frozen=True)
class Sample:
    """One labelled image."""

    path: Path
    label: int
    generator: str | None = None
    split: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class Dataset(Sequence[Sample]):
    """An immutable, indexable collection of `Sample`."""

    samples: tuple[Sample, ...]
    name: str = "dataset"
    root: Path | None = field(default=None, compare=False)

    def __len__(self) -> int:
        return len(self.samples)

    @overload
    def __getitem__(self, index: int) -> Sample: ...
    @overload
    def __getitem__(self, index: slice) -> Dataset: ...
    def __getitem__(self, index: int | slice) -> Sample | Dataset:
        if isinstance(index, slice):
            return replace(self, samples=self.samples[index])
        return self.samples[index]

    @property
    def labels(self) -> np.ndarray:
        return np.fromiter((s.label for s in self.samples), dtype=np.int64, count=len(self.samples))

    @property
    def paths(self) -> list[Path]:
        return [s.path for s in self.samples]

    @property
    def sources(self) -> list[str]:
        """Where each sample came from (manifest ``source``); unknown sources are ``"unknown"``."""
        return [s.source or "unknown" for s in self.samples]

    @property
    def generators(self) -> list[str]:
        """Generator per sample; real images are ``"real"``, unknown fakes ``"unknown"``."""
        return [s.generator or ("real" if s.label == REAL else "unknown") for s in self.samples]

    def where(self, keep: Callable[[Sample], bool]) -> Dataset:
        return replace(self, samples=tuple(s for s in self.samples if keep(s)))

    def split_named(self, split: str) -> Dataset:
        """The samples whose manifest split is ``split`` (``train``/``val``/``test``)."""
        subset = self.where(lambda s: s.split == split)
        if not subset:
            raise DatasetError(f"{self.name}: no samples in split {split!r}")
        return replace(subset, name=f"{self.name}[{split}]")

    def counts(self) -> dict[str, int]:
        return {"real": int((self.labels == REAL).sum()), "fake": int((self.labels == AI).sum())}

    def __repr__(self) -> str:
        counts = self.counts()
        return f"Dataset({self.name!r}, {len(self)} samples: {counts['real']} real, {counts['fake']} fake)"


def load_dataset(
    location: str | os.PathLike[str], *, split: str | None = None, label: str | int | None = None
) -> Dataset:
    """Open a CSV manifest or a folder in any supported layout.

    ``split`` keeps only that manifest split (manifests only). ``label``
    (``"real"`` or ``"fake"``) reads a plain folder of one class: every image
    under it, at any depth, gets that label, whatever its sub-folders are
    called. That is how a folder of your own photos becomes the reals of
    `aidetect.calibration.threshold_for_fpr_on`.
    """
    path = Path(location)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if label is not None:
        if path.is_file():
            raise DatasetError(f"{path}: label= is for a folder of one class; a manifest has its own labels")
        dataset = from_folder_of(path, parse_label(label))
    else:
        dataset = from_manifest(path) if path.is_file() else from_folder(path)
    if split is not None:
        dataset = dataset.split_named(split)
    return dataset


def from_folder_of(root: str | os.PathLike[str], label: int) -> Dataset:
    """Every image under ``root`` (recursively), all with ``label``: a folder of one class."""
    root = Path(root)
    generator = "real" if label == REAL else None
    samples = tuple(Sample(path=path, label=label, generator=generator) for path in iter_images(root, recursive=True))
    if not samples:
        raise DatasetError(f"{root}: found no image files")
    return Dataset(samples, name=root.name, root=root)


def from_manifest(manifest: str | os.PathLike[str]) -> Dataset:
    """Read a CSV with columns ``path``, ``label`` and optionally ``generator``, ``split``.

    Relative paths are taken relative to the manifest's folder.
    """
    manifest = Path(manifest)
    root = manifest.parent
    try:
        # utf-8-sig: a manifest saved by a spreadsheet starts with a BOM, which would hide the "path" column.
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            samples = _read_manifest_rows(csv.DictReader(handle), manifest, root)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{manifest}: cannot read manifest ({exc})") from exc
    if not samples:
        raise DatasetError(f"{manifest}: manifest has no rows")
    return Dataset(tuple(samples), name=manifest.parent.name, root=root)


def _read_manifest_rows(reader: csv.DictReader[str], manifest: Path, root: Path) -> list[Sample]:
    missing = {"path", "label"} - set(reader.fieldnames or ())
    if missing:
        raise DatasetError(f"{manifest}: manifest lacks column(s) {sorted(missing)}")
    samples = []
    for line, row in enumerate(reader, start=2):
        try:
            label = parse_label(row["label"] if row["label"] is not None else "")
        except DatasetError as exc:
            raise DatasetError(f"{manifest}:{line}: {exc}") from None
        path = (row["path"] or "").strip()
        if not path:
            raise DatasetError(f"{manifest}:{line}: empty path")
        generator = (row.get("generator") or "").strip() or None
        samples.append(
            Sample(
                path=root / path,
                label=label,
                generator="real" if label == REAL else generator,
                split=(row.get("split") or "").strip() or None,
                source=(row.get("source") or "").strip() or None,
            )
        )
    return samples


def from_folder(root: str | os.PathLike[str]) -> Dataset:
    """Collect a labelled folder: ``real/ fake/``, ``REAL/ FAKE/``, ``0_real/ 1_fake/``.

    Class folders may sit at any depth (CNNDetection nests them per category),
    and sub-folders of a fake folder name the generator.
    """
    root = Path(root)
    samples = sorted(iter_folder_samples(root), key=lambda s: str(s.path))
    if not samples:
        raise DatasetError(
            f"{root}: found no images under class folders named real/fake, REAL/FAKE or 0_real/1_fake; "
            "for a folder of one class, say which: load_dataset(path, label='real')"
        )
    return Dataset(tuple(samples), name=root.name, root=root)


def iter_folder_samples(root: str | os.PathLike[str]) -> Iterator[Sample]:
    """Stream the samples of a labelled folder without holding the listing in memory."""
    root = Path(root)
    for path in iter_images(root, recursive=True):
        parts = path.relative_to(root).parts[:-1]
        label, generator = _label_from_parts(parts)
        if label is not None:
            yield Sample(path=path, label=label, generator=generator)


def _label_from_parts(parts: Sequence[str]) -> tuple[int | None, str | None]:
    for depth, part in enumerate(parts):
        label = _CLASS_DIRS.get(part.lower())
        if label is not None:
            below = parts[depth + 1 :]
            if label == REAL:
                return REAL, "real"
            return AI, "/".join(below) if below else None
    return None, None


def iter_images(root: str | os.PathLike[str], *, recursive: bool = True) -> Iterator[Path]:
    """Yield image files under ``root`` in a stable order, one directory at a time."""
    root = Path(root)
    if root.is_file():
        yield root
        return
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_file() and is_image_path(entry.name):
            yield Path(entry.path)
        elif recursive and entry.is_dir(follow_symlinks=False):
            yield from iter_images(entry.path, recursive=True)


def split_dataset(
    dataset: Dataset,
    *,
    val: float = 0.1,
    test: float = 0.1,
    seed: int = 0,
    group: Callable[[Sample], str] | None = None,
) -> tuple[Dataset, Dataset, Dataset]:
    """Stratified train / val / test split; with ``group``, a group never straddles two splits.

    Stratification is by label (and generator when known), so each split keeps
    the class balance and generator mix. ``group`` maps a sample to a group key
    (for example the scene or prompt), and whole groups are assigned together,
    even when a group holds several labels or generators (the same prompt
    rendered by several models); a group that would overfill a val/test share
    in any of its strata goes to train.
    """
    if not 0 <= val < 1 or not 0 <= test < 1 or val + test >= 1:
        raise ValueError("val and test must be fractions in [0, 1) with val + test < 1")
    rng = np.random.default_rng(seed)
    strata: dict[tuple[int, str], dict[str, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    for index, sample in enumerate(dataset.samples):
        key = group(sample) if group else f"#{index}"
        strata[(sample.label, sample.generator or "")][key].append(sample)
    spans: dict[str, list[tuple[int, str]]] = defaultdict(list)  # group -> the strata it has members in
    for stratum in sorted(strata):
        for key in strata[stratum]:
            spans[key].append(stratum)
    shares = {"test": test, "val": val}
    targets = {
        stratum: {name: round(sum(map(len, groups.values())) * share) for name, share in shares.items()}
        for stratum, groups in strata.items()
    }
    filled = {stratum: {"test": 0, "val": 0} for stratum in strata}

    def fits(key: str, name: str) -> bool:
        return bool(shares[name]) and all(
            filled[s][name] + len(strata[s][key]) <= targets[s][name] for s in spans[key]
        )

    parts: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    assigned: set[str] = set()
    for _, groups in sorted(strata.items()):
        keys = sorted(groups)
        rng.shuffle(keys)
        for key in keys:
            if key in assigned:  # placed, with all its strata, when an earlier stratum met it
                continue
            assigned.add(key)
            name = "test" if fits(key, "test") else "val" if fits(key, "val") else "train"
            for stratum in spans[key]:
                members = strata[stratum][key]
                if name != "train":
                    filled[stratum][name] += len(members)
                parts[name].extend(members)
    return tuple(  # type: ignore[return-value]
        Dataset(tuple(parts[name]), name=f"{dataset.name}[{name}]", root=dataset.root)
        for name in ("train", "val", "test")
    )


def balance(dataset: Dataset, *, method: str = "undersample", seed: int = 0) -> Dataset:
    """Equalise the class counts by dropping (``undersample``) or repeating (``oversample``) samples."""
    if method not in ("undersample", "oversample"):
        raise ValueError("method must be 'undersample' or 'oversample'")
    rng = np.random.default_rng(seed)
    by_label: dict[int, list[Sample]] = defaultdict(list)
    for sample in dataset.samples:
        by_label[sample.label].append(sample)
    if len(by_label) < 2:
        raise DatasetError(f"{dataset.name}: cannot balance a dataset with a single class")
    target = (min if method == "undersample" else max)(len(v) for v in by_label.values())
    chosen: list[Sample] = []
    for label in sorted(by_label):
        members = by_label[label]
        if len(members) < target:
            # Oversampling keeps every original once and draws only the shortfall with replacement.
            extra = rng.choice(len(members), size=target - len(members), replace=True)
            picks = np.concatenate([np.arange(len(members)), extra])
        else:
            picks = rng.choice(len(members), size=target, replace=False)
        chosen.extend(members[i] for i in sorted(picks))
    return replace(dataset, samples=tuple(chosen))


def class_weights(labels: Iterable[int]) -> dict[int, float]:
    """Inverse-frequency weights ``n / (2 * n_class)``, as scikit-learn's ``"balanced"``."""
    counts = Counter(int(label) for label in labels)
    total = sum(counts.values())
    return {label: total / (len(counts) * count) for label, count in sorted(counts.items())}


def concat_datasets(datasets: Sequence[Dataset], *, name: str | None = None) -> Dataset:
    """One dataset holding the samples of several, in order.

    Sources are prefixed with their dataset's name (``mixed-v1:owner/repo``) so
    that two sets' sources never merge by accident and per-source weighting
    and hold-outs stay per set.
    """
    if not datasets:
        raise DatasetError("concat_datasets needs at least one dataset")
    samples = tuple(
        replace(sample, source=f"{dataset.name}:{sample.source or 'unknown'}")
        for dataset in datasets
        for sample in dataset.samples
    )
    return Dataset(samples, name=name or "+".join(d.name for d in datasets), root=None)


def source_sample_weights(dataset: Dataset, *, power: float = 0.5) -> np.ndarray:
    """Sampling weights under which each class is half of an epoch and big sources do not dominate.

    Within a class, a source of ``n`` images gets total weight ``n ** power``
    (``power=0``: every source equal; ``1``: proportional to size, i.e. plain
    class balancing). The default square root keeps a 700-image source from
    drowning out a 20-image one without repeating the 20 images 35 times.
    """
    if not 0 <= power <= 1:
        raise ValueError(f"power must be in [0, 1], got {power}")
    counts = Counter(zip(dataset.labels.tolist(), dataset.sources, strict=True))
    weights = np.array([counts[(s.label, s.source or "unknown")] ** (power - 1.0)
                        for s in dataset.samples], dtype=np.float64)
    labels = dataset.labels
    for label in np.unique(labels):
        members = labels == label
        weights[members] /= weights[members].sum()
    result: np.ndarray = weights / weights.sum()
    return result


def hold_out_sources(
    dataset: Dataset, *, fraction: float = 0.15, seed: int = 0, min_images: int = 5
) -> tuple[Dataset, Dataset]:
    """Split off whole sources, per class: ``(kept, held_out)``.

    Sources with at least ``min_images`` are shuffled with ``seed`` and taken
    while the class's held-out share stays within ``fraction``. Thresholds and
    calibrations chosen on the held-out part reflect photos from sources the
    model never trained on, which a per-source random split cannot show.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    chosen: set[tuple[int, str]] = set()
    counts = Counter(zip(dataset.labels.tolist(), dataset.sources, strict=True))
    for label in sorted(set(dataset.labels.tolist())):
        budget = fraction * sum(n for (lab, _), n in counts.items() if lab == label)
        names = sorted(src for (lab, src), n in counts.items() if lab == label and n >= min_images)
        rng.shuffle(names)
        taken = 0
        for name in names:
            if taken + counts[(label, name)] <= budget:
                chosen.add((label, name))
                taken += counts[(label, name)]
    held = dataset.where(lambda s: (s.label, s.source or "unknown") in chosen)
    kept = dataset.where(lambda s: (s.label, s.source or "unknown") not in chosen)
    return kept, held
