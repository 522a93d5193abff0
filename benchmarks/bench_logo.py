"""Leave-one-generator-out: how a trainable detector does on a generator family it never saw.

For each family G (several mixed-v1 generator labels grouped, e.g. every
Nano-Banana variant, so that a near-twin does not leak into training), a fresh
detector is trained on all of mixed-v1 except G's images and a fixed 20% of the
real photos, then scored on G's images against those held-out reals
(`aidetect.evaluation.leave_one_generator_out`). Recall on G at the detector's
own validation threshold, and AUC of G versus the held-out reals, are the
generalisation figures; compare them with the in-distribution per-generator
recall of bench_accuracy.py.

The default detector is forensic-svm with one training view per image (each
fold trains in about a minute and a half on 2 cores). Writes
``<out>/logo.json`` and ``<out>/logo.md``.

    python benchmarks/bench_logo.py
    python benchmarks/bench_logo.py --family StyleGAN --family Midjourney
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_accuracy import DEFAULT_MANIFEST, run_facts, write_outputs

DEFAULT_OUT = Path(__file__).resolve().parent / "results"
FAMILIES: dict[str, tuple[str, ...]] = {
    "StyleGAN": ("StyleGAN",),
    "gpt-image": ("gpt-image", "GPT-4o-image", "ChatGPT-Images"),
    "Nano-Banana": ("Nano-Banana",),
    "Stable Diffusion 1.x/2.x": ("CompVis/stable-diffusion-v1-4", "runwayml/stable-diffusion-v1-5",
                                 "stabilityai/stable-diffusion-2-1", "Lykon/dreamshaper-8"),
    "Midjourney": ("Midjourney",),
    "PixArt": ("PixArt",),
    "DALL-E mini": ("DALL-E mini",),
}
"""Family -> prefixes of the mixed-v1 generator labels it groups."""


def family_of(generator: str | None) -> str | None:
    for family, prefixes in FAMILIES.items():
        if generator and generator.startswith(prefixes):
            return family
    return generator


def with_families(dataset: Any) -> Any:
    """The dataset with each AI image's generator label replaced by its family."""
    samples = tuple(s if s.label == 0 else replace(s, generator=family_of(s.generator)) for s in dataset.samples)
    return replace(dataset, samples=samples)


def make_forensic_svm() -> Any:
    from aidetect.detectors.forensic_svm import ForensicSVMDetector

    return ForensicSVMDetector(views_per_image=1, n_jobs=2, seed=0)


def to_markdown(data: dict[str, Any]) -> str:
    from aidetect.evaluation import logo_to_markdown

    machine = data["run"]["machine"]
    return "\n".join([
        "# Leave one generator family out",
        "",
        f"Detector `{data['detector']}` ({data['recipe']}), retrained once per held-out family on the rest of "
        f"mixed-v1 (all splits) minus 20% of the real photos, which are the negatives of every row. "
        f"Run {data['run']['date']} on {machine['cpu']} ({machine['cpus_usable']} usable CPUs), "
        f"{data['seconds']:.0f} s.",
        "",
        logo_to_markdown(data["table"]),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--family", action="append", choices=tuple(FAMILIES),
                        help="families to hold out (default: all)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    from aidetect.datasets import load_dataset
    from aidetect.evaluation import leave_one_generator_out

    if not args.manifest.is_file():
        sys.exit(f"error: dataset manifest not found: {args.manifest}")
    dataset = with_families(load_dataset(args.manifest))
    families = args.family or list(FAMILIES)
    started = time.perf_counter()
    table = {}
    for family in families:  # one at a time, so progress shows and a crash keeps the finished rows
        table.update(leave_one_generator_out(make_forensic_svm, dataset, [family], seed=0))
        row = table[family]
        print(f"{family}: recall {row['recall']:.3f}  AUC {row['auc']:.3f}  "
              f"[{time.perf_counter() - started:.0f} s]", flush=True)
    data = {"run": run_facts(), "detector": "forensic-svm", "recipe": "views_per_image=1, C=10, gamma=scale",
            "families": {f: list(FAMILIES[f]) for f in families}, "seconds": time.perf_counter() - started,
            "table": table}
    write_outputs(args.out, "logo", data, to_markdown(data))
    print(to_markdown(data))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
