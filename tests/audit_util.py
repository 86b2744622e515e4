"""Helpers for the audit tests: build small Windows exes with MinGW into tmp_path."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from toolchain import paths
from toolchain.compilers import compile_flags
from toolchain.targets import load_target

MINGW = "i686-w64-mingw32-gcc"
BADEXE = Path(__file__).parent / "fixtures" / "badexe"
STARTUP_DIR = paths.ENGINE_DIR / "startup"
STARTUP = STARTUP_DIR / "winstart.c"

# The Pentium-safe recipe of docs/platform.md §3, as the win95-p5 target
# has it (without its -march: the caller appends one).
_P5 = load_target("win95-p5")
OWN_STARTUP_FLAGS = [f for f in compile_flags(_P5) if f not in _P5.compiler.cpu_flags] + list(_P5.linker.flags)
OWN_STARTUP_LIBS = list(_P5.linker.libs)


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
