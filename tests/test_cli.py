"""The ``aidetect`` command line, run in-process through `aidetect.cli.main`."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from pathlib import Path

import pytest

from aidetect import __version__
from aidetect.cli import CSV_COLUMNS, main
from conftest import GREY, RecordingDetector, write_image

pytestmark = pytest.mark.usefixtures("test_detectors")


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def last_recorder() -> RecordingDetector:
    assert RecordingDetector.instances, "the command did not load test-recorder"
    return RecordingDetector.instances[-1]


# -- basics ------------------------------------------------------------------------------------------


def test_version(capsys) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"aidetect {__version__}"


def test_no_command_and_unknown_options_are_usage_errors(capsys) -> None:
    assert run(capsys)[0] == 2
    assert run(capsys, "scan", "--no-such-option", ".")[0] == 2


def test_list_shows_detectors_status_and_install_hints(capsys) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "BACKEND", "STATUS", "WEIGHTS", "ALIASES", "DESCRIPTION"]
    assert any(line.startswith("efficientnet (default)") for line in lines)
    (brightness,) = [line for line in lines if line.startswith("test-brightness ")]
    assert brightness.split()[1:3] == ["numpy", "ready"] and "test-bright" in brightness
    (needs,) = [line for line in lines if line.startswith("test-needs-module ")]
    assert "missing: aidetect_no_such_module" in needs
    assert "pip install 'aidetect-images[fake-extra]'" in out


def test_list_json(capsys) -> None:
    code, out, _ = run(capsys, "list", "--json")
    entries = {entry["name"]: entry for entry in json.loads(out)}
    assert code == 0 and entries["efficientnet"]["default"] is True
    assert entries["test-brightness"]["status"] == "ready" and entries["test-brightness"]["hint"] is None
    assert entries["test-brightness"]["aliases"] == ["test-bright"]
    needs = entries["test-needs-module"]
    assert needs["missing"] == ["aidetect_no_such_module"] and "fake-extra" in needs["hint"]


def test_plugins_table_and_json(capsys) -> None:
    code, out, _ = run(capsys, "plugins")
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.startswith("aidetect-tests ")]
    assert row.split()[1:3] == ["external", "ok"] and "test-brightness" in row
    assert any(line.split()[:3] == ["aidetect.detectors.efficientnet", "builtin", "ok"] for line in out.splitlines())
    code, out, _ = run(capsys, "plugins", "--json")
    plugins = {plugin["name"]: plugin for plugin in json.loads(out)}
    assert plugins["aidetect-tests"]["builtin"] is False and plugins["aidetect-tests"]["ok"] is True
    assert "test-recorder" in plugins["aidetect-tests"]["detectors"]
    assert plugins["aidetect.detectors.cnn"]["builtin"] is True


# -- scan --------------------------------------------------------------------------------------------


def scan_args(*extra: str | Path) -> list[str | Path]:
    return ["scan", "--detector", "test-brightness", "--workers", "1", *extra]


def test_scan_json_lines(capsys, image_dir: Path) -> None:
    code, out, err = run(capsys, *scan_args("--format", "json", image_dir))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 4
    labels = {Path(row["path"]).name: row["label"] for row in rows}
    assert labels == {"bright-1.png": "ai", "bright-2.jpg": "ai", "dark-1.png": "real", "dark-2.png": "real"}
    assert set(rows[0]) == {"path", "score", "label", "threshold", "detector", "crop_scores", "error", "error_type",
                            "error_kind", "evidence", "version"}
    assert "scanned 4 images: 2 ai, 2 real, 0 uncertain, 0 errors" in err


def test_scan_csv(capsys, image_dir: Path) -> None:
    code, out, _ = run(capsys, *scan_args("--format", "csv", "--recursive", image_dir))
    rows = list(csv.reader(io.StringIO(out)))
    assert code == 0 and tuple(rows[0]) == CSV_COLUMNS and len(rows) == 6
    record = dict(zip(CSV_COLUMNS, rows[1], strict=True))
    assert record["label"] in ("ai", "real") and 0.0 <= float(record["score"]) <= 1.0
    assert len(record["crop_scores"].split(";")) == 4 and record["error"] == ""


def test_scan_table_is_aligned(capsys, image_dir: Path) -> None:
    code, out, _ = run(capsys, *scan_args(image_dir))
    header, *rows = out.splitlines()
    assert code == 0 and header.split() == ["LABEL", "SCORE", "PATH"] and len(rows) == 4
    assert {row.index(str(image_dir)) for row in rows} == {header.index("PATH")}


def test_scan_reports_bad_files_and_still_succeeds(capsys, image_dir: Path, broken_images) -> None:
    code, out, err = run(capsys, *scan_args("--format", "json", image_dir))
    rows = {Path(row["path"]).name: row for row in map(json.loads, out.splitlines())}
    assert code == 0 and len(rows) == 8
    assert rows["empty.png"]["error_type"] == "EmptyImageError" and rows["empty.png"]["score"] is None
    assert f"skipped {broken_images['garbage']}: UnsupportedImageError" in err
    assert "4 errors" in err


def test_scan_table_shows_errors_inline(capsys, image_dir: Path, broken_images) -> None:
    code, out, _ = run(capsys, *scan_args(broken_images["empty"]))
    assert code == 0 and out.splitlines()[1].startswith("error") and "[EmptyImageError: " in out


def test_scan_output_file(capsys, image_dir: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "results.jsonl"
    code, out, err = run(capsys, *scan_args("--format", "json", "--output", target, image_dir))
    assert code == 0 and out == ""
    assert len(target.read_text(encoding="utf-8").splitlines()) == 4 and "scanned 4 images" in err


def test_scan_with_worker_processes(capsys, image_dir: Path) -> None:
    code, out, _ = run(capsys, "scan", "-d", "test-brightness", "-w", "2", "--batch-size", "1", "-f", "json",
                       "-r", image_dir)
    assert code == 0 and sorted(Path(json.loads(line)["path"]).name for line in out.splitlines()) == [
        "bright-1.png", "bright-2.jpg", "bright-3.png", "dark-1.png", "dark-2.png",
    ]


def test_scan_decision_options(capsys, tmp_path: Path) -> None:
    grey = write_image(tmp_path / "grey.png", GREY)
    for extra, label in ((["--uncertain", "0.3", "0.7"], "uncertain"), (["--threshold", "0.9"], "real"),
                         (["-o", "threshold=0.01"], "ai")):
        code, out, _ = run(capsys, *scan_args("-f", "json", *extra, grey))
        assert code == 0 and json.loads(out)["label"] == label, extra


@pytest.mark.parametrize(
    "extra",
    [
        ["--threshold", "1.5"],
        ["--threshold", "0.5", "--target-fpr", "0.01"],
        ["--uncertain", "0.7"],
        ["--workers", "0"],
        ["-o", "no-equals-sign"],
    ],
)
def test_scan_bad_arguments_exit_2(capsys, image_dir: Path, extra: list[str]) -> None:
    code, out, _ = run(capsys, *scan_args(*extra, image_dir))
    assert code == 2 and out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["scan", "-d", "no-such-detector", "PATH"], "no detector named 'no-such-detector'"),
        (["scan", "-d", "test-brightness", "PATH/missing"], "no such file or folder"),
        (["scan", "-d", "test-needs-module", "PATH"], "pip install 'aidetect-images[fake-extra]'"),
        (["scan", "-d", "test-broken", "-w", "1", "PATH"], "weights are missing on purpose"),
        (["scan", "-d", "test-brightness", "--uncertain", "0.7", "0.3", "PATH"], "LOW <= HIGH"),
    ],
)
def test_run_failures_exit_2_with_one_line(capsys, image_dir: Path, argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *(arg.replace("PATH", str(image_dir)) for arg in argv))
    assert code == 2 and out == ""
    assert err.startswith("aidetect: error: ") and message in err and len(err.strip().splitlines()) == 1


def test_interrupted_scan_keeps_every_finished_line(capsys, image_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import aidetect.scan

    real_score_files, calls = aidetect.scan.score_files, []

    def interrupted_after_two(detector, paths):
        calls.append(paths)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real_score_files(detector, paths)

    monkeypatch.setattr(aidetect.scan, "score_files", interrupted_after_two)
    target = tmp_path / "partial.jsonl"
    code, _, err = run(capsys, *scan_args("-f", "json", "--batch-size", "1", "--output", target, image_dir))
    assert code == 130 and "interrupted" in err and "scanned 2 images" in err
    assert [json.loads(line)["label"] for line in target.read_text(encoding="utf-8").splitlines()] == ["ai", "ai"]


# -- evaluate ----------------------------------------------------------------------------------------


def test_evaluate_table_json_and_report_files(capsys, labelled_dir: Path, tmp_path: Path) -> None:
    code, out, _ = run(capsys, "evaluate", labelled_dir, "-d", "test-brightness")
    assert code == 0 and "20 images, 0 left out" in out
    (row,) = [line.split() for line in out.splitlines() if line.startswith("test-brightness")]
    assert row[:3] == ["test-brightness", "clean", "20"] and float(row[3]) == 1.0 and float(row[4]) == 1.0

    code, out, err = run(capsys, "evaluate", labelled_dir, "-d", "test-brightness", "-f", "json",
                         "--output", tmp_path / "report")
    report = json.loads(out)
    assert code == 0 and report["results"]["test-brightness"]["clean"]["metrics"]["roc_auc"] == 1.0
    assert (tmp_path / "report" / "report.json").is_file() and (tmp_path / "report" / "report.md").is_file()
    assert "wrote " in err


def test_evaluate_markdown_several_detectors_and_weights_spec(capsys, labelled_dir: Path) -> None:
    code, out, _ = run(capsys, "evaluate", labelled_dir, "-d", "test-brightness", "-d", "test-recorder=w.onnx",
                       "-f", "markdown", "--threshold", "0.5")
    assert code == 0 and out.startswith("# Evaluation on labelled")
    assert "test-brightness" in out and "test-recorder" in out
    assert last_recorder().options == {"weights": "w.onnx"}


def test_evaluate_split_needs_a_manifest(capsys, labelled_dir: Path) -> None:
    code, _, err = run(capsys, "evaluate", labelled_dir, "-d", "test-brightness", "--split", "test")
    assert code == 2 and "no samples in split 'test'" in err


# -- train, tune, export-onnx ------------------------------------------------------------------------


def write_manifest(root: Path, splits: dict[str, str]) -> Path:
    """A manifest over `labelled_dir` assigning each file name (stem) a split; the others get 'train'."""
    lines = ["path,label,split"]
    for path in sorted(root.rglob("*.png")):
        label = "real" if path.parent.name == "real" else "fake"
        lines.append(f"{path.relative_to(root)},{label},{splits.get(path.stem, 'train')}")
    manifest = root / "manifest.csv"
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def test_train_splits_an_unsplit_folder_fits_and_saves(capsys, labelled_dir: Path, tmp_path: Path) -> None:
    out_path = tmp_path / "model" / "recorder.json"
    code, _, err = run(capsys, "train", "test-recorder", "--data", labelled_dir, "--out", out_path)
    assert code == 0 and out_path.is_file() and f"saved {out_path}" in err
    detector = last_recorder()
    assert detector.options == {}  # only options the user gave reach the detector
    (fit, save) = detector.calls
    _, train, val = fit
    assert (len(train), len(val)) == (16, 2) and save == ("save", out_path)
    split_rows = list(csv.DictReader((tmp_path / "model" / "recorder.splits.csv").open(encoding="utf-8")))
    assert sorted(row["split"] for row in split_rows).count("test") == 2 and len(split_rows) == 20


def test_train_passes_only_given_options(capsys, labelled_dir: Path, tmp_path: Path) -> None:
    code, _, _ = run(capsys, "train", "test-recorder", "--data", labelled_dir, "--out", tmp_path / "m.json",
                     "--epochs", "3", "--batch-size", "8", "--lr", "0.01", "--seed", "7", "--grid", "C=1,10",
                     "--resume", "ckpt.pt", "-o", "dropout=0.1")
    assert code == 0
    assert last_recorder().options == {"epochs": 3, "batch_size": 8, "lr": 0.01, "seed": 7, "grid": "C=1,10",
                                       "resume": "ckpt.pt", "dropout": 0.1}


def test_train_uses_manifest_splits(capsys, labelled_dir: Path, tmp_path: Path) -> None:
    write_manifest(labelled_dir, {"r0": "val", "f0": "val", "r1": "test", "f1": "test", "r2": "holdout"})
    code, _, _ = run(capsys, "train", "test-recorder", "--data", labelled_dir, "--out", tmp_path / "m.json")
    _, train, val = last_recorder().calls[0]
    assert code == 0 and (len(train), len(val)) == (15, 2)
    assert {sample.path.stem for sample in val} == {"r0", "f0"}
    assert not (tmp_path / "m.splits.csv").exists()

    code, _, _ = run(capsys, "train", "test-recorder", "--data", labelled_dir, "--out", tmp_path / "m.json",
                     "--val-split", "holdout")
    _, train, val = last_recorder().calls[0]
    assert code == 0 and [sample.path.stem for sample in val] == ["r2"]


def test_train_errors(capsys, labelled_dir: Path, tmp_path: Path) -> None:
    code, _, err = run(capsys, "train", "test-brightness", "--data", labelled_dir, "--out", tmp_path / "m")
    assert code == 2 and "cannot be trained" in err
    code, _, err = run(capsys, "train", "test-recorder", "--data", tmp_path / "nowhere", "--out", tmp_path / "m")
    assert code == 2 and "no such file or folder" in err
    assert run(capsys, "train", "test-recorder", "--data", labelled_dir)[0] == 2  # --out is required


@pytest.fixture
def fake_tune(monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """Replace aidetect.training.tune (torch, optuna) by a recorder."""
    calls: list[dict] = []
    module = types.ModuleType("aidetect.training.tune")

    def tune(name, train, val, *, trials, out, seed):
        if Path(out).name == "needs-optuna.json":
            raise ModuleNotFoundError("No module named 'optuna'", name="optuna")
        calls.append({"name": name, "train": len(train), "val": len(val), "trials": trials, "out": out, "seed": seed})
        Path(out).write_text("{}", encoding="utf-8")
        return {"best_value": 0.75}

    module.tune = tune  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "aidetect.training.tune", module)
    return calls


def test_tune_calls_the_tuner(capsys, labelled_dir: Path, tmp_path: Path, fake_tune: list[dict]) -> None:
    best = tmp_path / "best.json"
    code, _, err = run(capsys, "tune", "cnn", "--data", labelled_dir, "--trials", "3", "--out", best, "--seed", "5")
    assert code == 0 and best.is_file() and "validation score 0.7500" in err
    assert fake_tune == [{"name": "cnn", "train": 16, "val": 2, "trials": 3, "out": best, "seed": 5}]


def test_tune_without_optuna_names_the_extra(capsys, labelled_dir: Path, tmp_path: Path, fake_tune) -> None:
    code, _, err = run(capsys, "tune", "cnn", "--data", labelled_dir, "--out", tmp_path / "needs-optuna.json")
    assert code == 2 and "pip install 'aidetect-images[tune]'" in err


def test_tune_refuses_an_untunable_detector_before_reading_data(capsys, tmp_path: Path, fake_tune) -> None:
    code, _, err = run(capsys, "tune", "efficientnet", "--data", tmp_path / "absent", "--out", tmp_path / "b.json")
    assert code == 2 and err == "aidetect: error: tuning is implemented for 'cnn'; got 'efficientnet'\n"
    assert fake_tune == []


def test_export_onnx(capsys, tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    code, out, _ = run(capsys, "export-onnx", "test-recorder", "--weights", "trained.pt", "--out", target)
    assert code == 0 and out.strip() == str(target) and target.read_bytes() == b"not really onnx"
    assert last_recorder().options == {"weights": "trained.pt"}
    code, _, _ = run(capsys, "export-onnx", "test-recorder", "--out", target)
    assert code == 0 and last_recorder().options == {}
    code, _, err = run(capsys, "export-onnx", "test-brightness", "--out", target)
    assert code == 2 and "cannot be exported to ONNX" in err
