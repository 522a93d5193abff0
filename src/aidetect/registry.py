"""Name -> detector: the pluggy plugin manager and the detector table.

Built-in detector modules and third-party plugins (entry-point group
``aidetect``) register through the same `register_detectors` hook, called
through the plugin manager (``pm.hook``), so pluggy's ordering, tracing and
wrappers apply to every plugin. A plugin that fails to import or raises while
registering is recorded and warned about, and never takes the others down.

``AIDETECT_PLUGINS`` controls external plugins: unset loads them all;
``none`` (or an empty value) loads none; a comma-separated list loads only
those entry-point names.

Renamed detectors keep working for a while: `DEPRECATED_NAMES` (and a
plugin's ``register(..., deprecated_names=[...])``) map an old name to the
new one, with a `DeprecationWarning` when it is used (as timm's
``register_model_deprecations``).
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import threading
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from aidetect import __version__
from aidetect.detector import Detector
from aidetect.errors import AidetectError, DetectorError, MissingDependencyError, PluginError, UnknownDetectorError
from aidetect.hookspecs import PROJECT, DetectorSpecs

ENTRY_POINT_GROUP = "aidetect"
PLUGINS_ENV = "AIDETECT_PLUGINS"
DEFAULT_DETECTOR = "efficientnet"
DISTRIBUTION = "aidetect-images"
BUILTIN_PLUGINS = (
    "aidetect.detectors.efficientnet",
    "aidetect.detectors.cnn",
    "aidetect.detectors.forensic_svm",
    "aidetect.detectors.ensemble",
    "aidetect.detectors.provenance",
    "aidetect.detectors.auto",
    "aidetect.detectors.clip",
    "aidetect.detectors.stacked",
)
DEPRECATED_NAMES: dict[str, str] = {}
"""Built-in detector names that were renamed: old name -> current name (none yet)."""


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
    deprecated_names: tuple[str, ...] = ()

    def missing(self) -> list[str]:
        """The required modules that cannot be imported here."""
        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    def has_weights(self) -> bool | None:
        """Whether the bundled/cached weights named by the card are present (None: no card)."""
        if self.card is None:
            return None
        from aidetect.errors import WeightsError
        from aidetect.weights import has_weights, load_card

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
    """How loading one plugin went, and where it comes from."""

    name: str
    module: str
    builtin: bool
    error: str | None = None
    detectors: tuple[str, ...] = ()
    distribution: str | None = None
    version: str | None = None

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
        self.deprecated: dict[str, str] = dict(DEPRECATED_NAMES)
        self.plugins: list[PluginStatus] = []
        for module_name in BUILTIN_PLUGINS:
            self._add_plugin(module_name, module_name, builtin=True, origin=(DISTRIBUTION, __version__),
                             loader=functools.partial(importlib.import_module, module_name))
        if entry_points:
            for entry_point in _selected_entry_points():
                self._add_plugin(entry_point.name, entry_point.value, builtin=False, origin=_origin(entry_point),
                                 loader=entry_point.load)

    def _add_plugin(self, name: str, module: str, *, builtin: bool, origin: tuple[str | None, str | None],
                    loader: Callable[[], Any]) -> None:
        plugin = None
        try:
            plugin = loader()
            self.manager.register(plugin, name=name)
            registered = self._collect(plugin, name)
        except Exception as exc:  # a broken plugin is reported, never fatal
            message = f"{type(exc).__name__}: {exc}"
            self.plugins.append(PluginStatus(name, module, builtin, error=message, distribution=origin[0],
                                             version=origin[1]))
            warnings.warn(f"aidetect plugin {name!r} ({module}) failed and was skipped: {message}",
                          stacklevel=_caller_stacklevel())
            if plugin is not None and self.manager.is_registered(plugin):
                self.manager.unregister(name=name)
            return
        self.plugins.append(PluginStatus(name, module, builtin, detectors=tuple(info.name for info in registered),
                                         distribution=origin[0], version=origin[1]))

    def _collect(self, plugin: object, plugin_name: str) -> list[DetectorInfo]:
        """Call the hook of one plugin (through pluggy); commit its detectors only if all of them are valid."""
        pending: list[DetectorInfo] = []

        def register(name: str, factory: Callable[..., Any], *, description: str = "", backend: str = "",
                     requires: list[str] | tuple[str, ...] = (), extra: str | None = None,
                     aliases: list[str] | tuple[str, ...] = (), card: str | None = None,
                     deprecated_names: list[str] | tuple[str, ...] = ()) -> None:
            if not callable(factory):
                raise PluginError(f"detector {name!r}: factory {factory!r} is not callable")
            pending.append(DetectorInfo(name, factory, description, backend, tuple(requires), extra, tuple(aliases),
                                        card, plugin_name, tuple(deprecated_names)))

        others = [other for other in self.manager.get_plugins() if other is not plugin]
        self.manager.subset_hook_caller("register_detectors", remove_plugins=others)(register=register)
        taken = set(self.detectors) | set(self.aliases) | set(self.deprecated)
        for info in pending:
            for key in (info.name, *info.aliases, *info.deprecated_names):
                if key in taken:
                    raise PluginError(f"detector name {key!r} is already taken")
                taken.add(key)
        for info in pending:
            self.detectors[info.name] = info
            self.aliases.update({alias: info.name for alias in info.aliases})
            self.deprecated.update({old: info.name for old in info.deprecated_names})
        return pending

    def get(self, name: str) -> DetectorInfo:
        if name in self.deprecated:
            current = self.deprecated[name]
            warnings.warn(f"detector name {name!r} is deprecated; use {current!r}", DeprecationWarning, stacklevel=3)
            name = current
        key = self.aliases.get(name, name)
        if key not in self.detectors:
            known = ", ".join(sorted(self.detectors)) or "none"
            raise UnknownDetectorError(f"no detector named {name!r}; available: {known}")
        return self.detectors[key]

    def load(self, name: str, **options: Any) -> Detector:
        info = self.get(name)
        missing = info.missing()
        if missing:
            raise MissingDependencyError(info.name, missing, info.extra)
        try:
            detector = info.factory(**options)
        except TypeError as exc:
            raise DetectorError(f"detector {info.name!r} does not accept these options: {exc}") from exc
        except AidetectError:
            raise
        except Exception as exc:  # a plugin's constructor failing is the detector's failure, named as such
            raise DetectorError(
                f"detector {info.name!r} (plugin {info.plugin!r}) could not be built: {type(exc).__name__}: {exc}"
            ) from exc
        if not isinstance(detector, Detector):
            raise PluginError(f"detector {info.name!r}: its factory returned {type(detector).__name__}, "
                              "which lacks the aidetect.Detector protocol (name, predict, predict_batch)")
        return detector

    def available(self) -> list[DetectorInfo]:
        return sorted(self.detectors.values(), key=lambda info: info.name)


def _origin(entry_point: importlib.metadata.EntryPoint) -> tuple[str | None, str | None]:
    """The distribution (name, version) that installed ``entry_point``, when the metadata says."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside this package, so a warning points at the caller's code."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package + os.sep):
        frame, level = frame.f_back, level + 1
    return level


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


def load(name: str = DEFAULT_DETECTOR, **options: Any) -> Detector:
    """Build the detector registered as ``name`` with ``options`` (see `aidetect.load`)."""
    return get_registry().load(name, **options)


def available() -> list[DetectorInfo]:
    """Every registered detector, built-in and from plugins."""
    return get_registry().available()
