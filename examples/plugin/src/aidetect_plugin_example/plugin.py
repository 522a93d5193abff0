"""The module the ``aidetect`` entry point names: it implements the `register_detectors` hook.

Keep this module cheap to import: aidetect imports every installed plugin
when it first builds its registry (``aidetect list``, ``aidetect.load``).
Import heavy packages inside your detector, when it runs, and list them in
``requires`` so that aidetect can say what is missing instead of failing.
"""

from __future__ import annotations

import aidetect


@aidetect.hookimpl
def register_detectors(register: aidetect.Register) -> None:
    """Called once by aidetect; ``register`` adds one detector per call."""
    from aidetect_plugin_example.detector import SaturationDetector

    register(
        "example-saturation",
        SaturationDetector,
        description="Colour-saturation heuristic (example plugin; a toy, not a reliable detector)",
        backend="numpy",
        requires=["numpy"],
        aliases=["saturation"],
    )
