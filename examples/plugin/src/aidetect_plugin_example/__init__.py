"""An example aidetect plugin: one small detector, registered through the ``aidetect`` entry point.

Install it (``pip install ./examples/plugin``) and ``aidetect list`` shows
``example-saturation``; ``aidetect.load("example-saturation")`` builds it.
"""

from __future__ import annotations

from aidetect_plugin_example.detector import SaturationDetector

__version__ = "0.1.0"
__all__ = ["SaturationDetector", "__version__"]
