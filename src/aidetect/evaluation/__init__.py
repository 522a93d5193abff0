"""The evaluation runner behind ``aidetect evaluate``: scores, metrics, robustness, reports.

`evaluate` scores every image of a labelled `Dataset` with one or more
detectors, under the ``clean`` condition and optionally under a
format-normalised copy (``normalised``) and a set of degradations
(``jpeg95`` ... ``social``), and returns an `EvaluationReport` holding the
metrics of `aidetect.metrics`, a per-generator table, the drop from clean,
the raw scores (for plots) and every image that could not be used.
`EvaluationReport.write` saves ``report.json``, ``report.md`` and PNG plots.

`leave_one_generator_out` measures generalisation to unseen generators by
retraining a detector without each generator in turn.

Images are streamed in chunks of ``batch_size`` and each is loaded once per
detector, whatever the number of conditions, so memory stays bounded on
large datasets. A broken image is recorded and skipped, never fatal.

One module per part: `conditions` (what images are scored under),
`scoring` (images to scores), `results` (the records), `runner`
(`evaluate`), `report` (`EvaluationReport`), `markdown` and `plots` (its
renderings), `logo` (leave one generator out).
"""

from __future__ import annotations

from aidetect.evaluation.conditions import (
    CENTER_CROP_SHARE,
    CLEAN,
    NORMALISED,
    ROBUSTNESS_CONDITIONS,
    Transform,
    center_crop_share,
    condition_names,
    condition_transforms,
)
from aidetect.evaluation.logo import leave_one_generator_out
from aidetect.evaluation.markdown import logo_to_markdown
from aidetect.evaluation.report import EvaluationReport
from aidetect.evaluation.results import DELTA_METRICS, ConditionResult, EvaluationError, ScoredImages, ScoringRun
from aidetect.evaluation.runner import evaluate
from aidetect.evaluation.scoring import score_dataset
from aidetect.jsonio import json_safe

__all__ = [
    "CENTER_CROP_SHARE",
    "CLEAN",
    "DELTA_METRICS",
    "NORMALISED",
    "ROBUSTNESS_CONDITIONS",
    "ConditionResult",
    "EvaluationError",
    "EvaluationReport",
    "ScoredImages",
    "ScoringRun",
    "Transform",
    "center_crop_share",
    "condition_names",
    "condition_transforms",
    "evaluate",
    "json_safe",
    "leave_one_generator_out",
    "logo_to_markdown",
    "score_dataset",
]
