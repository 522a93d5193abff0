"""``aidetect serve`` as a command: its options, and the clear failures before any port is opened."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from aidetect.cli import main
from aidetect.serve.command import settings_from_args
from aidetect.serve.settings import MB


def parse(*argv: str) -> Any:
    from aidetect.cli import build_parser

    return build_parser().parse_args(["serve", *argv])


def test_the_options_become_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("MY_KEY", "k3y")
    args = parse("--detector", "efficientnet", "forensic-svm", "--detector", "cnn", "--workers", "3", "--queue", "0",
                 "--max-upload-mb", "1.5", "--max-files", "4", "--timeout", "2.5", "--api-key-env", "MY_KEY",
                 "--cors-origin", "https://a.example", "--uncertain", "0.3", "0.7", "--save-uploads", str(tmp_path))
    settings = settings_from_args(args)
    assert settings.detectors == ("efficientnet", "forensic-svm", "cnn")
    assert (settings.workers, settings.queue_size, settings.max_files) == (3, 0, 4)
    assert settings.max_upload_bytes == int(1.5 * MB) and settings.request_timeout_s == 2.5
    assert settings.api_key == "k3y" and "k3y" not in repr(settings)
    assert settings.cors_origins == ("https://a.example",) and settings.uncertain_band == (0.3, 0.7)
    assert settings.save_uploads_to == tmp_path
    defaults = settings_from_args(parse())
    assert defaults.detectors == ("efficientnet",) and defaults.api_key is None and defaults.cors_origins == ()
    assert args.host == parse().host == "127.0.0.1"


def test_a_missing_key_variable_stops_the_command(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    assert main(["serve", "--api-key-env", "NO_SUCH_KEY_VAR"]) == 2
    assert "NO_SUCH_KEY_VAR" in capsys.readouterr().err


def test_bad_settings_stop_the_command(capsys: Any) -> None:
    assert main(["serve", "--timeout", "0"]) == 2
    assert "request_timeout_s must be positive" in capsys.readouterr().err


def test_a_missing_extra_is_named_with_the_install_line(monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "uvicorn" else real_find_spec(name, *args))
    assert main(["serve"]) == 2
    assert "pip install 'aidetect-images[serve]'" in capsys.readouterr().err


def test_an_unknown_detector_stops_the_command_before_serving(capsys: Any) -> None:
    pytest.importorskip("uvicorn", reason="the [serve] extra is not installed")
    assert main(["serve", "--detector", "no-such-detector", "--port", "1"]) == 2
    assert "no detector named 'no-such-detector'" in capsys.readouterr().err
