"""The detector registry: built-ins through the hook, aliases, errors, plugin isolation, a light import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import aidetect
from aidetect import registry as registry_module
from aidetect.errors import AidetectError, DetectorError, MissingDependencyError, UnknownDetectorError
from aidetect.registry import BUILTIN_PLUGINS, PLUGINS_ENV, Registry, get_registry, reset_registry
from conftest import BrightnessDetector

BUILTIN_DETECTORS = {
    "aidetect.detectors.efficientnet": ("efficientnet",),
    "aidetect.detectors.cnn": ("cnn",),
    "aidetect.detectors.forensic_svm": ("forensic-svm",),
    "aidetect.detectors.ensemble": ("ensemble",),
    "aidetect.detectors.provenance": ("provenance",),
    "aidetect.detectors.auto": ("auto",),
    "aidetect.detectors.clip": ("clip",),
    "aidetect.detectors.stacked": ("stacked",),
}


def plugin_module(monkeypatch: pytest.MonkeyPatch, name: str, hook: Callable[[Any], None]) -> str:
    """An importable module ``name`` whose `register_detectors` hook is ``hook``."""
    module = types.ModuleType(name)
    module.register_detectors = aidetect.hookimpl(hook)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, module)
    return name


# -- built-ins, names, aliases -------------------------------------------------------------------------


def test_builtins_register_through_the_hook() -> None:
    registry = Registry(entry_points=False)
    assert [plugin.module for plugin in registry.plugins] == list(BUILTIN_PLUGINS)
    for plugin in registry.plugins:
        assert plugin.builtin and plugin.ok and plugin.error is None
        assert plugin.detectors == BUILTIN_DETECTORS[plugin.module]
        for name in plugin.detectors:
            assert registry.get(name).plugin == plugin.name
    assert registry.manager.get_plugin("aidetect.detectors.cnn") is sys.modules["aidetect.detectors.cnn"]


def test_aliases_resolve_to_the_detector(test_detectors) -> None:
    assert test_detectors.get("effnet").name == "efficientnet"
    assert test_detectors.get("svm").name == "forensic-svm"
    assert test_detectors.get("test-bright").name == "test-brightness"
    assert isinstance(aidetect.load("test-bright"), BrightnessDetector)


def test_available_lists_every_detector_sorted(test_detectors) -> None:
    names = [info.name for info in aidetect.available()]
    assert names == sorted(names) and {"efficientnet", "cnn", "test-brightness"} <= set(names)
    entry = next(info for info in aidetect.available() if info.name == "test-brightness").to_dict()
    assert entry["backend"] == "numpy" and entry["plugin"] == "aidetect-tests" and entry["weights_present"] is None


def test_load_passes_options_to_the_factory(test_detectors) -> None:
    detector = aidetect.load("test-brightness", threshold=0.8, uncertain_band=(0.4, 0.6))
    assert detector.decision_rule().threshold == 0.8 and detector.decision_rule().uncertain_band == (0.4, 0.6)


def test_unknown_detector_lists_the_known_names(test_detectors) -> None:
    with pytest.raises(UnknownDetectorError) as caught:
        aidetect.load("no-such-detector")
    message = str(caught.value)
    assert message.startswith("no detector named 'no-such-detector'; available: ")
    assert "efficientnet" in message and "test-brightness" in message
    assert isinstance(caught.value, KeyError) and isinstance(caught.value, AidetectError)


def test_missing_dependency_names_the_extra(test_detectors) -> None:
    with pytest.raises(MissingDependencyError) as caught:
        aidetect.load("test-needs-module")
    error = caught.value
    assert error.packages == ["aidetect_no_such_module"] and error.extra == "fake-extra"
    assert "pip install 'aidetect-images[fake-extra]'" in str(error) and "aidetect_no_such_module" in str(error)
    assert isinstance(error, ImportError)


def test_missing_dependency_without_extra_names_the_package(plugin_entry_points, monkeypatch) -> None:
    plugin_entry_points["bare"] = plugin_module(
        monkeypatch, "aidetect_test_bare",
        lambda register: register("bare", BrightnessDetector, requires=["aidetect_absent_pkg", "numpy"]),
    )
    with pytest.raises(MissingDependencyError, match=r"run: pip install aidetect_absent_pkg$"):
        aidetect.load("bare")


def test_options_a_detector_does_not_take_are_a_detector_error(test_detectors) -> None:
    with pytest.raises(DetectorError, match="does not accept these options"):
        aidetect.load("test-brightness", no_such_option=1)


# -- plugins that fail -------------------------------------------------------------------------------


def raising_hook(register: Any) -> None:
    register("never-registered", BrightnessDetector)
    raise RuntimeError("hook exploded")


def duplicate_hook(register: Any) -> None:
    register("would-be-fine", BrightnessDetector)
    register("other", BrightnessDetector, aliases=["efficientnet"])


@pytest.mark.parametrize(
    ("make_plugin", "error"),
    [
        (lambda tmp, mp: write_module(tmp, mp, "aidetect_raises_on_import", "raise ImportError('cannot import')"),
         "ImportError: cannot import"),
        (lambda tmp, mp: "aidetect_module_that_does_not_exist", "ModuleNotFoundError"),
        (lambda tmp, mp: plugin_module(mp, "aidetect_raising_hook", raising_hook), "RuntimeError: hook exploded"),
        (lambda tmp, mp: plugin_module(mp, "aidetect_duplicate", duplicate_hook),
         "PluginError: detector name 'efficientnet' is already taken"),
        (lambda tmp, mp: plugin_module(mp, "aidetect_bad_factory", lambda register: register("x", 42)),
         "is not callable"),
    ],
    ids=["import-error", "missing-module", "hook-raises", "name-taken", "bad-factory"],
)
def test_a_broken_plugin_is_reported_warned_and_isolated(
    test_detectors, plugin_entry_points, monkeypatch, tmp_path: Path, make_plugin, error: str
) -> None:
    plugin_entry_points["broken"] = make_plugin(tmp_path, monkeypatch)
    reset_registry()
    with pytest.warns(UserWarning, match="aidetect plugin 'broken'"):
        registry = get_registry()
    (status,) = [plugin for plugin in registry.plugins if plugin.name == "broken"]
    assert not status.ok and error in status.error and status.detectors == ()
    for name in ("never-registered", "would-be-fine", "other", "x"):  # nothing half-registered
        assert name not in registry.detectors
    assert registry.get("efficientnet").plugin == "aidetect.detectors.efficientnet"
    assert isinstance(aidetect.load("test-brightness"), BrightnessDetector)  # the other plugins still work
    assert not registry.manager.is_registered(sys.modules.get(str(status.module)))


def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> str:
    (tmp_path / f"{name}.py").write_text(source + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, name, raising=False)
    return name


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("none", set()), ("", set()), ("aidetect-tests", {"aidetect-tests"}),
     (" other , aidetect-tests ", {"aidetect-tests", "other"}), (None, {"aidetect-tests", "other"})],
)
def test_aidetect_plugins_selects_external_plugins(
    test_detectors, plugin_entry_points, monkeypatch, setting: str | None, expected: set[str]
) -> None:
    plugin_entry_points["other"] = plugin_module(
        monkeypatch, "aidetect_test_other", lambda register: register("other-detector", BrightnessDetector)
    )
    if setting is not None:
        monkeypatch.setenv(PLUGINS_ENV, setting)
    reset_registry()
    registry = get_registry()
    external = {plugin.name for plugin in registry.plugins if not plugin.builtin}
    assert external == expected
    assert {plugin.module for plugin in registry.plugins if plugin.builtin} == set(BUILTIN_PLUGINS)
    assert ("other-detector" in registry.detectors) == ("other" in expected)


# -- the process-wide registry -------------------------------------------------------------------------


def test_get_registry_builds_one_registry_under_concurrent_first_use(monkeypatch) -> None:
    built: list[Registry] = []

    class SlowRegistry(Registry):
        def __init__(self) -> None:
            time.sleep(0.05)  # widen the window in which a second thread could build another
            super().__init__(entry_points=False)
            built.append(self)

    monkeypatch.setattr(registry_module, "Registry", SlowRegistry)
    reset_registry()
    barrier = threading.Barrier(8)
    seen: list[Registry] = []

    def first_use() -> None:
        barrier.wait()
        seen.append(get_registry())

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    reset_registry()
    assert len(built) == 1 and len(seen) == 8 and all(registry is built[0] for registry in seen)


def test_reset_registry_rescans_plugins(plugin_entry_points, monkeypatch) -> None:
    first = get_registry()
    assert "late-detector" not in first.detectors
    plugin_entry_points["late"] = plugin_module(
        monkeypatch, "aidetect_test_late", lambda register: register("late-detector", BrightnessDetector)
    )
    assert get_registry() is first
    reset_registry()
    assert "late-detector" in get_registry().detectors


# -- importing aidetect is cheap -----------------------------------------------------------------------

IMPORT_PROBE = textwrap.dedent(
    """
    import json, sys, time
    started = time.perf_counter()
    import aidetect
    seconds = time.perf_counter() - started
    aidetect.available()
    import aidetect.cli, aidetect.scan
    aidetect.cli.build_parser()
    heavy = [name for name in ("torch", "sklearn", "cv2", "onnxruntime", "matplotlib", "optuna") if name in sys.modules]
    print(json.dumps({"seconds": seconds, "heavy": heavy}))
    """
)


def test_import_is_light_and_fast() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIDETECT")}
    timings = []
    for _ in range(3):  # best of three: a busy machine must not make a light import look heavy
        completed = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, env=env,
                                   timeout=60, check=True)
        probe = json.loads(completed.stdout)
        assert probe["heavy"] == [], f"importing aidetect (and listing detectors) imported {probe['heavy']}"
        timings.append(probe["seconds"])
        if probe["seconds"] < 0.5:
            break
    assert min(timings) < 0.5, f"import aidetect took {min(timings):.2f} s"
