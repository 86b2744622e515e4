"""MinGW-w64 i686: a cross compiler on PATH, driven by GNU make."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping

from toolchain.compilers import Discovery, which
from toolchain.errors import BuildError
from toolchain.targets import Target

object_suffix = ".o"
define_prefix = "-D"


def discover(target: Target, environ: Mapping[str, str]) -> Discovery:
    cc = which(target.compiler.cc, environ)
    if cc is None:
        return Discovery(False, f"{target.compiler.cc} not on PATH (Debian: apt-get install gcc-mingw-w64-i686)")
    if which("make", environ) is None:
        return Discovery(False, "GNU make not on PATH (Debian: apt-get install make)")
    return Discovery(True, cc)


def build(target: Target, src_dir: Path, makefile: str, found: Discovery) -> Path:
    cmd = ["make", "-s", "-f", makefile, f"CC={found.where}"]
    proc = subprocess.run(cmd, cwd=src_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
        raise BuildError(f"{target.name}: make failed in {src_dir}:\n" + "\n".join(tail))
    return src_dir / target.names.exe.lower()
