"""Helpers for the audit tests: build small Windows exes with MinGW into tmp_path."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from toolchain import paths

MINGW = "i686-w64-mingw32-gcc"
BADEXE = Path(__file__).parent / "fixtures" / "badexe"
STARTUP_DIR = paths.ENGINE_DIR / "startup"
STARTUP = STARTUP_DIR / "winstart.c"

# The Pentium-safe recipe of docs/platform.md §3 (with -march appended by the caller).
OWN_STARTUP_FLAGS = [
    "-O2", "-mfpmath=387", "-fno-math-errno", "-funsafe-math-optimizations",
    "-D__USE_MINGW_ANSI_STDIO=0", "-nostartfiles", "-Wl,-e,_mainCRTStartup",
]
OWN_STARTUP_LIBS = ["-lmsvcrt", "-lkernel32"]


def need(tool: str) -> str:
    """The tool's path; a missing tool fails the test (CI installs it)."""
    where = shutil.which(tool)
    if where is None:
        pytest.fail(f"{tool} is not installed (apt: gcc-mingw-w64-i686 / wine)")
    return where


def mingw(out: Path, sources: list[Path], flags: list[str], libs: list[str] = ()) -> Path:
    """Compile and link ``sources`` into ``out`` (and an unstripped twin ``out``.sym.exe).

    Returns the stripped exe; the twin names functions for the CPU gate.
    """
    need(MINGW)
    twin = out.with_suffix(".sym.exe")
    cmd = [MINGW, *flags, "-o", str(twin), *map(str, sources), *libs]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stderr}"
    proc = subprocess.run(["i686-w64-mingw32-strip", "-o", str(out), str(twin)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out
