"""ruff (pyflakes, bugbear) over the code and tests, mypy over the package:
both are part of the suite, configured in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys

from toolchain import paths


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *cmd], cwd=paths.REPO_ROOT, capture_output=True, text=True,
                          timeout=600)


def test_ruff_finds_nothing() -> None:
    proc = _run("ruff", "check", "--no-cache", ".")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_mypy_finds_nothing() -> None:
    proc = _run("mypy", "--cache-dir", "/dev/null")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
