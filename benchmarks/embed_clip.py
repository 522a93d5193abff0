"""Embed mixed-v1 + photoreal-v1 with the CLIP encoder once, into the content-hash cache.

    python benchmarks/embed_clip.py --cache /work/clip-cache/embeddings [--threads 1]

Views, in order of need: the ``resized`` view of every image; the ``resized`` view of the
format-normalised test images; ``native`` views of val, then of the held-out sources (to choose the
views); format-normalised val and held-out; ``native`` views of test, raw and format-normalised.
Later scripts (``train_clip_head.py``) read the cache only. Safe to stop and restart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_bundled import DEFAULT_DATA, training_roles

from aidetect.clip_encoder import ClipEncoder, EmbeddingCache
from aidetect.clip_weights import require_encoder
from aidetect.datasets import concat_datasets, load_dataset
from aidetect.preprocess import normalise_format
from aidetect.training.clip_embed import embed_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    roles = training_roles([load_dataset(p) for p in DEFAULT_DATA], hold_out=0.15, seed=0)
    path, sha256 = require_encoder()
    encoder = ClipEncoder(path, threads=args.threads)
    cache = EmbeddingCache(args.cache, sha256)
    selection = concat_datasets([roles["val"], roles["calibration"]], name="selection")
    plan = [  # in order of need: the head, the format-normalised test report, the view check, the rest
        ("resized", None, concat_datasets([selection, roles["test"], roles["train"]], name="all")),
        ("resized", "normalised", roles["test"]),
        ("native", None, roles["val"]),
        ("native", None, roles["calibration"]),
        ("resized", "normalised", selection),
        ("native", None, roles["test"]),
        ("native", "normalised", roles["test"]),
    ]
    for view, transform_name, dataset in plan:
        print(f"== {view}@{transform_name or 'raw'} on {len(dataset)} images", flush=True)
        embed_dataset(encoder, dataset, cache, view=view, transform=normalise_format if transform_name else None,
                      transform_name=transform_name)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
