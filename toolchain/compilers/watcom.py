"""Open Watcom: found through $WATCOM, Linux-hosted (binl64/binl) or the
Windows-hosted tools (binnt) under Wine; driven by its own wmake."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Mapping

from toolchain.compilers import Discovery, which
from toolchain.errors import BuildError
from toolchain.targets import Target

object_suffix = ".obj"
define_prefix = "-d"

_HOSTS = (("binl64", "", ()), ("binl", "", ()), ("binnt", ".exe", ("wine",)))


def discover(target: Target, environ: Mapping[str, str]) -> Discovery:
    root = environ.get("WATCOM", "").strip()
    if not root:
        return Discovery(False, "$WATCOM is not set (install Open Watcom and set WATCOM to its folder)")
    base = Path(root)
    for bindir, ext, wrapper in _HOSTS:
        cc = base / bindir / f"{target.compiler.cc}{ext}"
        if cc.is_file():
            if wrapper and which("wine", environ) is None:
                return Discovery(False, f"{cc} needs Wine, which is not on PATH")
            # A DOS build sees only the portable headers, as BUILD.BAT sets it.
            include = [base / "h"] if target.platform.os == "dos" else [base / "h", base / "h" / "nt"]
            env = {
                "WATCOM": str(base),
                "INCLUDE": ":".join(map(str, include)),
                "PATH": f"{base / bindir}:{environ.get('PATH', '')}",
            }
            return Discovery(True, str(cc), root=base, wrapper=wrapper, env=env)
    return Discovery(False, f"$WATCOM={root}: no {target.compiler.cc} in binl64/, binl/ or binnt/")


def build(target: Target, src_dir: Path, makefile: str, found: Discovery) -> Path:
    assert found.root is not None
    wmake = [str(p) for p in (found.root / "binl64" / "wmake", found.root / "binl" / "wmake") if p.is_file()]
    cmd = [wmake[0]] if wmake and not found.wrapper else [*found.wrapper, str(found.root / "binnt" / "wmake.exe")]
    proc = subprocess.run(
        [*cmd, "-h", "-f", makefile], cwd=src_dir, capture_output=True, text=True, env={**os.environ, **found.env}
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
        raise BuildError(f"{target.name}: wmake failed in {src_dir}:\n" + "\n".join(tail))
    return src_dir / target.names.exe.lower()
