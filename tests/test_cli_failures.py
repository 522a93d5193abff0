"""What the command line says when things fail: detector failures, crashed workers, bad options, warnings."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from aidetect.cli import DOCS_URL, main
from test_scan_failures import CRASH_MARK, failing_detectors, folder_with_a_killer  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("failing_detectors")

REPO = Path(__file__).resolve().parents[1]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_detector_whose_constructor_raises_is_one_error_line_and_exit_2(capsys, image_dir) -> None:
    code, out, err = run(capsys, "scan", image_dir, "-d", "test-unbuildable")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [
        "aidetect: error: detector 'test-unbuildable' (plugin 'aidetect-failures') could not be built: "
        "OSError: cannot open /nonexistent/model.bin"
    ]


def test_a_detector_failing_on_every_image_exits_non_zero_and_says_so(capsys, image_dir, broken_images) -> None:
    code, out, err = run(capsys, "scan", image_dir, "-d", "test-raiser", "--format", "json", "--workers", "1")
    rows = {Path(row["path"]).name: row for row in map(json.loads, out.splitlines())}
    assert code == 3
    assert rows["dark-1.png"]["error_kind"] == "detector" and rows["empty.png"]["error_kind"] == "image"
    assert "(4 unreadable, 4 detector)" in err
    assert re.search(r"aidetect: error: detector 'test-raiser' failed on 4 of 8 files \(first: .*RuntimeError: "
                     r"model output has the wrong shape\); unreadable files: 4", err)


def test_bad_files_alone_still_exit_0(capsys, image_dir, broken_images) -> None:
    code, _, err = run(capsys, "scan", image_dir, "-d", "test-brightness", "--workers", "1")
    assert code == 0 and "(4 unreadable, 0 detector)" in err and "error: detector" not in err


def test_a_killed_worker_is_a_row_and_the_written_output_is_complete(
    capsys, folder_with_a_killer, tmp_path  # noqa: F811
) -> None:
    out_file = tmp_path / "rows.jsonl"
    code, _, err = run(capsys, "scan", folder_with_a_killer, "-d", "test-crasher", "--workers", "2",
                       "--batch-size", "2", "--format", "json", "--output", out_file)
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 21 and len({row["path"] for row in rows}) == 21
    (crashed,) = [row for row in rows if row["error"]]
    assert CRASH_MARK in crashed["path"] and crashed["error_type"] == "WorkerCrashed"
    assert code == 3 and "WorkerCrashed" in err


def test_progress_shows_the_total(capsys, image_dir) -> None:
    code, _, err = run(capsys, "scan", image_dir, "-d", "test-brightness", "--workers", "1", "--progress",
                       "--recursive")
    assert code == 0
    assert re.search(r"scanning: 100%\|.*\| 5/5 ", err), err  # a total (and so an ETA), not just a count


def test_a_wrongly_typed_threads_option_is_our_error_not_a_binding_signature(capsys, image_dir) -> None:
    code, _, err = run(capsys, "scan", image_dir, "-d", "efficientnet", "-o", 'threads="abc"')
    assert code == 2
    assert err.strip() == "aidetect: error: efficientnet: threads must be a whole number of at least 1, got 'abc'"
    assert "intra_op_num_threads" not in err and "(self:" not in err


def test_the_help_footer_points_where_an_installed_user_can_read(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and DOCS_URL in out and "Docs: docs/cli.md" not in out
    project_urls = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    documentation = re.search(r'^Documentation = "([^"]+)"', project_urls, re.MULTILINE).group(1)
    assert DOCS_URL.replace("/blob/", "/tree/").startswith(documentation)


def test_a_broken_plugin_warning_points_at_the_callers_code(plugin_entry_points) -> None:
    from aidetect.registry import get_registry, reset_registry

    plugin_entry_points["exploding"] = "aidetect_exploding_plugin_that_is_not_installed"
    reset_registry()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        get_registry()
    (warning,) = [w for w in caught if "exploding" in str(w.message)]
    assert warning.filename == __file__
