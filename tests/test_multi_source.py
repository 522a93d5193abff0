"""Several datasets at once: source-prefixed concatenation, source-balanced sampling, whole-source hold-outs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aidetect.datasets import Dataset, Sample, concat_datasets, hold_out_sources, source_sample_weights


def _dataset(name: str, counts: dict[tuple[int, str], int]) -> Dataset:
    samples = tuple(
        Sample(Path(f"/{name}/{source}/{label}-{i}.png"), label, source=source)
        for (label, source), n in counts.items()
        for i in range(n)
    )
    return Dataset(samples, name=name)


def test_concat_prefixes_sources_with_the_dataset_name():
    a = _dataset("a", {(0, "cam"): 2, (1, "gen"): 1})
    b = _dataset("b", {(0, "cam"): 3})
    both = concat_datasets([a, b])
    assert len(both) == 6
    assert sorted(set(both.sources)) == ["a:cam", "a:gen", "b:cam"]  # same source name in two sets stays apart
    assert both.name == "a+b"


def test_source_weights_give_each_class_half_and_shrink_big_sources():
    data = _dataset("d", {(0, "big"): 100, (0, "small"): 4, (1, "gen"): 10})
    weights = source_sample_weights(data, power=0.5)
    labels = data.labels
    assert weights.sum() == pytest.approx(1.0)
    assert weights[labels == 0].sum() == pytest.approx(0.5)
    assert weights[labels == 1].sum() == pytest.approx(0.5)
    sources = np.array(data.sources)
    big, small = weights[sources == "big"].sum(), weights[sources == "small"].sum()
    assert big / small == pytest.approx(np.sqrt(100 / 4))  # sqrt(n): 5x, not 25x
    equal = source_sample_weights(data, power=0.0)
    assert equal[sources == "big"].sum() == pytest.approx(equal[sources == "small"].sum())


def test_source_weights_reject_a_bad_power():
    with pytest.raises(ValueError, match="power"):
        source_sample_weights(_dataset("d", {(0, "a"): 1}), power=2)


def test_hold_out_sources_takes_whole_sources_within_the_fraction():
    counts = {(0, f"r{i}"): 10 for i in range(10)} | {(1, f"f{i}"): 10 for i in range(10)}
    counts[(0, "tiny")] = 2  # below min_images: never held out
    data = _dataset("d", counts)
    kept, held = hold_out_sources(data, fraction=0.2, seed=1)
    assert len(kept) + len(held) == len(data)
    assert not set(kept.sources) & set(held.sources)  # no source straddles the two
    for label in (0, 1):
        n_label = int((data.labels == label).sum())
        n_held = int((held.labels == label).sum())
        assert 0 < n_held <= 0.2 * n_label
    assert "tiny" in kept.sources
    _, other_held = hold_out_sources(data, fraction=0.2, seed=2)
    assert set(other_held.sources) != set(held.sources)  # the seed decides


def test_hold_out_sources_rejects_a_bad_fraction():
    with pytest.raises(ValueError, match="fraction"):
        hold_out_sources(_dataset("d", {(0, "a"): 1}), fraction=1.0)
