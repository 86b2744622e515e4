"""Smoke test: run the built RUN.EXE under Wine for a few tokens.

A crash here would be a crash on the old PC, so it fails the build.  Wine is
optional: without it the build says the exe was not run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from toolchain.errors import BuildError

TIMEOUT_S = 180


@dataclass(frozen=True)
class SmokeResult:
    ran: bool
    stdout: str
    detail: str


def wine_available() -> bool:
    return shutil.which("wine") is not None


def wine_env() -> dict[str, str]:
    """Environment for Wine: quiet, no display needed."""
    env = dict(os.environ)
    env.setdefault("WINEDEBUG", "-all")
    env.pop("DISPLAY", None)
    return env


def run_under_wine(exe: Path, args: list[str], cwd: Path, timeout: int = TIMEOUT_S) -> subprocess.CompletedProcess[bytes]:
    """Run a Windows exe under Wine; raw bytes out (the engine prints bytes)."""
    return subprocess.run(
        ["wine", str(exe), *args], cwd=cwd, capture_output=True, timeout=timeout, env=wine_env()
    )


def smoke_test(bundle: Path, exe_name: str, model: str, tokenizer: str, tokens: int = 8) -> SmokeResult:
    """Run ``exe_name`` in the bundle folder on its model, as RUN.BAT does.

    The model files are named on the command line (llama2.c's syntax), so a
    ported llama2.c tree, which has no bundle defaults, runs the same way.
    """
    if not wine_available():
        return SmokeResult(False, "", "Wine not installed: RUN.EXE was not test-run")
    try:
        proc = run_under_wine(bundle.resolve() / exe_name, [model, "-z", tokenizer, "-n", str(tokens), "-t", "0"], cwd=bundle)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{bundle / exe_name}: no result under Wine within {TIMEOUT_S} s") from None
    out = proc.stdout.decode("latin-1")
    if proc.returncode != 0 or not out.strip():
        err = proc.stderr.decode("latin-1").strip().splitlines()
        why = err[-1] if err else f"exit code {proc.returncode}"
        raise BuildError(f"{bundle / exe_name}: failed under Wine: {why}")
    return SmokeResult(True, out, f"ran under Wine: {out.strip()[:60]!r}")
