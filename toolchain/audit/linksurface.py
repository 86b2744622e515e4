"""C89 link surface: what the engine's object files leave for the linker to find.

The engine must build with Borland C++ 5.02 and Open Watcom too, whose libraries
stop at C89 plus KERNEL32.  MinGW quietly supplies C99 (``expf``, ``snprintf``,
``strtoll``) from libmingwex, so a C99 call only shows up when someone tries
the old compilers.  ``nm -u`` on the MinGW objects shows it now.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from toolchain.audit.findings import Finding
from toolchain.audit.imports import os_api
from toolchain.audit.platforms import check_os
from toolchain.errors import AuditError, CompilerMissing, ConfigError
from toolchain import paths

C89_LIBRARY: Path = paths.DATA_DIR / "c89_library.txt"
_STDCALL = re.compile(r"@\d+$")


@functools.cache
def c89_names() -> dict[str, frozenset[str]]:
    """The sections of c89_library.txt: ``c89`` and ``helpers``."""
    try:
        text = C89_LIBRARY.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{C89_LIBRARY}: cannot read ({exc.strerror})") from None
    sections: dict[str, set[str]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], set())
        elif current is None:
            raise ConfigError(f"{C89_LIBRARY}: names before the first [section]")
        else:
            current.update(line.split())
    return {k: frozenset(v) for k, v in sections.items()}


def c_name(symbol: str) -> str:
    """The C-level name of an i686 COFF symbol: ``__imp__Sleep@4`` -> ``Sleep``."""
    if symbol.startswith("__imp_"):
        symbol = symbol[len("__imp_"):]
    if symbol.startswith("_"):
        symbol = symbol[1:]
    return _STDCALL.sub("", symbol)


def object_symbols(obj: Path, nm: str) -> tuple[list[str], list[str]]:
    """(undefined, defined) raw symbol names of one object file (``nm -P``)."""
    try:
        proc = subprocess.run([nm, "-P", str(obj)], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise CompilerMissing(f"{nm} not found: install binutils-mingw-w64-i686 for the link-surface check") from None
    if proc.returncode != 0:
        msg = (proc.stderr.strip().splitlines() or ["nm failed"])[-1]
        raise AuditError(f"{obj}: cannot list symbols ({msg})")
    undefined: list[str] = []
    defined: list[str] = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2 or line.endswith(":"):
            continue
        name, kind = parts[0], parts[1]
        if kind in ("U", "w", "v"):
            undefined.append(name)
        elif kind.isupper():
            defined.append(name)
    return undefined, defined


def check_link_surface(objects: Iterable[Path], *, os: str, nm: str = "i686-w64-mingw32-nm",
                       allowed_extra: Iterable[str] = frozenset()) -> list[Finding]:
    """Findings for symbols the objects leave undefined outside C89 + the target's KERNEL32.

    Symbols one object defines for another (the engine's own functions) are
    not part of the surface.

    A KERNEL32 name the OS lacks fails; one on the 9x warn list warns; anything
    else that is neither C89 nor in ``allowed_extra`` fails (the symbol is named
    with the objects that reference it).
    """
    check_os(os)
    if shutil.which(nm) is None and not Path(nm).is_file():
        raise CompilerMissing(f"{nm} not found: install binutils-mingw-w64-i686 for the link-surface check")
    names = c89_names()
    allowed = names.get("c89", frozenset()) | names.get("helpers", frozenset()) | set(allowed_extra)
    api = os_api(os)
    kernel32 = api.exports.get("kernel32.dll", frozenset())
    users: dict[str, list[str]] = {}
    defined: set[str] = set()
    for obj in objects:
        obj = Path(obj)
        if not obj.is_file():
            raise AuditError(f"{obj}: no such object file")
        undefined, provided = object_symbols(obj, nm)
        defined.update(c_name(sym) for sym in provided)
        for sym in undefined:
            users.setdefault(c_name(sym), []).append(obj.name)
    for name in defined:  # resolved among the objects themselves
        users.pop(name, None)
    out: list[Finding] = []
    for name in sorted(users):
        where = ", ".join(sorted(set(users[name])))
        if name in allowed:
            continue
        if name in kernel32:
            if name in api.warn_list and name not in api.edge_case_only:
                out.append(Finding("warn", "link", f"KERNEL32 {name} is a failing stub or broken on {api.title}",
                                   where))
            continue
        if _looks_like_platform_api(name):
            out.append(Finding("fail", "link", f"{name} is not exported by {api.title} KERNEL32", where))
        else:
            out.append(Finding("fail", "link", f"{name} is not in the C89 library: Borland C++ 5.02 or Open "
                               "Watcom may lack it", where))
    return out


def _looks_like_platform_api(name: str) -> bool:
    """Win32 API names are CamelCase; C library names are lower case."""
    return name[:1].isupper() and any(c.islower() for c in name)
