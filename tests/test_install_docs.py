"""Install instructions that are true on an ordinary machine, not only on this one.

From PyPI, ``torch`` on Linux is the CUDA build with multi-GB dependencies; ``torch==2.13.0`` got the CPU build
here only because this machine's pip finds a local CPU wheel. Every user-facing torch install line must use
PyTorch's CPU wheel index.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CPU_INDEX = "--index-url https://download.pytorch.org/whl/cpu"
USER_FACING = ["README.md", "pyproject.toml", "benchmarks/README.md", *sorted(
    str(path.relative_to(REPO)) for path in (REPO / "docs").glob("*.md"))]


def torch_install_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(r"pip install[^#\n]*\btorch\b(?!\])", line)]


@pytest.mark.parametrize("name", USER_FACING)
def test_every_torch_install_line_uses_the_cpu_index(name: str) -> None:
    text = (REPO / name).read_text(encoding="utf-8")
    for line in torch_install_lines(text):
        assert CPU_INDEX in line or "https://download.pytorch.org/whl/cpu" in text, f"{name}: {line}"
        assert "torch==2.13.0" not in line, f"{name}: a version only this machine's local wheel folder has: {line}"


def test_the_readme_shows_the_cpu_index_for_the_test_command_and_the_torch_extra() -> None:
    lines = torch_install_lines((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(lines) >= 2 and all(CPU_INDEX in line for line in lines)


def test_ci_explains_its_local_pin_and_names_the_ordinary_way() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install --quiet "torch==2.13.0"' in ci  # what passes here, from the local wheel folder
    assert f"pip install torch {CPU_INDEX}" in ci
