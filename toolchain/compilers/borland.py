"""Borland C++ 5.02: found through $BCC_ROOT, its Win32 console tools run
under Wine.  Borland's MAKE may be a 16-bit DOS program that Wine cannot
run, so the build calls bcc32 and tlink32 directly with the same flags and
response files that the rendered MAKEFILE.BOR uses."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Mapping

from toolchain.compilers import Discovery, which
from toolchain.errors import BuildError
from toolchain.targets import Target
from toolchain.smoke import wine_env

object_suffix = ".obj"
define_prefix = "-D"


def _entries(base: Path, folder: str) -> list[Path]:
    """What is in base/folder, matching the folder's name in any case (a copy
    from a FAT disk may say BIN, Bin or bin; Linux tells them apart)."""
    if not base.is_dir():
        return []
    return [p for d in base.iterdir() if d.is_dir() and d.name.lower() == folder for p in d.iterdir()]


def discover(target: Target, environ: Mapping[str, str]) -> Discovery:
    root = environ.get("BCC_ROOT", "").strip()
    if not root:
        return Discovery(False, "$BCC_ROOT is not set (point it at a Borland C++ 5.02 folder with BIN\\BCC32.EXE)")
    base = Path(root)
    tools = {}
    for tool in (target.compiler.cc, "tlink32"):
        hits = [p for p in _entries(base, "bin") if p.name.lower() == f"{tool}.exe"]
        if not hits:
            return Discovery(False, f"$BCC_ROOT={root}: no BIN/{tool.upper()}.EXE")
        tools[tool] = hits[0]
    if which("wine", environ) is None:
        return Discovery(False, "Borland's tools need Wine, which is not on PATH")
    return Discovery(True, str(tools[target.compiler.cc]), root=base, wrapper=("wine",))


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=wine_env())
    # bcc32 and tlink32 print errors on stdout and exit nonzero.
    if proc.returncode != 0 or "Error" in proc.stdout:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
        raise BuildError(f"{what} failed in {cwd}:\n" + "\n".join(tail))


def build(target: Target, src_dir: Path, makefile: str, found: Discovery) -> Path:
    from toolchain.render import compile_flags

    assert found.root is not None
    winroot = "Z:" + str(found.root).replace("/", "\\")
    flags = compile_flags(target)
    objs = []
    for src in sorted(src_dir.glob("*.c")):
        rsp = src_dir / f"{src.stem}.rsp"
        rsp.write_text(f"-c -I{winroot}\\include {' '.join(flags)} {src.name}\r\n", encoding="ascii")
        _run([*found.wrapper, found.where, f"@{rsp.name}"], src_dir, f"bcc32 {src.name}")
        objs.append(f"{src.stem}.obj")
    exe = target.names.exe.lower()
    link = (
        f"-Tpe -ap -x -S:{target.linker.stack_reserve:x} -L{winroot}\\lib +\r\n"
        f"c0x32.obj {' '.join(objs)}, +\r\n{exe}, , +\r\nimport32.lib cw32.lib\r\n"
    )
    (src_dir / "link.rsp").write_text(link, encoding="ascii")
    tlink = next(p for p in Path(found.where).parent.iterdir() if p.name.lower() == "tlink32.exe")
    _run([*found.wrapper, str(tlink), "@link.rsp"], src_dir, "tlink32")
    return src_dir / exe
