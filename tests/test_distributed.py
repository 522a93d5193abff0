"""The Ray engine (`aidetect.distributed`): same rows as the local engine, resume, a stable Parquet schema, the CLI.

Tests marked ``ray`` share one local Ray instance (``ray.init(num_cpus=2)`` on 127.0.0.1, started by the
`ray_cluster` fixture and shut down after this module) and skip, saying why, when the ``[ray]`` extra is
not installed. Each of them runs a real Ray Data job on a folder of seven files, so they are also ``slow``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aidetect.cli import main
from aidetect.datasets import load_dataset
from aidetect.distributed.inputs import expand_inputs
from aidetect.errors import MissingDependencyError
from aidetect.scan import ScanPathError, ScanResult
from aidetect.scan import scan as local_scan
from conftest import BRIGHT, DARK, BrightnessDetector, write_image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "images"
TESTS = Path(__file__).resolve().parent
GOOD = ("ai-kolors.jpg", "ai-stable-diffusion-1.5.jpg", "real-kodak-kodim07.png", "real-kodak-kodim14.png")
BROKEN = {"truncated.jpg": "CorruptImageError", "text.png": "UnsupportedImageError", "empty.jpg": "EmptyImageError"}
EXTRA = "late-arrival.jpg"
"""In the folder but not in the first scan: what a resumed scan of the folder must judge."""

PARQUET_COLUMNS = [
    ("path", "string"), ("score", "double"), ("label", "string"), ("threshold", "double"), ("detector", "string"),
    ("crop_scores", "list<element: double>"), ("error", "string"), ("error_type", "string"),
    ("error_kind", "string"), ("evidence", "string"), ("version", "string"),
]
"""The Parquet schema, spelled out: a change to it breaks readers of existing outputs, so it must be deliberate."""


def make_folder(folder: Path) -> Path:
    """The four example images, three broken files and `EXTRA` (a copy of an example under another name)."""
    folder.mkdir(parents=True)
    for name in GOOD:
        shutil.copy(EXAMPLES / name, folder / name)
    (folder / "truncated.jpg").write_bytes((EXAMPLES / GOOD[0]).read_bytes()[:300])
    (folder / "text.png").write_text("not an image\n", encoding="utf-8")
    (folder / "empty.jpg").write_bytes(b"")
    shutil.copy(EXAMPLES / GOOD[2], folder / EXTRA)
    return folder


def first_scan_files(folder: Path) -> list[str]:
    return [str(folder / name) for name in (*GOOD, *BROKEN)]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="the Ray engine needs the [ray] extra: pip install 'aidetect-images[ray]'")
    pytest.importorskip("ray.data", reason="the Ray engine needs ray[data]: pip install 'aidetect-images[ray]'")
    # Workers import this module (the crash test's detector factory): tests/ goes on their path.
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING",
             _node_ip_address="127.0.0.1", runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("distributed") / "images")


@pytest.fixture(scope="module")
def first_scan(ray_cluster: Any, folder: Path) -> Any:
    """The good and broken files (not `EXTRA`) scanned into Parquet, two files per batch."""
    from aidetect.distributed import scan

    return scan(first_scan_files(folder), "efficientnet", output=folder.parent / "rows", batch_size=2,
                concurrency=1)


def parquet_rows(output: str | Path) -> list[dict[str, Any]]:
    from aidetect.distributed.schema import read_rows

    return read_rows(str(output), "parquet")


# -- without a Ray instance ---------------------------------------------------------------------------


def test_import_aidetect_loads_neither_ray_nor_pyarrow() -> None:
    code = ("import sys, aidetect, aidetect.distributed, aidetect.cli.scan, aidetect.cli.evaluate; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'pyarrow', 'pandas')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from aidetect.distributed.runtime import require_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets when it is not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'aidetect-images\[ray\]'") as caught:
        require_ray()
    assert caught.value.packages == ["ray"] and caught.value.extra == "ray"


def test_inputs_are_absolute_deduplicated_and_selected_like_the_local_engine(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = make_folder(tmp_path / "images")
    (folder / "notes.txt").write_text("skipped in folders\n", encoding="utf-8")
    (folder / "sub").mkdir()
    write_image(folder / "sub" / "deep.png", BRIGHT)
    monkeypatch.chdir(tmp_path)
    files = expand_inputs(["images", "images/*.png", "images/notes.txt"])
    names = sorted(Path(file).name for file in files)
    assert names == sorted([*GOOD, *BROKEN, EXTRA, "notes.txt"])  # named explicitly: tried; no sub-folder
    assert all(Path(file).is_absolute() for file in files) and len(files) == len(set(files))
    assert str(folder / "sub" / "deep.png") in expand_inputs(folder, recursive=True)
    with pytest.raises(ScanPathError, match="nowhere"):
        expand_inputs([folder, tmp_path / "nowhere"])
    with pytest.raises(ScanPathError, match=r"\*\.gif"):
        expand_inputs(str(folder / "*.gif"))


def test_a_row_has_the_schema_whatever_the_result(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow", reason="rows are Arrow tables: pip install 'aidetect-images[ray]'")
    from aidetect.distributed.schema import results_table

    table = results_table([ScanResult("a.png", 0.25, "real", 0.5, "d", (0.2, 0.3), version="0.1.0"),
                           ScanResult("b.png", None, None, None, "d", error="broken", error_type="CorruptImageError")])
    assert [(field.name, str(field.type)) for field in table.schema] == PARQUET_COLUMNS
    assert table.to_pylist()[1]["error_kind"] == "image" and table.to_pylist()[0]["crop_scores"] == [0.2, 0.3]
    assert results_table([]).schema == table.schema and isinstance(table, pa.Table)


@pytest.mark.parametrize("argv, message", [
    (["scan", "IMAGES", "--format", "parquet"], "--format parquet needs --engine ray"),
    (["scan", "IMAGES", "--engine", "ray"], "give --output DIR"),
    (["scan", "IMAGES", "--engine", "ray", "--output", "OUT", "--format", "csv"], "parquet or jsonl, not csv"),
    (["evaluate", "IMAGES", "--engine", "ray", "--robustness"], "--robustness: --engine local only"),
])
def test_the_cli_refuses_what_an_engine_cannot_do(argv: list[str], message: str, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    images = make_folder(tmp_path / "images")
    argv = [str(images) if arg == "IMAGES" else str(tmp_path / "out") if arg == "OUT" else arg for arg in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


# -- on a local Ray instance --------------------------------------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
def test_rows_match_the_local_engine(first_scan: Any, folder: Path) -> None:
    rows = {row["path"]: row for row in parquet_rows(first_scan.output)}
    local = {result.path: result for result in local_scan(first_scan_files(folder), "efficientnet", workers=1)}
    assert sorted(rows) == sorted(local) and first_scan.judged == len(local) == 7 and not first_scan.crashed
    for path, result in local.items():
        row = rows[path]
        if result.ok:
            assert row["score"] == pytest.approx(result.score, abs=1e-6), path
            assert row["crop_scores"] == pytest.approx(list(result.crop_scores), abs=1e-6), path
            assert (row["label"], row["threshold"], row["error"]) == (result.label, result.threshold, None)
        else:
            assert row["score"] is None and row["label"] is None
            assert (row["error_type"], row["error_kind"]) == (result.error_type, "image")
            assert row["error_type"] == BROKEN[Path(path).name]
            # The one reason worded apart: the loader was handed bytes ("input holds zero bytes"), not a file.
            same = "zero bytes" if row["error_type"] == "EmptyImageError" else result.error
            assert same in row["error"], (path, row["error"], result.error)
        assert row["detector"] == "efficientnet" and row["version"] == result.version
    # Not only equal but sensible: the generated examples outscore the camera photos.
    ai = [rows[str(folder / name)]["score"] for name in ("ai-kolors.jpg", "ai-stable-diffusion-1.5.jpg")]
    real = [rows[str(folder / name)]["score"] for name in ("real-kodak-kodim07.png", "real-kodak-kodim14.png")]
    assert min(ai) > max(real)


@pytest.mark.ray
@pytest.mark.slow
def test_the_parquet_schema_is_stable(first_scan: Any) -> None:
    import pyarrow.parquet as pq

    files = sorted(Path(first_scan.output).glob("*.parquet"))
    assert files
    for file in files:
        assert [(field.name, str(field.type)) for field in pq.read_schema(file)] == PARQUET_COLUMNS


@pytest.mark.ray
@pytest.mark.slow
def test_resume_judges_only_the_paths_without_a_row(first_scan: Any, folder: Path, tmp_path: Path) -> None:
    """A row removed from the output and a file added to the folder: those two are judged, nothing else."""
    import pyarrow.parquet as pq

    from aidetect.distributed import scan

    output = tmp_path / "rows"
    shutil.copytree(first_scan.output, output)
    dropped = str(folder / GOOD[1])
    holder = next(f for f in output.glob("*.parquet") if dropped in pq.read_table(f).column("path").to_pylist())
    table = pq.read_table(holder)
    pq.write_table(table.filter([path != dropped for path in table.column("path").to_pylist()]), holder)
    before = {file.name: file.read_bytes() for file in output.glob("*.parquet")}

    report = scan(folder, "efficientnet", output=output, batch_size=2, concurrency=1)

    assert (report.files, report.skipped, report.judged) == (8, 6, 2)
    new_files = [file for file in output.glob("*.parquet") if file.name not in before]
    assert sorted(row["path"] for file in new_files for row in pq.read_table(file).to_pylist()) == \
        sorted([dropped, str(folder / EXTRA)])
    assert all((output / name).read_bytes() == data for name, data in before.items())  # old rows untouched
    paths = [row["path"] for row in parquet_rows(output)]
    assert sorted(paths) == sorted(set(paths)) and len(paths) == 8


@pytest.mark.ray
@pytest.mark.slow
def test_without_resume_an_output_with_rows_is_refused(first_scan: Any, folder: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["scan", str(folder), "--engine", "ray", "--output", first_scan.output, "--no-resume"])
    assert code == 2 and "already holds 7 rows" in capsys.readouterr().err


@pytest.mark.ray
@pytest.mark.slow
def test_cli_scan_round_trip_as_json_lines(first_scan: Any, folder: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "jsonl"
    code = main(["scan", *first_scan_files(folder), "--engine", "ray", "--output", str(output), "--format", "jsonl",
                 "--concurrency", "1", "--batch-size", "3"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "holds 7 rows: 4 verdicts, 3 unreadable files, 0 detector failures" in err
    lines = [json.loads(line) for file in sorted(output.glob("*.json")) for line in file.read_text().splitlines()]
    expected = {row["path"]: row for row in parquet_rows(first_scan.output)}
    assert sorted(line["path"] for line in lines) == sorted(expected)
    for line in lines:
        assert list(line) == [name for name, _ in PARQUET_COLUMNS]
        want = expected[line["path"]]
        assert (line["label"], line["error_type"]) == (want["label"], want["error_type"])
        assert line["score"] == pytest.approx(want["score"], abs=1e-6) if want["score"] is not None \
            else line["score"] is None


@pytest.mark.ray
@pytest.mark.slow
def test_cli_evaluate_on_ray_reports_what_the_local_engine_reports(ray_cluster: Any, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from aidetect.evaluation import evaluate as local_evaluate
    from aidetect.registry import load

    for name in GOOD:
        target = tmp_path / "set" / ("fake" if name.startswith("ai-") else "real") / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / name, target)
    (tmp_path / "set" / "fake" / "broken.png").write_text("not an image\n", encoding="utf-8")
    code = main(["evaluate", str(tmp_path / "set"), "--engine", "ray", "--concurrency", "1", "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    on_ray = json.loads(captured.out)
    local = local_evaluate(load("efficientnet"), load_dataset(tmp_path / "set")).to_dict()
    assert on_ray["n_images"] == local["n_images"] == 5
    ray_metrics = on_ray["results"]["efficientnet"]["clean"]["metrics"]
    local_metrics = local["results"]["efficientnet"]["clean"]["metrics"]
    assert ray_metrics.pop("confusion_matrix") == local_metrics.pop("confusion_matrix")
    assert ray_metrics == pytest.approx(local_metrics, abs=1e-6) and ray_metrics["n"] == 4
    assert [(e["path"], e["detector"]) for e in on_ray["errors"]] == [(str(tmp_path / "set/fake/broken.png"), None)]


# -- a worker that dies -------------------------------------------------------------------------------

CRASH_MARK = "kill-the-worker"


class CrashingDetector(BrightnessDetector):
    """Kills its own process, as the OOM killer or a segfault would, on any file whose name has `CRASH_MARK`."""

    def load(self, source: Any) -> Any:
        if isinstance(source, bytes) and CRASH_MARK.encode() in source[-64:]:
            os._exit(9)
        return super().load(source)


def crashing_detector() -> CrashingDetector:
    """The factory Ray pickles to every actor (by reference: the workers import this module)."""
    return CrashingDetector()


@pytest.mark.ray
@pytest.mark.slow
def test_a_file_that_keeps_killing_its_worker_gets_a_crash_row(ray_cluster: Any, tmp_path: Path) -> None:
    from aidetect.distributed import scan

    images = tmp_path / "images"
    images.mkdir()
    for index in range(4):
        write_image(images / f"c{index}.png", BRIGHT if index % 2 else DARK)
    killer = images / "c1.png"
    killer.write_bytes(killer.read_bytes() + CRASH_MARK.encode())  # trailing bytes: the PNG still decodes
    report = scan(images, crashing_detector, output=tmp_path / "rows", batch_size=2, concurrency=1, retries=1)
    rows = {Path(row["path"]).name: row for row in parquet_rows(report.output)}
    assert report.crashed == [str(killer)] and sorted(rows) == ["c0.png", "c1.png", "c2.png", "c3.png"]
    assert (rows["c1.png"]["error_type"], rows["c1.png"]["error_kind"]) == ("WorkerCrashed", "detector")
    assert [rows[name]["label"] for name in ("c0.png", "c2.png", "c3.png")] == ["real", "real", "ai"]
