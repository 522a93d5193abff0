"""Markdown tables of an evaluation: overall metrics, recall per generator, left-out images."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aidetect.evaluation.conditions import CLEAN

if TYPE_CHECKING:
    from aidetect.evaluation.report import EvaluationReport


def cell(value: Any) -> str:
    """A table cell: three decimals for floats, ``n/a`` for missing or NaN, pipes escaped."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value).replace("|", "\\|")


def signed(value: float | None) -> str:
    """A change, always with its sign, so a drop and a gain read differently at a glance."""
    return "n/a" if value is None or math.isnan(value) else f"{value:+.3f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(cell(value) for value in row) + " |" for row in rows)
    return lines


def report_markdown(report: EvaluationReport, max_errors: int = 20) -> str:
    """Readable tables: overall metrics per detector and condition, then recall per generator."""
    lines = [f"# Evaluation on {report.dataset}", "", f"{report.n_images} images, {len(report.errors)} left out.", ""]
    lines += ["## Overall", ""]
    lines += markdown_table(
        ["detector", "condition", "n", "threshold", "accuracy", "AUC", "F1", "ECE", "EER", "ΔAUC", "Δaccuracy"],
        [_overall_row(report, detector, condition) for detector in report.detectors for condition in report.conditions],
    )
    for detector in report.detectors:
        lines += ["", f"## Recall per generator: {detector}", ""]
        lines += ["Share of each generator's images flagged AI; for `real`, the share kept as real.", ""]
        lines += _generator_table(report, detector)
    if report.errors:
        lines += ["", "## Images left out", ""]
        lines += [
            f"- `{e.path}`" + (f" ({e.detector}, {e.condition})" if e.detector else "") + f": {e.message}"
            for e in report.errors[:max_errors]
        ]
        if len(report.errors) > max_errors:
            lines.append(f"- ... and {len(report.errors) - max_errors} more (see report.json)")
    return "\n".join(lines) + "\n"


def _overall_row(report: EvaluationReport, detector: str, condition: str) -> list[Any]:
    result = report.results[detector][condition]
    m, delta = result.metrics, result.delta or {}
    return [
        detector, condition, m["n"], m["threshold"], m["accuracy"], m["roc_auc"], m["f1"], m["ece"], m["eer"],
        signed(delta.get("roc_auc")), signed(delta.get("accuracy")),
    ]


def _generator_table(report: EvaluationReport, detector: str) -> list[str]:
    by_condition = report.results[detector]
    generators = sorted({g for result in by_condition.values() for g in result.per_generator})
    rows = []
    for generator in generators:
        row: list[Any] = [generator, by_condition[CLEAN].per_generator.get(generator, {}).get("n", 0)]
        for condition in report.conditions:
            entry = by_condition[condition].per_generator.get(generator)
            key = "specificity" if generator == "real" else "recall"
            row.append(entry[key] if entry else None)
        rows.append(row)
    return markdown_table(["generator", "n", *report.conditions], rows)


def logo_to_markdown(table: Mapping[str, Mapping[str, float]]) -> str:
    """The `leave_one_generator_out` table as Markdown, one row per held-out generator."""
    header = ["held-out generator", "n_ai", "n_real", "recall", "specificity", "AUC"]
    rows = [[g, r["n_ai"], r["n_real"], r["recall"], r["specificity"], r["auc"]] for g, r in table.items()]
    return "\n".join(markdown_table(header, rows)) + "\n"
