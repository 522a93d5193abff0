"""Name -> detector: the pluggy plugin manager and the detector table.

Built-in detector modules and third-party plugins (entry-point group
``aidetect``) register through the same `register_detectors` hook. A plugin
that fails to import or raises while registering is recorded and warned
about, and never takes the others down.

``AIDETECT_PLUGINS`` controls external plugins: unset loads them all;
``none`` (or an empty value) loads none; a comma-separated list loads only
those entry-point names.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from aidetect.errors import DetectorError, MissingDependencyError, PluginError, UnknownDetectorError
from aidetect.hookspecs import PROJECT, DetectorSpecs

ENTRY_POINT_GROUP = "aidetect"
PLUGINS_ENV = "AIDETECT_PLUGINS"
DEFAULT_DETECTOR = "efficientnet"
BUILTIN_PLUGINS = (
    "aidetect.detectors.efficientnet",
    "aidetect.detectors.cnn",
    "aidetect.detectors.forensic_svm",
    "aidetect.detectors.ensemble",
    "aidetect.detectors.clip",
    "aidetect.detectors.stacked",
)


@dataclass(frozen=True)
class DetectorInfo:
    """What `aidetect.available()` tells about one detector."""

    name: str
    factory: Callable[..., Any] = field(repr=False)
    description: str = ""
    backend: str = ""
    requires: tuple[str, ...] = ()
    extra: str | None = None
    aliases: tuple[str, ...] = ()
    card: str | None = None
    plugin: str = ""

    def missing(self) -> list[str]:
        """The required modules that cannot be imported here."""
        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    def has_weights(self) -> bool | None:
        """Whether the bundled/cached weights named by the card are present (None: no card)."""
        if self.card is None:
            return None
        from aidetect.weights import WeightsError, has_weights, load_card

        try:
            return has_weights(load_card(self.card))
        except WeightsError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "backend": self.backend,
            "requires": list(self.requires),
            "missing": self.missing(),
            "extra": self.extra,
            "aliases": list(self.aliases),
            "weights_present": self.has_weights(),
            "plugin": self.plugin,
        }


@dataclass(frozen=True)
class PluginStatus:
    """How loading one plugin went."""

    name: str
    module: str
    builtin: bool
    error: str | None = None
    detectors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


class Registry:
    """Collects detectors from built-in modules and entry points."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(DetectorSpecs)
        self.detectors: dict[str, DetectorInfo] = {}
        self.aliases: dict[str, str] = {}
        self.plugins: list[PluginStatus] = []
        for module_name in BUILTIN_PLUGINS:
            self._add_plugin(
                module_name, module_name, builtin=True, loader=lambda m=module_name: importlib.import_module(m)
            )
        if entry_points:
            for entry_point in _selected_entry_points():
                self._add_plugin(entry_point.name, entry_point.value, builtin=False, loader=entry_point.load)

    def _add_plugin(self, name: str, module: str, *, builtin: bool, loader: Callable[[], Any]) -> None:
        try:
            plugin = loader()
            self.manager.register(plugin, name=name)
            registered = self._collect(plugin, name)
        except Exception as exc:  # a broken plugin is reported, never fatal
            message = f"{type(exc).__name__}: {exc}"
            self.plugins.append(PluginStatus(name, module, builtin, error=message))
            warnings.warn(f"aidetect plugin {name!r} ({module}) failed and was skipped: {message}", stacklevel=3)
            if self.manager.is_registered(locals().get("plugin")):
                self.manager.unregister(name=name)
            return
        self.plugins.append(PluginStatus(name, module, builtin, detectors=tuple(info.name for info in registered)))

    def _collect(self, plugin: object, plugin_name: str) -> list[DetectorInfo]:
        """Run one plugin's hook implementation; commit its detectors only if it succeeds."""
        pending: list[DetectorInfo] = []

        def register(name: str, factory: Callable[..., Any], *, description: str = "", backend: str = "",
                     requires: list[str] | tuple[str, ...] = (), extra: str | None = None,
                     aliases: list[str] | tuple[str, ...] = (), card: str | None = None) -> None:
            if not callable(factory):
                raise PluginError(f"detector {name!r}: factory {factory!r} is not callable")
            pending.append(DetectorInfo(name, factory, description, backend, tuple(requires), extra, tuple(aliases),
                                        card, plugin_name))

        for impl in self.manager.hook.register_detectors.get_hookimpls():
            if impl.plugin is plugin:
                impl.function(register=register)
        for info in pending:
            for key in (info.name, *info.aliases):
                if key in self.detectors or key in self.aliases:
                    raise PluginError(f"detector name {key!r} is already taken")
        for info in pending:
            self.detectors[info.name] = info
            self.aliases.update({alias: info.name for alias in info.aliases})
        return pending

    def get(self, name: str) -> DetectorInfo:
        key = self.aliases.get(name, name)
        if key not in self.detectors:
            known = ", ".join(sorted(self.detectors)) or "none"
            raise UnknownDetectorError(f"no detector named {name!r}; available: {known}")
        return self.detectors[key]

    def load(self, name: str, **options: Any) -> Any:
        info = self.get(name)
        missing = info.missing()
        if missing:
            raise MissingDependencyError(info.name, missing, info.extra)
        try:
            return info.factory(**options)
        except TypeError as exc:
            raise DetectorError(f"detector {info.name!r} does not accept these options: {exc}") from exc

    def available(self) -> list[DetectorInfo]:
        return sorted(self.detectors.values(), key=lambda info: info.name)


def _selected_entry_points() -> list[importlib.metadata.EntryPoint]:
    setting = os.environ.get(PLUGINS_ENV)
    found = list(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))
    if setting is None:
        return found
    wanted = {part.strip() for part in setting.split(",") if part.strip()} - {"none"}
    return [entry_point for entry_point in found if entry_point.name in wanted]


_registry: Registry | None = None
_registry_lock = threading.Lock()


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _registry
    with _registry_lock:
        if _registry is None:
            _registry = Registry()
        return _registry


def reset_registry() -> None:
    """Forget the registry so the next use rescans plugins (after installing one, or in tests)."""
    global _registry
    with _registry_lock:
        _registry = None


def load(name: str = DEFAULT_DETECTOR, **options: Any) -> Any:
    """Build the detector registered as ``name`` with ``options`` (see `aidetect.load`)."""
    return get_registry().load(name, **options)


def available() -> list[DetectorInfo]:
    """Every registered detector, built-in and from plugins."""
    return get_registry().available()
