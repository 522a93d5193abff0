"""The README's documented calls run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aidetect.errors import DatasetError
from conftest import DARK, BrightnessDetector, write_image

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_lines_from(start: str, through: str) -> str:
    """The README's lines from the one starting with ``start`` through the first one containing ``through``."""
    lines = README.read_text(encoding="utf-8").splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i in range(first, len(lines)) if through in lines[i])
    return "\n".join(lines[first : last + 1])


def test_threshold_on_a_plain_folder_of_your_own_photos_runs_as_documented(tmp_path, monkeypatch):
    snippet = readme_lines_from("from aidetect.calibration import threshold_for_fpr_on", "threshold_for_fpr_on(")
    folder = re.search(r'load_dataset\("([^"]+)"', snippet).group(1)  # the README's folder name
    for index in range(20):  # a plain folder, no real/ or fake/ sub-folders; one nested holiday folder
        write_image(tmp_path / folder / ("holiday" if index % 4 == 0 else "") / f"IMG_{index:04d}.jpg",
                    DARK + 5 * index)
    monkeypatch.chdir(tmp_path)
    namespace = {"detector": BrightnessDetector()}
    exec(snippet, namespace)
    threshold = namespace["t"]
    scores = sorted(BrightnessDetector().predict_proba(sorted((tmp_path / folder).rglob("*.jpg")))[:, 1])
    assert scores[0] < threshold <= scores[-1] + 1e-9  # a threshold from the reals' own scores


def test_a_plain_folder_without_a_label_says_how_to_give_one(tmp_path):
    from aidetect.datasets import load_dataset

    write_image(tmp_path / "photos" / "a.png", DARK)
    with pytest.raises(DatasetError, match=r"label='real'"):
        load_dataset(tmp_path / "photos")
    dataset = load_dataset(tmp_path / "photos", label="fake")
    assert [sample.label for sample in dataset] == [1]
    with pytest.raises(DatasetError, match="unknown label"):
        load_dataset(tmp_path / "photos", label="maybe")
