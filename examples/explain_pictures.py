"""Draw the pictures of docs/explain.md from the sample images in examples/images/.

A generated image (Kolors) is pasted into two real Kodak photos set side by
side, then explained by efficientnet (window map and occlusion) and
forensic-svm (window map and its evidence maps). All four samples come from
mixed-v1's training split, so the detectors have seen them: these pictures
show what the maps look like, not how well they work (for that, see
`benchmarks/bench_explain.py`).

    python examples/explain_pictures.py [--out docs/images]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import aidetect
from aidetect.io import load_image
from aidetect.preprocess import center_crop

HERE = Path(__file__).resolve().parent
PASTE_AT = (48, 300)
REGION = 176


def composite() -> np.ndarray:
    photos = [load_image(HERE / "images" / name) for name in ("real-kodak-kodim07.png", "real-kodak-kodim14.png")]
    canvas = np.concatenate([center_crop(photo, 256) for photo in photos], axis=1)
    top, left = PASTE_AT
    canvas[top : top + REGION, left : left + REGION] = center_crop(load_image(HERE / "images" / "ai-kolors.jpg"),
                                                                   REGION)
    return canvas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE.parent / "docs" / "images")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    image = composite()
    efficientnet = aidetect.load("efficientnet")
    # Overlays as JPEG to keep the repository small; the ELA map as PNG (JPEG would add its own error levels).
    efficientnet.explain(image).overlay().save(out / "explain-window.jpg", quality=90)
    efficientnet.explain(image, method="occlusion").overlay().save(out / "explain-occlusion.jpg", quality=90)
    forensic = aidetect.load("forensic-svm").explain(image)
    forensic.overlay().save(out / "explain-forensic-window.jpg", quality=90)
    evidence = forensic.evidence_images()
    evidence["ela"].save(out / "explain-forensic-ela.png", optimize=True)
    evidence["noise"].save(out / "explain-forensic-noise.jpg", quality=90)
    print(f"wrote the pictures to {out}; box of the pasted region (left, top, right, bottom): "
          f"{(PASTE_AT[1], PASTE_AT[0], PASTE_AT[1] + REGION, PASTE_AT[0] + REGION)}")


if __name__ == "__main__":
    main()
