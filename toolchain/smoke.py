"""Smoke test: run the built RUN.EXE for a few tokens on a stand-in for the
old PC.  A crash here would be a crash on the old PC, so it fails the build;
without Wine the build says the exe was not run.

Which stand-in runs an exe depends on the platform: Windows exes run under
Wine (``toolchain.wine``), MS-DOS exes in DOSBox (``toolchain.dossmoke``).
``RUNNERS`` maps a platform family to its runner.  Every runner is told the
old PC's CPU baseline and RAM; DOSBox emulates both, Wine runs on the host.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from toolchain.audit.platforms import DOS_OSES
from toolchain.dossmoke import smoke_test_dos
from toolchain.errors import BuildError
from toolchain.wine import TIMEOUT_S, run_under_wine, wine_available, wine_env

__all__ = ["RUNNERS", "SmokeResult", "run_under_wine", "smoke_test", "wine_available", "wine_env"]


@dataclass(frozen=True)
class SmokeResult:
    """What the smoke run printed, in one line for the build log."""

    detail: str


def wine_smoke(bundle: Path, exe_name: str, model: str, tokenizer: str, tokens: int = 8,
               cpu: str = "", ram_mb: int = 0) -> SmokeResult:
    """Run ``exe_name`` in the bundle folder on its model, as RUN.BAT does
    (on the host CPU and memory: ``cpu`` and ``ram_mb`` do not apply).

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


def dosbox_smoke(bundle: Path, exe_name: str, model: str, tokenizer: str, tokens: int = 8,
                 cpu: str = "i386", ram_mb: int = 16) -> SmokeResult:
    """The DOSBox runner: DOSBox emulates the target's CPU and RAM."""
    return SmokeResult(smoke_test_dos(bundle, exe_name, model, tokenizer, cpu=cpu, ram_mb=ram_mb, tokens=tokens))


# Platform family -> smoke runner.  Every Windows OS is "win32".
RUNNERS: dict[str, Callable[..., SmokeResult]] = {"win32": wine_smoke, "dos": dosbox_smoke}


def family_of(os: str) -> str:
    """The platform family of a target OS name: "dos" or "win32"."""
    return "dos" if os in DOS_OSES else "win32"


def smoke_test(bundle: Path, exe_name: str, model: str, tokenizer: str, tokens: int = 8,
               family: str = "win32", cpu: str = "i386", ram_mb: int = 16) -> SmokeResult:
    """Run the exe with the runner of its platform family, on a stand-in for
    a ``cpu`` PC with ``ram_mb`` of memory where the runner can emulate one."""
    if family not in RUNNERS:
        raise BuildError(f"no smoke runner for platform family {family!r} (known: {', '.join(RUNNERS)})")
    return RUNNERS[family](bundle, exe_name, model, tokenizer, tokens, cpu=cpu, ram_mb=ram_mb)
