"""Tests of aidetect.datasets: folder layouts, manifests, splits, balancing, streaming, and mixed-v1."""

from __future__ import annotations

import csv
import os
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aidetect.datasets import (
    AI,
    REAL,
    Dataset,
    Sample,
    balance,
    class_weights,
    from_folder,
    from_manifest,
    iter_folder_samples,
    iter_images,
    load_dataset,
    parse_label,
    split_dataset,
)
from aidetect.errors import DatasetError

MIXED_V1 = Path(__file__).resolve().parents[2] / "shared/datasets/mixed-v1"


def make_image(path: Path, colour: tuple[int, int, int] = (10, 20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), colour).save(path)
    return path


def make_tree(root: Path, files: list[str]) -> None:
    for name in files:
        if name.endswith("/"):
            (root / name).mkdir(parents=True, exist_ok=True)
        elif Path(name).suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"}:
            make_image(root / name)
        else:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text("not an image")


def relative(dataset: Dataset, root: Path) -> dict[str, tuple[int, str | None]]:
    return {s.path.relative_to(root).as_posix(): (s.label, s.generator) for s in dataset}


def synthetic(n_real: int, n_fake: int, *, generators: tuple[str, ...] = (), groups: int | None = None) -> Dataset:
    """An in-memory dataset (no files needed: splits and balancing never read images)."""
    samples = []
    for i in range(n_real):
        samples.append(Sample(Path(f"real/{i}.jpg"), REAL, "real"))
    for i in range(n_fake):
        generator = generators[i % len(generators)] if generators else None
        samples.append(Sample(Path(f"fake/{generator or 'x'}/{i}.png"), AI, generator))
    return Dataset(tuple(samples), name="synthetic")


# -- labels --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("real", REAL), ("REAL", REAL), (" Fake ", AI), ("ai", AI), ("AI-generated", AI), ("1", AI), ("0", REAL),
     (1, AI), (0, REAL), (True, AI), (False, REAL), ("synthetic", AI), ("camera", REAL)],
)
def test_parse_label(value, expected):
    assert parse_label(value) == expected


@pytest.mark.parametrize("value", ["", "maybe", "2", "-1", "realistic"])
def test_parse_label_refuses_unknown(value):
    with pytest.raises(DatasetError, match="unknown label"):
        parse_label(value)


# -- folder layouts ------------------------------------------------------------------------------------------------


def test_real_fake_generator_layout(tmp_path):
    make_tree(tmp_path, [
        "real/a.jpg", "real/holiday/b.png", "real/notes.txt",
        "fake/sd15/c.png", "fake/sd15/d.JPG", "fake/midjourney/v6/e.webp", "fake/f.png",
        "unrelated/g.png", "README.md",
    ])
    dataset = load_dataset(tmp_path)
    assert relative(dataset, tmp_path) == {
        "real/a.jpg": (REAL, "real"),
        "real/holiday/b.png": (REAL, "real"),
        "fake/sd15/c.png": (AI, "sd15"),
        "fake/sd15/d.JPG": (AI, "sd15"),
        "fake/midjourney/v6/e.webp": (AI, "midjourney/v6"),
        "fake/f.png": (AI, None),
    }
    assert dataset.counts() == {"real": 2, "fake": 4}
    assert dataset.generators.count("unknown") == 1
    assert dataset.name == tmp_path.name and dataset.root == tmp_path
    assert [s.path for s in dataset] == sorted((s.path for s in dataset), key=str)  # stable order


def test_cifake_layout(tmp_path):
    make_tree(tmp_path, ["train/REAL/1.jpg", "train/REAL/2.jpg", "train/FAKE/3.jpg", "test/REAL/4.jpg",
                         "test/FAKE/5.jpg", "test/FAKE/6.jpg"])
    dataset = from_folder(tmp_path)
    assert dataset.counts() == {"real": 3, "fake": 3}
    labels = {s.path.name: s.label for s in dataset}
    assert labels == {"1.jpg": REAL, "2.jpg": REAL, "3.jpg": AI, "4.jpg": REAL, "5.jpg": AI, "6.jpg": AI}
    assert len(from_folder(tmp_path / "test")) == 3


def test_cnndetection_layout(tmp_path):
    make_tree(tmp_path, [
        "progan/cat/0_real/a.png", "progan/cat/1_fake/b.png", "progan/dog/0_real/c.png", "progan/dog/1_fake/d.png",
        "progan/dog/1_fake/e.png", "stylegan/car/0_real/f.png", "stylegan/car/1_fake/g.png", "biggan/0_real/h.png",
        "biggan/1_fake/i.png",
    ])
    dataset = from_folder(tmp_path)
    assert dataset.counts() == {"real": 4, "fake": 5}
    by_name = {s.path.name: s.label for s in dataset}
    assert [name for name, label in sorted(by_name.items()) if label == REAL] == ["a.png", "c.png", "f.png", "h.png"]


def test_ai_folder_and_case_insensitive_class_names(tmp_path):
    make_tree(tmp_path, ["Real/a.png", "AI/dalle3/b.png", "Fake/c.png"])
    assert relative(from_folder(tmp_path), tmp_path) == {
        "Real/a.png": (REAL, "real"), "AI/dalle3/b.png": (AI, "dalle3"), "Fake/c.png": (AI, None)
    }


def test_first_class_folder_from_the_top_decides(tmp_path):
    make_tree(tmp_path, ["fake/real-esrgan/a.png", "real/fake-looking/b.png"])
    assert relative(from_folder(tmp_path), tmp_path) == {
        "fake/real-esrgan/a.png": (AI, "real-esrgan"), "real/fake-looking/b.png": (REAL, "real")
    }


def test_folder_without_class_folders(tmp_path):
    make_tree(tmp_path, ["photos/a.png", "b.png"])
    with pytest.raises(DatasetError, match="no images"):
        from_folder(tmp_path)


def test_empty_and_missing_folders(tmp_path):
    with pytest.raises(DatasetError):
        load_dataset(tmp_path)
    with pytest.raises(DatasetError, match="no such"):
        load_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError):
        from_folder(tmp_path / "nope")


# -- manifests -----------------------------------------------------------------------------------------------------


def write_manifest(path: Path, rows: list[dict[str, str]], fields: list[str] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = fields or list(rows[0])
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_manifest(tmp_path):
    absolute = make_image(tmp_path / "elsewhere" / "abs.png")
    manifest = write_manifest(tmp_path / "data" / "manifest.csv", [
        {"path": "real/a.jpg", "label": "real", "generator": "", "split": "train"},
        {"path": "fake/sd/b.png", "label": "fake", "generator": "sd15", "split": "train"},
        {"path": "fake/c.png", "label": "1", "generator": "", "split": "val"},
        {"path": "real/d.jpg", "label": "0", "generator": "camera", "split": "test"},
        {"path": str(absolute), "label": "AI", "generator": " dalle3 ", "split": ""},
    ])
    dataset = load_dataset(manifest)
    assert len(dataset) == 5
    assert dataset.name == "data" and dataset.root == manifest.parent
    assert [s.path for s in dataset] == [
        manifest.parent / "real/a.jpg", manifest.parent / "fake/sd/b.png", manifest.parent / "fake/c.png",
        manifest.parent / "real/d.jpg", absolute,
    ]
    assert dataset.labels.tolist() == [REAL, AI, AI, REAL, AI]
    assert [s.generator for s in dataset] == ["real", "sd15", None, "real", "dalle3"]  # reals are always "real"
    assert [s.split for s in dataset] == ["train", "train", "val", "test", None]
    assert from_manifest(manifest) == dataset
    assert [s.path.name for s in load_dataset(manifest, split="train")] == ["a.jpg", "b.png"]
    assert load_dataset(manifest, split="val").name == "data[val]"


def test_manifest_with_only_path_and_label(tmp_path):
    rows = [{"path": "x.png", "label": "fake"}, {"path": "y.png", "label": "real"}]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    dataset = from_manifest(manifest)
    assert [(s.label, s.generator, s.split) for s in dataset] == [(AI, None, None), (REAL, "real", None)]
    with pytest.raises(DatasetError, match="no samples in split"):
        load_dataset(manifest, split="train")


def test_manifest_with_a_byte_order_mark(tmp_path):
    manifest = tmp_path / "excel.csv"
    manifest.write_bytes("\ufeffpath,label\nx.png,fake\n".encode())  # what spreadsheets save
    assert len(from_manifest(manifest)) == 1


def test_manifest_extra_columns_are_ignored(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,width,sha256\na.png,real,256,abc\nb.png,fake,128,def\n")
    assert from_manifest(manifest).counts() == {"real": 1, "fake": 1}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "lacks column"),
        ("path,generator\na.png,sd\n", "lacks column"),
        ("file,label\na.png,real\n", "lacks column"),
        ("path,label\n", "no rows"),
        ("path,label\na.png,real\nb.png,unsure\n", r"m\.csv:3: unknown label"),
        ("path,label\na.png,real\nb.png\n", r"m\.csv:3"),
        ("path,label\n,real\n", "empty path"),
        ("label,path\nreal\n", r"m\.csv:2"),
    ],
    ids=["empty-file", "no-label", "no-path", "header-only", "bad-label", "short-row", "empty-path", "short-row-2"],
)
def test_malformed_manifest(tmp_path, content, message):
    manifest = tmp_path / "m.csv"
    manifest.write_text(content)
    with pytest.raises(DatasetError, match=message):
        from_manifest(manifest)
    with pytest.raises(DatasetError):
        load_dataset(manifest)


def test_manifest_that_is_not_text(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_bytes(b"path,label\n\xff\xfe\xfa\x00,real\n")
    with pytest.raises(DatasetError, match="cannot read"):
        from_manifest(manifest)


def test_missing_manifest(tmp_path):
    with pytest.raises(DatasetError):
        from_manifest(tmp_path / "missing.csv")


# -- Dataset -------------------------------------------------------------------------------------------------------


def test_dataset_sequence_api():
    dataset = synthetic(3, 2, generators=("sd",))
    assert len(dataset) == 5
    assert isinstance(dataset[0], Sample)
    head = dataset[:2]
    assert isinstance(head, Dataset) and len(head) == 2 and head.name == "synthetic"
    assert dataset.labels.dtype == np.int64 and dataset.labels.tolist() == [0, 0, 0, 1, 1]
    assert dataset.paths[0] == Path("real/0.jpg")
    assert dataset.generators == ["real"] * 3 + ["sd"] * 2
    assert len(dataset.where(lambda s: s.label == AI)) == 2
    assert repr(dataset) == "Dataset('synthetic', 5 samples: 3 real, 2 fake)"
    assert list(dataset) == list(dataset.samples)
    with pytest.raises(AttributeError):
        dataset.name = "other"  # type: ignore[misc]


# -- split_dataset -------------------------------------------------------------------------------------------------


def split_names(parts: tuple[Dataset, Dataset, Dataset]) -> dict[Path, str]:
    return {s.path: name for name, part in zip(("train", "val", "test"), parts, strict=True) for s in part}


@pytest.mark.parametrize(("n_real", "n_fake", "val", "test"), [(100, 60, 0.1, 0.2), (37, 251, 0.15, 0.15),
                                                               (10, 10, 0.1, 0.1), (1000, 3, 0.1, 0.1)])
def test_split_is_a_stratified_partition(n_real, n_fake, val, test):
    dataset = synthetic(n_real, n_fake)
    train, val_set, test_set = split_dataset(dataset, val=val, test=test, seed=3)
    assert sorted(map(str, train.paths + val_set.paths + test_set.paths)) == sorted(map(str, dataset.paths))
    for part, fraction in ((val_set, val), (test_set, test)):
        counts = part.counts()
        assert abs(counts["real"] - n_real * fraction) <= 1
        assert abs(counts["fake"] - n_fake * fraction) <= 1
    assert train.name == "synthetic[train]" and val_set.name == "synthetic[val]" and test_set.name == "synthetic[test]"


def test_split_is_stratified_by_generator_too():
    dataset = synthetic(200, 300, generators=("sd15", "sdxl", "mj"))
    for part, fraction in zip(split_dataset(dataset, val=0.1, test=0.2, seed=0)[1:], (0.1, 0.2), strict=True):
        per_generator = Counter(part.generators)
        assert abs(per_generator["real"] - 200 * fraction) <= 1
        for generator in ("sd15", "sdxl", "mj"):
            assert abs(per_generator[generator] - 100 * fraction) <= 1


def test_split_seed_reproducibility():
    dataset = synthetic(80, 80, generators=("a", "b"))
    first = split_dataset(dataset, seed=11)
    assert split_dataset(dataset, seed=11) == first
    assert split_dataset(dataset, seed=12) != first
    assert split_names(split_dataset(dataset, seed=12)) != split_names(first)


def test_split_with_zero_shares():
    dataset = synthetic(20, 20)
    train, val, test = split_dataset(dataset, val=0.25, test=0.0)
    assert len(test) == 0 and len(val) == 10 and len(train) == 30
    train, val, test = split_dataset(dataset, val=0.0, test=0.0)
    assert len(train) == 40 and not val and not test


@pytest.mark.parametrize(("val", "test"), [(-0.1, 0.1), (0.1, 1.0), (0.6, 0.5), (1.0, 0.0), (0.5, 0.5)])
def test_split_refuses_bad_fractions(val, test):
    with pytest.raises(ValueError):
        split_dataset(synthetic(5, 5), val=val, test=test)


def test_group_never_straddles_splits_within_a_stratum():
    dataset = synthetic(120, 120)
    scene = {s.path: f"scene{i // 4}" for i, s in enumerate(dataset)}  # groups of 4, each of a single class
    parts = split_dataset(dataset, val=0.1, test=0.2, seed=5, group=lambda s: scene[s.path])
    where: dict[str, set[str]] = {}
    for path, name in split_names(parts).items():
        where.setdefault(scene[path], set()).add(name)
    assert all(len(names) == 1 for names in where.values())
    assert len(parts[1]) > 0 and len(parts[2]) > 0


@pytest.mark.parametrize("seed", range(5))
def test_group_never_straddles_splits_across_labels_and_generators(seed):
    # Regression: the same prompt rendered by several generators (and a real photo of the scene) forms one
    # group spanning several strata; each stratum used to place its share of the group on its own.
    generators = ("sd15", "sdxl", "pixart", "kandinsky")
    samples = []
    for prompt in range(60):
        samples.append(Sample(Path(f"real/{prompt}.jpg"), REAL, "real"))
        samples.extend(Sample(Path(f"fake/{g}/{prompt}.jpg"), AI, g) for g in generators)
    dataset = Dataset(tuple(samples), name="prompts")
    prompt_of = lambda s: s.path.stem  # noqa: E731
    parts = split_dataset(dataset, val=0.1, test=0.1, seed=seed, group=prompt_of)
    where: dict[str, set[str]] = {}
    for path, name in split_names(parts).items():
        where.setdefault(path.stem, set()).add(name)
    assert {len(names) for names in where.values()} == {1}
    train, val, test = parts
    assert len(train) + len(val) + len(test) == len(dataset)
    assert len(val) == len(test) == 6 * 5  # 6 of 60 prompts, each with its 5 images
    for part in (val, test):  # whole prompts move together, so every split keeps the class/generator mix
        assert Counter(part.generators) == dict.fromkeys(("real", *generators), 6)


def test_groups_larger_than_a_share_go_to_train():
    dataset = synthetic(20, 20)
    parts = split_dataset(dataset, val=0.1, test=0.1, group=lambda s: "real-big" if s.label == REAL else s.path.name)
    assert all(s.label == AI for s in parts[1]) and all(s.label == AI for s in parts[2])
    assert parts[0].counts()["real"] == 20


def test_split_without_group_is_unchanged_by_the_group_fix():
    # split_dataset(group=None) must keep giving the splits that trained models were validated on.
    # The expected lists are what the original implementation gave.
    dataset = synthetic(30, 30, generators=("a", "b", "c"))
    _, val, test = split_dataset(dataset, val=0.1, test=0.2, seed=0)
    assert sorted(p.as_posix() for p in val.paths) == [
        "fake/a/12.png", "fake/b/13.png", "fake/c/29.png", "real/23.jpg", "real/3.jpg", "real/8.jpg"
    ]
    assert sorted(p.as_posix() for p in test.paths) == [
        "fake/a/24.png", "fake/a/27.png", "fake/b/19.png", "fake/b/7.png", "fake/c/2.png", "fake/c/26.png",
        "real/10.jpg", "real/12.jpg", "real/18.jpg", "real/19.jpg", "real/28.jpg", "real/6.jpg",
    ]


# -- balance and class weights -------------------------------------------------------------------------------------


def test_balance_undersample():
    dataset = synthetic(30, 70)
    balanced = balance(dataset, method="undersample", seed=1)
    assert balanced.counts() == {"real": 30, "fake": 30}
    assert len(set(balanced.samples)) == 60  # no repeats
    assert set(balanced.samples) <= set(dataset.samples)
    assert {s for s in balanced if s.label == REAL} == {s for s in dataset if s.label == REAL}


def test_balance_oversample_keeps_every_original():
    dataset = synthetic(30, 70)
    balanced = balance(dataset, method="oversample", seed=1)
    assert balanced.counts() == {"real": 70, "fake": 70}
    assert set(balanced.samples) == set(dataset.samples)  # regression: sampling with replacement dropped originals
    repeats = Counter(s for s in balanced if s.label == REAL)
    assert sum(repeats.values()) == 70 and len(repeats) == 30
    assert all(count == 1 for s, count in Counter(balanced.samples).items() if s.label == AI)


def test_balance_is_reproducible_and_seeded():
    dataset = synthetic(30, 70)
    for method in ("undersample", "oversample"):
        assert balance(dataset, method=method, seed=4) == balance(dataset, method=method, seed=4)
        assert balance(dataset, method=method, seed=4) != balance(dataset, method=method, seed=5)


def test_balance_errors():
    with pytest.raises(DatasetError, match="single class"):
        balance(synthetic(5, 0))
    with pytest.raises(ValueError, match="method"):
        balance(synthetic(5, 5), method="smote")


def test_class_weights_match_scikit_learn():
    compute_class_weight = pytest.importorskip("sklearn.utils.class_weight").compute_class_weight
    for labels in ([0] * 30 + [1] * 70, [1, 1, 1, 0], [0, 1] * 5, list(np.random.default_rng(0).integers(0, 2, 99))):
        y = np.asarray(labels)
        expected = compute_class_weight("balanced", classes=np.unique(y), y=y)
        weights = class_weights(labels)
        assert sorted(weights) == np.unique(y).tolist()
        np.testing.assert_allclose([weights[c] for c in np.unique(y)], expected)
    assert class_weights(synthetic(25, 75).labels) == {0: 2.0, 1: 100 / 150}


def test_class_weights_single_class():
    assert class_weights([1, 1, 1]) == {1: 1.0}


# -- streaming -----------------------------------------------------------------------------------------------------


def test_iter_images_is_a_lazy_generator_in_a_stable_order(tmp_path):
    make_tree(tmp_path, ["b.png", "a.jpg", "c/z.png", "c/y.webp", "c/deeper/x.png", "d.txt", "e/", "f.JPEG"])
    stream = iter_images(tmp_path)
    assert isinstance(stream, types.GeneratorType)
    names = [p.relative_to(tmp_path).as_posix() for p in stream]
    assert names == ["a.jpg", "b.png", "c/deeper/x.png", "c/y.webp", "c/z.png", "f.JPEG"]
    assert [p.relative_to(tmp_path).as_posix() for p in iter_images(tmp_path)] == names
    assert [p.name for p in iter_images(tmp_path, recursive=False)] == ["a.jpg", "b.png", "f.JPEG"]


def test_iter_images_reads_one_directory_at_a_time(tmp_path, monkeypatch):
    make_tree(tmp_path, [f"{d}/{i}.png" for d in "abcde" for i in range(2)])
    scanned: list[str] = []
    real_scandir = os.scandir

    def spy(path):
        scanned.append(os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", spy)
    stream = iter_images(tmp_path)
    assert scanned == []  # nothing happens before the first item is asked for
    assert next(stream).name == "0.png"
    assert len(scanned) == 2  # the root and a/, not b/ ... e/
    assert len(list(stream)) == 9
    assert len(scanned) == 6


def test_iter_images_edge_cases(tmp_path):
    assert list(iter_images(tmp_path / "missing")) == []
    image = make_image(tmp_path / "one.png")
    assert list(iter_images(image)) == [image]
    (tmp_path / "loop").mkdir()
    try:
        (tmp_path / "loop" / "self").symlink_to(tmp_path, target_is_directory=True)
    except OSError:
        pytest.skip("cannot create symlinks here")
    assert [p.name for p in iter_images(tmp_path)] == ["one.png"]  # a symlink loop is not followed


def test_iter_folder_samples_streams(tmp_path):
    make_tree(tmp_path, ["fake/sd/a.png", "real/b.png", "other/c.png"])
    stream = iter_folder_samples(tmp_path)
    assert isinstance(stream, types.GeneratorType)
    assert [(s.path.name, s.label, s.generator) for s in stream] == [("a.png", AI, "sd"), ("b.png", REAL, "real")]


# -- the shared mixed-v1 dataset -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_v1() -> Dataset:
    if not (MIXED_V1 / "manifest.csv").is_file():
        pytest.skip("../shared/datasets/mixed-v1 not available")
    return load_dataset(MIXED_V1 / "manifest.csv")


@pytest.mark.dataset
def test_mixed_v1_manifest(mixed_v1):
    assert len(mixed_v1) == 5604
    assert mixed_v1.counts() == {"real": 2800, "fake": 2804}
    assert mixed_v1.name == "mixed-v1"
    sizes = {name: len(mixed_v1.split_named(name)) for name in ("train", "val", "test")}
    assert sizes == {"train": 4451, "val": 576, "test": 577}
    assert {s.split for s in mixed_v1} == {"train", "val", "test"}
    assert all(s.path.is_absolute() or s.path.parts[0] != "" for s in mixed_v1)
    for sample in mixed_v1[::500]:
        assert sample.path.is_file(), sample.path
        assert sample.path.parent.parent.name == ("real" if sample.label == REAL else "fake")
    assert "real" not in {s.generator for s in mixed_v1 if s.label == AI}


@pytest.mark.dataset
def test_mixed_v1_manifest_splits_keep_the_class_balance(mixed_v1):
    for name in ("train", "val", "test"):
        counts = mixed_v1.split_named(name).counts()
        assert abs(counts["real"] - counts["fake"]) <= 15


@pytest.mark.dataset
def test_mixed_v1_resplit_is_stratified(mixed_v1):
    train, val, test = split_dataset(mixed_v1, val=0.1, test=0.1, seed=0)
    assert len(train) + len(val) + len(test) == 5604
    for part in (val, test):
        assert abs(part.counts()["real"] - 280) <= 1
        # one stratum per (label, generator): rounding per stratum adds up to at most half the stratum count
        assert abs(part.counts()["fake"] - 280.4) <= len({s.generator for s in mixed_v1 if s.label == AI}) / 2
