"""Smoke test: run the built RUN.EXE for a few tokens on a stand-in for the
old PC.  A crash here would be a crash on the old PC, so it fails the build;
without Wine the build says the exe was not run.

Which stand-in runs an exe depends on the platform: Windows exes run under
Wine (``toolchain.wine``).  ``RUNNERS`` maps a platform family to its runner,
so another family (MS-DOS under DOSBox) plugs in with one entry.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toolchain.errors import BuildError
from toolchain.wine import TIMEOUT_S, run_under_wine, wine_available, wine_env

__all__ = ["RUNNERS", "SmokeResult", "run_under_wine", "smoke_test", "wine_available", "wine_env"]


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke run printed, in one line for the build log."""

    detail: str


def wine_smoke(bundle: Path, exe_name: str, model: str, tokenizer: str, tokens: int = 8) -> SmokeResult:
    """Run ``exe_name`` in the bundle folder on its model, as RUN.BAT does.

    The model files are named on the command line (llama2.c's syntax), so a
    ported llama2.c tree, which has no bundle defaults, runs the same way.
    """
    if not wine_available():
        return SmokeResult("Wine not installed: RUN.EXE was not test-run (Debian: apt-get install wine)")
    try:
        proc = run_under_wine(bundle.resolve() / exe_name,
                              [model, "-z", tokenizer, "-n", str(tokens), "-t", "0"], cwd=bundle)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{bundle / exe_name}: no result under Wine within {TIMEOUT_S} s") from None
    out = proc.stdout.decode("latin-1")
    if proc.returncode != 0 or not out.strip():
        err = proc.stderr.decode("latin-1").strip().splitlines()
        why = err[-1] if err else f"exit code {proc.returncode}"
        raise BuildError(f"{bundle / exe_name}: failed under Wine: {why}")
    return SmokeResult(f"ran under Wine: {out.strip()[:60]!r}")


# Target OS -> platform family, and family -> smoke runner.  A family also
# chooses the auditor (build.AUDITORS).  Every Windows OS is "win32"; another
# family (MS-DOS under DOSBox) plugs in with an entry in each table.
FAMILY_OF_OS: dict[str, str] = {os: "win32" for os in ("win95", "win95osr2", "win98", "win98se", "winme", "nt4")}
RUNNERS: dict[str, Callable[..., SmokeResult]] = {"win32": wine_smoke}


def family_of(os: str) -> str:
    """The platform family of a target OS (which auditor and runner apply)."""
    if os not in FAMILY_OF_OS:
        raise BuildError(f"no platform family for OS {os!r} (known: {', '.join(FAMILY_OF_OS)})")
    return FAMILY_OF_OS[os]


def smoke_test(bundle: Path, exe_name: str, model: str, tokenizer: str, tokens: int = 8,
               family: str = "win32") -> SmokeResult:
    """Run the exe with the runner of its platform family."""
    if family not in RUNNERS:
        raise BuildError(f"no smoke runner for platform family {family!r} (known: {', '.join(RUNNERS)})")
    return RUNNERS[family](bundle, exe_name, model, tokenizer, tokens)
