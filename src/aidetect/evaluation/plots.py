"""PNG plots of an evaluation (ROC, precision-recall, confusion, reliability), drawn with matplotlib if present.

Figures are built with ``matplotlib.figure.Figure`` rather than pyplot, so no
backend is selected and the caller's matplotlib state is left as it was.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aidetect import metrics
from aidetect.evaluation.conditions import CLEAN
from aidetect.evaluation.results import ConditionResult

if TYPE_CHECKING:
    from aidetect.evaluation.report import EvaluationReport

log = logging.getLogger(__name__)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "detector"


def write_plots(report: EvaluationReport, directory: Path) -> list[Path] | None:
    """Four PNGs per detector in ``directory``; None when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        log.info("matplotlib is not installed; skipping plots")
        return None
    written = []
    for detector in report.detectors:
        by_condition = report.results[detector]
        for kind, draw in (
            ("roc", _plot_roc),
            ("pr", _plot_precision_recall),
            ("confusion", _plot_confusion),
            ("reliability", _plot_reliability),
        ):
            figure = Figure(figsize=(5, 5))
            axes = figure.subplots()
            draw(axes, by_condition)
            axes.set_title(f"{detector}: {axes.get_title()}")
            figure.tight_layout()
            path = directory / f"{kind}_{_slug(detector)}.png"
            figure.savefig(path, dpi=100)
            written.append(path)
    return written


# -- one plot each (matplotlib axes in, nothing out) -------------------------------------------------


def _both_classes(result: ConditionResult) -> bool:
    return bool(result.labels.size) and 0 < result.labels.sum() < result.labels.size


def _plot_roc(axes: Any, by_condition: dict[str, ConditionResult]) -> None:
    for condition, result in by_condition.items():
        if _both_classes(result):
            fpr, tpr, _ = metrics.roc_curve(result.labels, result.scores)
            axes.plot(fpr, tpr, label=f"{condition} (AUC {result.metrics['roc_auc']:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC", xlim=(0, 1), ylim=(0, 1.01))
    _legend(axes)


def _plot_precision_recall(axes: Any, by_condition: dict[str, ConditionResult]) -> None:
    for condition, result in by_condition.items():
        if _both_classes(result):
            precision, recall, _ = metrics.precision_recall_curve(result.labels, result.scores)
            label = f"{condition} (AP {result.metrics['average_precision']:.3f})"
            axes.step(recall, precision, where="post", label=label)
    axes.set(xlabel="recall", ylabel="precision", title="precision-recall", xlim=(0, 1), ylim=(0, 1.01))
    _legend(axes)


def _plot_confusion(axes: Any, by_condition: dict[str, ConditionResult]) -> None:
    matrix = np.asarray(by_condition[CLEAN].metrics["confusion_matrix"])
    axes.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        axes.text(col, row, str(count), ha="center", va="center", color="black")
    axes.set(
        xticks=[0, 1], yticks=[0, 1], xticklabels=["real", "ai"], yticklabels=["real", "ai"],
        xlabel="predicted", ylabel="true", title="confusion matrix (clean)",
    )


def _plot_reliability(axes: Any, by_condition: dict[str, ConditionResult], n_bins: int = 15) -> None:
    result = by_condition[CLEAN]
    scores, labels = result.scores, result.labels
    if scores.size and scores.min() >= 0.0 and scores.max() <= 1.0:
        mean_score, ai_share, _ = metrics.reliability_curve(labels, scores, n_bins)
        axes.plot(mean_score, ai_share, marker="o", label=f"clean (ECE {result.metrics['ece']:.3f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    axes.set(xlabel="mean predicted P(AI)", ylabel="share of AI images", title="reliability")
    axes.set(xlim=(0, 1), ylim=(-0.02, 1.02))
    _legend(axes)


def _legend(axes: Any) -> None:
    if axes.get_legend_handles_labels()[0]:
        axes.legend(loc="best", fontsize="small")
