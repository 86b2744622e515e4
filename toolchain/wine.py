"""Running Windows programs here: Wine, quiet and without a display.

Every caller that starts a Windows exe (the smoke test, the Borland driver,
the patch validator, the tests) goes through these, so that Wine is set up
one way only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

TIMEOUT_S = 180


def wine_available() -> bool:
    """Whether ``wine`` is on PATH."""
    return shutil.which("wine") is not None


def wine_env() -> dict[str, str]:
    """Environment for Wine: quiet, no display needed."""
    env = dict(os.environ)
    env.setdefault("WINEDEBUG", "-all")
    env.pop("DISPLAY", None)
    return env


def run_under_wine(exe: Path, args: list[str], cwd: Path,
                   timeout: int = TIMEOUT_S) -> subprocess.CompletedProcess[bytes]:
    """Run a Windows exe under Wine; raw bytes out (the engine prints bytes)."""
    return subprocess.run(
        ["wine", str(exe), *args], cwd=cwd, capture_output=True, timeout=timeout, env=wine_env()
    )
