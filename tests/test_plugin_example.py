"""examples/plugin, really installed: found through its entry point, listed, isolated from a broken neighbour.

The package is built and installed with pip into a temporary folder
(``--target``) that is put on ``sys.path`` for these tests only, so the
environment running the tests is left as it was.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import aidetect
from aidetect.cli import main
from aidetect.errors import UnknownDetectorError
from aidetect.registry import BUILTIN_PLUGINS, PLUGINS_ENV, get_registry, reset_registry
from conftest import write_image

pytestmark = pytest.mark.slow  # pip-installs the example plugin

PLUGIN_SOURCE = Path(__file__).resolve().parents[1] / "examples" / "plugin"
BROKEN_DIST = {
    "aidetect_broken_example-0.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: aidetect-broken-example\n"
                                                      "Version: 0.1\n",
    "aidetect_broken_example-0.1.dist-info/entry_points.txt": "[aidetect]\nbroken = aidetect_broken_example\n",
    "aidetect_broken_example.py": "raise RuntimeError('this plugin is broken on purpose')\n",
}


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/plugin built and installed (no dependencies, no network) into a fresh folder."""
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip("building the example plugin offline needs hatchling in this environment")
    assert importlib.util.find_spec("aidetect_plugin_example") is None, "the example plugin is already installed"
    target = tmp_path_factory.mktemp("plugin-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(PLUGIN_SOURCE)],
        check=True, timeout=300, capture_output=True,
    )
    return target


@pytest.fixture
def plugin_on_path(installed_plugin: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed plugin importable and visible to importlib.metadata, for one test."""
    monkeypatch.syspath_prepend(str(installed_plugin))
    monkeypatch.delenv(PLUGINS_ENV, raising=False)
    reset_registry()
    yield installed_plugin
    reset_registry()
    for name in [name for name in sys.modules if name.startswith(("aidetect_plugin_example", "aidetect_broken"))]:
        del sys.modules[name]


@pytest.fixture
def broken_neighbour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A second installed distribution whose plugin module raises at import."""
    for relative, text in BROKEN_DIST.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    reset_registry()
    return tmp_path


def vivid_and_grey() -> tuple[np.ndarray, np.ndarray]:
    """A colourful image and its grey copy (same texture, no saturation)."""
    rng = np.random.default_rng(1)
    vivid = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    vivid[..., 2] //= 8
    grey = np.repeat(vivid[..., :1], 3, axis=2)
    return vivid, grey


def test_the_plugin_loads_through_its_entry_point(plugin_on_path) -> None:
    detector = aidetect.load("example-saturation")
    assert type(detector).__module__ == "aidetect_plugin_example.detector"
    assert Path(sys.modules["aidetect_plugin_example"].__file__).is_relative_to(plugin_on_path)
    vivid, grey = vivid_and_grey()
    high, low = detector.predict_batch([vivid, grey])
    assert high.detector == "example-saturation" and high.label == "ai" and low.label == "real"
    assert aidetect.load("saturation", threshold=0.99).predict(vivid).threshold == 0.99

    (status,) = [plugin for plugin in get_registry().plugins if plugin.name == "example"]
    assert status.ok and not status.builtin
    assert status.module == "aidetect_plugin_example.plugin" and status.detectors == ("example-saturation",)


def test_the_cli_lists_and_uses_the_plugin(plugin_on_path, tmp_path: Path, capsys) -> None:
    assert main(["plugins", "--json"]) == 0
    plugins = {plugin["name"]: plugin for plugin in json.loads(capsys.readouterr().out)}
    assert plugins["example"] == {"name": "example", "module": "aidetect_plugin_example.plugin", "builtin": False,
                                  "ok": True, "error": None, "detectors": ["example-saturation"],
                                  "distribution": "aidetect-plugin-example", "version": "0.1.0"}
    assert main(["list"]) == 0
    assert any(line.split()[:3] == ["example-saturation", "numpy", "ready"]
               for line in capsys.readouterr().out.splitlines())
    image = write_image(tmp_path / "grey.png", 128)
    assert main(["scan", "-d", "example-saturation", "-w", "1", "-f", "json", str(image)]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == "real"


def test_a_broken_plugin_is_reported_and_does_not_break_the_example(
    plugin_on_path, broken_neighbour, capsys
) -> None:
    with pytest.warns(UserWarning, match=r"aidetect plugin 'broken' \(aidetect_broken_example\) failed"):
        registry = get_registry()
    statuses = {plugin.name: plugin for plugin in registry.plugins}
    assert statuses["broken"].error == "RuntimeError: this plugin is broken on purpose"
    assert statuses["example"].ok and all(statuses[name].ok for name in BUILTIN_PLUGINS)
    assert aidetect.load("example-saturation").name == "example-saturation"

    reset_registry()
    assert main(["plugins"]) == 0
    captured = capsys.readouterr()
    assert "broken: RuntimeError: this plugin is broken on purpose" in captured.out
    (row,) = [line for line in captured.out.splitlines() if line.startswith("broken ")]
    assert row.split()[1:3] == ["external", "error"]
    (warning,) = captured.err.splitlines()  # the CLI shows the warning as one line
    assert warning.startswith("aidetect: warning: aidetect plugin 'broken'")


def test_aidetect_plugins_none_disables_external_plugins(plugin_on_path, broken_neighbour, monkeypatch) -> None:
    monkeypatch.setenv(PLUGINS_ENV, "none")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the broken plugin is not even imported
        registry = get_registry()
    assert all(plugin.builtin for plugin in registry.plugins)
    with pytest.raises(UnknownDetectorError):
        aidetect.load("example-saturation")
    assert "aidetect_plugin_example" not in sys.modules


def test_aidetect_plugins_can_select_one_plugin(plugin_on_path, broken_neighbour, monkeypatch) -> None:
    monkeypatch.setenv(PLUGINS_ENV, "example")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        registry = get_registry()
    assert [plugin.name for plugin in registry.plugins if not plugin.builtin] == ["example"]
    assert aidetect.load("example-saturation").name == "example-saturation"
