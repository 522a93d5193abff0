"""The plugin hook: how detectors, built-in or third-party, become loadable by name.

A plugin module implements `register_detectors` and calls ``register`` once
per detector. Built-in detectors use exactly this hook too (see
`aidetect.registry.BUILTIN_PLUGINS`), so there is one path from a name to a
detector.
"""

from __future__ import annotations

from typing import Protocol

import pluggy

PROJECT = "aidetect"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class Register(Protocol):
    """The ``register`` callable handed to `register_detectors`."""

    def __call__(
        self,
        name: str,
        factory: object,
        *,
        description: str = "",
        backend: str = "",
        requires: list[str] | tuple[str, ...] = (),
        extra: str | None = None,
        aliases: list[str] | tuple[str, ...] = (),
        card: str | None = None,
    ) -> None: ...


class DetectorSpecs:
    """Hook specifications of the ``aidetect`` plugin system."""

    @hookspec
    def register_detectors(self, register: Register) -> None:
        """Register detectors by calling ``register(name, factory, ...)``.

        ``factory(**options)`` must return an object satisfying
        `aidetect.Detector`. ``requires`` lists importable module names the
        detector needs; ``extra`` names the pip extra that installs them;
        ``card`` names a bundled model card (``aidetect/models/<card>.json``).
        """
