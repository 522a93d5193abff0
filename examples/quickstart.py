"""Judge one image with the default detector, three ways of deciding.

    python examples/quickstart.py examples/images/ai-kolors.jpg
    python examples/quickstart.py photo.jpg --detector forensic-svm

The score is a calibrated probability that the image is AI-generated. The
label compares it with the model card's threshold, with one you choose, or
with the threshold validated for a target false-positive rate (the share of
real photos you accept to see flagged).
"""

from __future__ import annotations

import argparse
import sys

import aidetect
from aidetect.errors import AidetectError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="an image file")
    parser.add_argument("--detector", default=aidetect.DEFAULT_DETECTOR)
    args = parser.parse_args()
    try:
        detector = aidetect.load(args.detector)
        prediction = detector.predict(args.image)
    except AidetectError as exc:  # unknown detector, missing extra, missing weights, unreadable image
        print(f"error: {exc}", file=sys.stderr)
        return 2

    print(prediction)
    print(f"P(AI) = {prediction.score:.3f} -> {prediction.label} (threshold {prediction.threshold:.3f})")
    if prediction.crop_scores:  # per native-resolution crop (per member for the ensemble)
        print("part scores: " + ", ".join(f"{score:.2f}" for score in prediction.crop_scores))

    # A stricter threshold: fewer real photos flagged, more AI images missed.
    strict = aidetect.load(args.detector, threshold=0.9).predict(args.image)
    print(f"with threshold 0.9: {strict.label}")

    # A threshold measured on validation data for a 1% false-positive rate, plus an
    # "uncertain" answer for scores too close to call.
    try:
        cautious = aidetect.load(args.detector, target_fpr=0.01, uncertain_band=(0.3, 0.7)).predict(args.image)
        print(f"at 1% false positives, uncertain in [0.3, 0.7): {cautious.label} (threshold {cautious.threshold:.3f})")
    except ValueError as exc:  # the model card has no threshold for that rate
        print(f"target_fpr=0.01 unavailable: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
