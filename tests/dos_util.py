"""Helpers for the MS-DOS tests: build DOS programs with the real Open
Watcom, lay out a C: drive for DOSBox, read what the engine wrote."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from watcom_util import watcom_environ

DOS_FIXTURES = Path(__file__).parent / "fixtures" / "dos"
TOKS_RE = re.compile(rb"achieved tok/s: ([0-9.]+)")


def dos_environ(root: Path) -> dict[str, str]:
    """Open Watcom's variables for a DOS build: the portable headers only."""
    return {**os.environ, **watcom_environ(root), "INCLUDE": str(root / "h")}


def wcl386_dos(root: Path, source: Path, exe: Path) -> Path:
    """Compile and link one C file for DOS, CauseWay bound in."""
    proc = subprocess.run(
        ["wcl386", "-zq", "-bt=dos", "-l=causeway", f"-fe={exe}", f"-fo={exe.with_suffix('.o')}", str(source)],
        capture_output=True, text=True, env=dos_environ(root), cwd=exe.parent, check=False,
    )
    assert proc.returncode == 0 and exe.is_file(), proc.stdout + proc.stderr
    return exe


def unix_text(data: bytes) -> bytes:
    """DOS text as the native build writes it: CR LF -> LF."""
    return data.replace(b"\r\n", b"\n")
