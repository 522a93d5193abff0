"""The plugin hook: how detectors, built-in or third-party, become loadable by name.

A plugin module implements `register_detectors` and calls ``register`` once
per detector. Built-in detectors use exactly this hook too (see
`aidetect.registry.BUILTIN_PLUGINS`), so there is one path from a name to a
detector. The contract is written down in docs/plugins.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pluggy

PROJECT = "aidetect"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

DetectorFactory = Callable[..., Any]
"""``factory(**options)`` returns an `aidetect.Detector` (usually the detector class itself)."""


class Register(Protocol):
    """The ``register`` callable handed to `register_detectors`: one call per detector.

    ``name``: what users pass to `aidetect.load`; ``factory``: see
    `DetectorFactory`; ``description`` and ``backend``: shown by ``aidetect
    list``; ``requires``: importable module names the detector needs (checked
    without importing them); ``extra``: the pip extra that installs them;
    ``aliases``: other names; ``card``: a model card bundled with aidetect;
    ``deprecated_names``: former names, still accepted with a DeprecationWarning.
    """

    def __call__(
        self,
        name: str,
        factory: DetectorFactory,
        *,
        description: str = "",
        backend: str = "",
        requires: Sequence[str] = (),
        extra: str | None = None,
        aliases: Sequence[str] = (),
        card: str | None = None,
        deprecated_names: Sequence[str] = (),
    ) -> None: ...


class DetectorSpecs:
    """Hook specifications of the ``aidetect`` plugin system."""

    @hookspec
    def register_detectors(self, register: Register) -> None:
        """Register detectors by calling ``register(name, factory, ...)``; see `Register`."""
