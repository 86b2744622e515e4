"""Open Watcom: found through $WATCOM, Linux-hosted (binl64/binl) or the
Windows-hosted tools (binnt) under Wine; driven by its own wmake with the
rendered MAKEFILE.WAT, the same file that ships in SRC\\ for the old PC."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from toolchain.compilers import Built, Discovery, which
from toolchain.errors import BuildError

if TYPE_CHECKING:
    from toolchain.targets import Target

object_suffix = ".obj"
define_prefix = "-d"
dos_setup = [
    "Needs Open Watcom's variables, as its installer sets them, e.g.",
    "SET WATCOM=C:\\WATCOM",
    "SET PATH=%WATCOM%\\BINNT;%WATCOM%\\BINW;%PATH%",
    "SET INCLUDE=%WATCOM%\\H;%WATCOM%\\H\\NT",
]
# An MS-DOS target is rebuilt with the DOS-hosted tools and no NT headers.
dos_setup_by_os = {
    "dos": [
        "Needs Open Watcom for DOS, set up as its installer writes AUTOEXEC.BAT:",
        "SET WATCOM=C:\\WATCOM",
        "SET PATH=%WATCOM%\\BINW;%PATH%",
        "SET INCLUDE=%WATCOM%\\H",
    ],
}

_HOSTS = (("binl64", "", ()), ("binl", "", ()), ("binnt", ".exe", ("wine",)))
# Where COFF_FILE_HEADER.TimeDateStamp sits: e_lfanew + "PE\0\0" + 4 bytes.
_STAMP_OFFSET = 8


def dos_make_args(makefile: str) -> str:
    """wmake takes -f like GNU make; -h drops its banner."""
    return f"-h -f {makefile}"


def discover(target: Target, environ: Mapping[str, str]) -> Discovery:
    root = environ.get("WATCOM", "").strip()
    if not root:
        return Discovery(problem="$WATCOM is not set (install Open Watcom and set WATCOM to its folder)")
    base = Path(root)
    for bindir, ext, wrapper in _HOSTS:
        cc = base / bindir / f"{target.compiler.cc}{ext}"
        if cc.is_file():
            if wrapper and which("wine", environ) is None:
                return Discovery(problem=f"{cc} needs Wine, which is not on PATH")
            sep = ";" if wrapper else ":"
            # A DOS build sees only the portable headers, as BUILD.BAT sets it.
            include = [base / "h"] if target.platform.os == "dos" else [base / "h", base / "h" / "nt"]
            env = {
                "WATCOM": str(base),
                "INCLUDE": sep.join(map(str, include)),
                "PATH": f"{base / bindir}:{environ.get('PATH', '')}",
            }
            return Discovery(Path(cc), root=base, wrapper=wrapper, env=env)
    return Discovery(problem=f"$WATCOM={root}: no {target.compiler.cc} in binl64/, binl/ or binnt/")


def _wmake(found: Discovery) -> list[str]:
    assert found.root is not None
    if not found.wrapper:
        for bindir in ("binl64", "binl"):
            if (found.root / bindir / "wmake").is_file():
                return [str(found.root / bindir / "wmake")]
    return [*found.wrapper, str(found.root / "binnt" / "wmake.exe")]


def build(target: Target, src_dir: Path, makefile: str, found: Discovery) -> Built:
    proc = subprocess.run(
        [*_wmake(found), "-h", "-f", makefile], cwd=src_dir, capture_output=True, text=True,
        env={**os.environ, **found.env},
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
        raise BuildError(f"{target.name}: wmake failed in {src_dir}:\n" + "\n".join(tail))
    exe = src_dir / target.names.exe.lower()
    mapfile = exe.with_suffix(".map")
    return Built(exe, mapfile if mapfile.is_file() else None)


def finish(target: Target, exe: Path) -> None:
    """Zero the PE link timestamp, as MinGW's --no-insert-timestamp does.

    wlink stamps the exe with the time of the link and has no option to
    leave it out, which alone makes two builds differ.  The checksum field
    is 0 (wlink writes none), so nothing else depends on the stamp.
    """
    data = bytearray(exe.read_bytes())
    if data[:2] != b"MZ" or len(data) < 0x40:
        raise BuildError(f"{exe}: not an MZ/PE file")
    pe = int.from_bytes(data[0x3C:0x40], "little")
    if target.platform.os == "dos" and data[pe:pe + 2] == b"LE":
        return  # an MS-DOS (CauseWay) LE module carries no link time
    if data[pe:pe + 4] != b"PE\0\0":
        raise BuildError(f"{exe}: no PE header")
    data[pe + _STAMP_OFFSET:pe + _STAMP_OFFSET + 4] = bytes(4)
    exe.write_bytes(bytes(data))
