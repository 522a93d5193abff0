"""Copy the measured test-split metrics from ``benchmarks/results/accuracy.json`` into the bundled model cards.

    python benchmarks/bench_accuracy.py && python benchmarks/update_cards.py

Each bundled card (``src/aidetect/models/<name>.json``) gets a ``metrics``
entry: the clean and format-normalised metrics on the mixed-v1 test split,
recall per generator, and where and when they were measured. Only the card's
``metrics`` entry changes; the weights and their sha256 do not, so the
checksum check still passes. Nothing is fitted here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MODELS = HERE.parent / "src" / "aidetect" / "models"
KEPT = ("n", "n_ai", "n_real", "threshold", "accuracy", "precision", "recall", "specificity", "f1", "roc_auc",
        "average_precision", "eer", "ece", "tpr_at_fpr_0.01", "tpr_at_fpr_0.05")


def card_metrics(results: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    clean, normalised = results["clean"], results.get("normalised", {})
    return {
        "test": {key: clean["metrics"][key] for key in KEPT if key in clean["metrics"]},
        "test_normalised": {key: normalised["metrics"][key] for key in KEPT if key in normalised.get("metrics", {})},
        "test_recall_per_generator": {g: m.get("recall") for g, m in clean["per_generator"].items() if g != "real"},
        "measured": f"benchmarks/bench_accuracy.py on the mixed-v1 test split, {run['date']}",
        "note": "test_normalised: every test image centre-cropped, resized to 256 px and re-saved as JPEG q90 "
                "(aidetect.preprocess.normalise_format), so format and size cannot carry the label",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=HERE / "results" / "accuracy.json")
    args = parser.parse_args(argv)
    data = json.loads(args.results.read_text(encoding="utf-8"))
    for name, results in data["report"]["results"].items():
        card_path = MODELS / f"{name}.json"
        if not card_path.is_file():  # ensembles and variants (efficientnet-int8) have no card of their own
            continue
        card = json.loads(card_path.read_text(encoding="utf-8"))
        card["metrics"] = card_metrics(results, data["run"])
        card_path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
        print(f"updated {card_path.relative_to(HERE.parent)}: test AUC {card['metrics']['test'].get('roc_auc')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
