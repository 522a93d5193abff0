"""`EvaluationReport`: every detector's metrics under every condition, as a dict, Markdown and files."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aidetect.evaluation.conditions import CLEAN
from aidetect.evaluation.markdown import report_markdown
from aidetect.evaluation.plots import write_plots
from aidetect.evaluation.results import ConditionResult, EvaluationError
from aidetect.jsonio import json_safe


@dataclass
class EvaluationReport:
    """Every detector's metrics under every condition, plus the images that were left out."""

    dataset: str
    n_images: int
    detectors: list[str]
    conditions: list[str]
    results: dict[str, dict[str, ConditionResult]]
    errors: list[EvaluationError] = field(default_factory=list)
    threshold: float | None = None

    def result(self, detector: str, condition: str = CLEAN) -> ConditionResult:
        return self.results[detector][condition]

    def to_dict(self, include_scores: bool = False) -> dict[str, Any]:
        """A JSON-serialisable dict (nan becomes null); raw scores only with ``include_scores``."""
        data = json_safe(
            {
                "dataset": self.dataset,
                "n_images": self.n_images,
                "threshold": self.threshold,
                "detectors": self.detectors,
                "conditions": self.conditions,
                "results": {
                    detector: {
                        condition: result.to_dict(include_scores) for condition, result in by_condition.items()
                    }
                    for detector, by_condition in self.results.items()
                },
                "errors": [error.to_dict() for error in self.errors],
            }
        )
        assert isinstance(data, dict)
        return data

    def to_markdown(self, max_errors: int = 20) -> str:
        """Readable tables: overall metrics per detector and condition, then recall per generator."""
        return report_markdown(self, max_errors)

    def write(self, directory: str | Path, include_scores: bool = False) -> list[Path]:
        """Write report.json, report.md and (with matplotlib) PNG plots; return the paths written."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        json_path = directory / "report.json"
        json_path.write_text(json.dumps(self.to_dict(include_scores), indent=2, allow_nan=False), encoding="utf-8")
        plots = write_plots(self, directory)
        markdown = self.to_markdown()
        if plots is None:
            markdown += "\nPlots skipped: matplotlib is not installed (`pip install matplotlib`).\n"
        else:
            markdown += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
        markdown_path = directory / "report.md"
        markdown_path.write_text(markdown, encoding="utf-8")
        return [json_path, markdown_path, *(plots or [])]
