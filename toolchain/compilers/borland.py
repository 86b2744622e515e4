"""Borland C++ 5.02: found through $BCC_ROOT, its Win32 console tools run
under Wine.

Borland's MAKE may be a 16-bit DOS program that Wine cannot run, so the
build here does what MAKE would do with the rendered MAKEFILE.BOR: it reads
the makefile's macros and its two inline response files (the ``.c.obj``
rule and the link rule) and runs bcc32 and tlink32 with exactly those.  The
command lines are written once, in ``templates/borland.mk.j2``.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from toolchain.compilers import Built, Discovery, which
from toolchain.errors import BuildError
from toolchain.wine import wine_env

if TYPE_CHECKING:
    from toolchain.targets import Target

object_suffix = ".obj"
define_prefix = "-D"
dos_setup = [
    "Needs Borland C++ 5.02's BIN folder on PATH (bcc32, tlink32, make):",
    "SET PATH=C:\\BC5\\BIN;%PATH%",
    "Installed elsewhere than C:\\BC5?  Name the folder for MAKE:",
    "make -fMAKEFILE.BOR -DBCROOT=D:\\BC5",
]

_MACRO = re.compile(r"^([A-Z_][A-Z0-9_]*)\s*=\s*(.*)$")
_REF = re.compile(r"\$\(([A-Z_][A-Z0-9_]*)\)")


def dos_make_args(makefile: str) -> str:
    """Borland MAKE takes the makefile glued to -f."""
    return f"-f{makefile}"


def _entries(base: Path, folder: str) -> list[Path]:
    """What is in base/folder, matching the folder's name in any case (a copy
    from a FAT disk may say BIN, Bin or bin; Linux tells them apart)."""
    if not base.is_dir():
        return []
    return [p for d in base.iterdir() if d.is_dir() and d.name.lower() == folder for p in d.iterdir()]


def discover(target: Target, environ: Mapping[str, str]) -> Discovery:
    root = environ.get("BCC_ROOT", "").strip()
    if not root:
        return Discovery(problem="$BCC_ROOT is not set (point it at a Borland C++ 5.02 folder with BIN\\BCC32.EXE)")
    base = Path(root)
    tools = {}
    for tool in (target.compiler.cc, "tlink32"):
        hits = [p for p in _entries(base, "bin") if p.name.lower() == f"{tool}.exe"]
        if not hits:
            return Discovery(problem=f"$BCC_ROOT={root}: no BIN/{tool.upper()}.EXE")
        tools[tool] = hits[0]
    if which("wine", environ) is None:
        return Discovery(problem="Borland's tools need Wine, which is not on PATH")
    return Discovery(Path(tools[target.compiler.cc]), root=base, wrapper=("wine",))


def read_recipes(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """(macros, inline response files by rule) of a rendered MAKEFILE.BOR.

    Understands what our template writes: ``NAME = value`` with ``\\``
    continuations, and rules whose command is ``@&&|`` ... ``|``.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    macros: dict[str, str] = {}
    blocks: dict[str, str] = {}
    rule = ""
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _MACRO.match(line)
        if m:
            value = m.group(2)
            while value.endswith("\\"):
                i += 1
                value = value[:-1].rstrip() + " " + lines[i].strip()
            macros[m.group(1)] = value.strip()
        elif line and not line[0].isspace() and ":" in line and not line.startswith(("#", "!")):
            rule = line.split(":", 1)[0].strip()
        elif line.rstrip().endswith("@&&|"):
            body = []
            i += 1
            while lines[i] != "|":
                body.append(lines[i])
                i += 1
            blocks[rule] = "\r\n".join(body) + "\r\n"
        i += 1
    return macros, blocks


def _expand(text: str, macros: Mapping[str, str]) -> str:
    for _ in range(5):  # macros may name macros
        text = _REF.sub(lambda m: macros.get(m.group(1), ""), text)
    return text


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=wine_env())
    # bcc32 and tlink32 print errors on stdout and exit nonzero.
    if proc.returncode != 0 or "Error" in proc.stdout:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-12:]
        raise BuildError(f"{what} failed in {cwd}:\n" + "\n".join(tail))


def build(target: Target, src_dir: Path, makefile: str, found: Discovery) -> Built:
    assert found.root is not None and found.path is not None
    macros, blocks = read_recipes((src_dir / makefile).read_text(encoding="ascii"))
    exe = target.names.exe.lower()
    if ".c.obj" not in blocks or exe not in blocks:
        raise BuildError(f"{src_dir / makefile}: no .c.obj or {exe} response-file rule")
    macros["BCROOT"] = "Z:" + str(found.root).replace("/", "\\")
    for src in sorted(src_dir.glob("*.c")):
        rsp = src_dir / f"{src.stem}.rsp"
        rsp.write_text(_expand(blocks[".c.obj"], macros).replace("$<", src.name), encoding="ascii")
        _run([*found.wrapper, str(found.path), f"@{rsp.name}"], src_dir, f"bcc32 {src.name}")
    (src_dir / "link.rsp").write_text(_expand(blocks[exe], macros), encoding="ascii")
    tlink = next(p for p in found.path.parent.iterdir() if p.name.lower() == "tlink32.exe")
    _run([*found.wrapper, str(tlink), "@link.rsp"], src_dir, "tlink32")
    return Built(src_dir / exe)
