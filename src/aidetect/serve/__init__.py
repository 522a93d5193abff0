"""``aidetect serve``: an HTTP API and an upload page on top of the public library API.

    >>> from aidetect.serve import ServeSettings, create_app
    >>> app = create_app(ServeSettings(detectors=("efficientnet",)))   # an ASGI app for uvicorn

Install with ``pip install 'aidetect-images[serve]'``. Importing this package is
cheap; FastAPI is imported by `create_app` (and by ``aidetect serve``).
"""

from __future__ import annotations

from typing import Any

from aidetect.serve.settings import ServeSettings

__all__ = ["ServeSettings", "create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":  # FastAPI only when an app is actually built
        from aidetect.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'aidetect.serve' has no attribute {name!r}")
