"""Run invoke tasks the way a user does: a subprocess in the repository."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from toolchain import paths


def invoke(*args: str, cwd: Path = paths.REPO_ROOT, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``invoke ARGS`` with extra environment variables; text output, 10 min limit."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=600,
    )
