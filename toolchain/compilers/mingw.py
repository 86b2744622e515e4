"""MinGW-w64 i686: a cross compiler on PATH, driven by GNU make."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from toolchain import paths
from toolchain.compilers import Built, Discovery, compile_flags, which
from toolchain.errors import AuditError, BuildError

if TYPE_CHECKING:
    from toolchain.targets import Target

object_suffix = ".o"
define_prefix = "-D"
dos_setup = [
    "Needs MinGW's bin folder on PATH (gcc and mingw32-make), e.g.",
    "SET PATH=C:\\MINGW\\BIN;%PATH%",
]


def dos_make_args(makefile: str) -> str:
    """On the old PC the compiler is plain gcc."""
    return f"-f {makefile} CC=gcc"


def discover(target: Target, environ: Mapping[str, str]) -> Discovery:
    cc = which(target.compiler.cc, environ)
    if cc is None:
        return Discovery(problem=f"{target.compiler.cc} not on PATH (Debian: apt-get install gcc-mingw-w64-i686)")
    if which("make", environ) is None:
        return Discovery(problem="GNU make not on PATH (Debian: apt-get install make)")
    return Discovery(Path(cc))


def build(target: Target, src_dir: Path, makefile: str, found: Discovery) -> Built:
    cmd = ["make", "-s", "-f", makefile, f"CC={found.path}"]
    proc = subprocess.run(cmd, cwd=src_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-12:]
        raise BuildError(f"{target.name}: make failed in {src_dir}:\n" + "\n".join(tail))
    return Built(src_dir / target.names.exe.lower())


def check_link_surface(target: Target, src_dir: Path) -> str:
    """The engine's objects may call only C89 and the target OS's API: a C99
    call would build here (libmingwex has it) and fail on Borland/Watcom.

    The objects are compiled again, with the target's own flags plus
    -fno-builtin, so that they call what the source says, not what GCC's
    optimiser substitutes (sincos, sqrtf).  Only the engine's own files are
    checked: a ported tree of the user's is theirs.
    """
    from toolchain.audit import check_link_surface as check

    out = src_dir.parent / "c89check"
    out.mkdir(exist_ok=True)
    objects = []
    for src in paths.engine_sources():
        if not (src_dir / src.name).is_file():
            continue
        obj = out / (src.stem + ".o")
        cmd = [target.compiler.cc, *compile_flags(target), "-fno-builtin", "-c", str(src_dir / src.name),
               "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"{src.name}: compiling for the C89 check failed: {proc.stderr.strip()[-300:]}")
        objects.append(obj)
    fails = [f for f in check(objects, os=target.platform.os) if f.severity == "fail"]
    if fails:
        raise AuditError(f"{src_dir}: not C89: " + "; ".join(f"{f.where} {f.message}".strip() for f in fails))
    return f"the engine calls only C89 and {target.platform.os_name} APIs"
