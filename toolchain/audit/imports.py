"""Import checks: does every DLL!function the exe imports exist on the target OS?

An import the DLL does not export stops the program at load time ("linked to
missing export MSVCRT.DLL:_time64"), before a single line of ours runs.  The
per-OS export lists are project data (toolchain/data/winapi, see its README).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import pefile

from toolchain.audit.findings import Finding
from toolchain.audit.platforms import WINAPI_DIR, check_os, os_apis
from toolchain.errors import ConfigError


_EXPORT_NAME = re.compile(r"^[A-Za-z0-9_?@$]+$")


@functools.cache
def read_list(filename: str) -> frozenset[str]:
    """One export list: header lines start with '#', then one name a line.

    The ``# lines: N`` header is checked, so a truncated copy is an error;
    a line that is not an export name is one ``file:LINE:COL`` error.
    """
    path = WINAPI_DIR / filename
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read export list ({getattr(exc, 'strerror', None) or exc})") from None
    names, want = [], None
    for number, ln in enumerate(lines, 1):
        if ln.startswith("# lines:"):
            count = ln.split(":", 1)[1].strip()
            if not count.isdigit():
                raise ConfigError(f"{path}:{number}:10: '# lines:' must give a whole number, not {count!r}")
            want = int(count)
        elif ln.strip() and not ln.startswith("#"):
            name = ln.strip()
            if not _EXPORT_NAME.match(name):
                col = len(ln) - len(ln.lstrip()) + 1
                raise ConfigError(f"{path}:{number}:{col}: {name[:40]!r} is not an export name "
                                  "(one name a line: letters, digits, _ ? @ $)")
            names.append(name)
    if want is not None and want != len(names):
        raise ConfigError(f"{path}: header says {want} names, file has {len(names)}")
    return frozenset(names)


@dataclass(frozen=True)
class OsApi:
    """What one OS exports, per lower-case DLL name, plus its 9x caveats."""

    os: str
    title: str
    exports: dict[str, frozenset[str]]
    no_msvcrt: bool
    warn_list: frozenset[str]
    edge_case_only: frozenset[str]
    implemented: frozenset[str] = frozenset()


@functools.cache
def os_api(os: str) -> OsApi:
    """Load the export sets of ``os`` as described by os_apis.yaml."""
    check_os(os)
    doc = os_apis()
    if os not in doc.os:
        raise ConfigError(f"{os!r} has no Win32 API to check imports against")
    entry = doc.os[os]
    exports: dict[str, frozenset[str]] = {}
    for dll, files in entry.dlls.items():
        names: set[str] = set()
        for f in files:
            names |= read_list(f)
        names |= set(entry.extra.get(dll, []))
        exports[dll.lower()] = frozenset(names)
    warn = read_list("kernel32-win98-missing.txt") if entry.warn_list else frozenset()
    return OsApi(os, entry.title, exports, entry.no_msvcrt, warn,
                 frozenset(doc.edge_case_only), frozenset(doc.implemented_on_9x))


def first_os_with(dll: str, name: str) -> str | None:
    """The oldest target OS whose list has ``dll!name`` (for the hint in a failure)."""
    for os in os_apis().earliest:
        api = os_api(os)
        if name in api.exports.get(dll, frozenset()) and not (api.no_msvcrt and dll == "msvcrt.dll"):
            return api.title
    return None


def list_imports(pe: pefile.PE) -> list[tuple[str, str | None, int | None]]:
    """(dll, name, ordinal) for every import; name is None for ordinal imports."""
    out: list[tuple[str, str | None, int | None]] = []
    for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []):
        dll = entry.dll.decode("latin-1")
        for imp in entry.imports:
            name = imp.name.decode("latin-1") if imp.name else None
            out.append((dll, name, imp.ordinal if name is None else None))
    return out


def check_imports(imports: list[tuple[str, str | None, int | None]], *, os: str) -> list[Finding]:
    """Findings for an import list on target ``os`` (see the data README for the rules)."""
    api = os_api(os)
    out: list[Finding] = []
    warned_msvcrt = False
    for dll, name, ordinal in imports:
        key = dll.lower()
        where = f"{dll}!{name if name is not None else f'#{ordinal}'}"
        if key == "msvcrt.dll" and api.no_msvcrt and not warned_msvcrt:
            warned_msvcrt = True
            out.append(Finding("warn", "imports", f"{api.title} ships no msvcrt.dll: the user must install one "
                               "(names checked against the oldest, Visual C++ 4.2 level)", dll))
        known = api.exports.get(key)
        if known is None:
            out.append(Finding("warn", "imports", f"no export list for {dll} on {api.title}: cannot check", where))
            continue
        if name is None:
            out.append(Finding("warn", "imports", "import by ordinal: ordinals differ between Windows releases",
                               where))
            continue
        if name not in known:
            since = first_os_with(key, name)
            hint = f" (exists from {since})" if since else " (on no 9x/NT4 release)"
            out.append(Finding("fail", "imports", f"{api.title} {dll} does not export {name}: the exe will not "
                               f"load{hint}", where))
        elif key == "kernel32.dll" and name in api.warn_list:
            if name in api.implemented:
                out.append(Finding("info", "imports", f"{name} is implemented on 9x (one of its few real "
                                   "Unicode conversions; KernelEx only adds code pages)", where))
            elif name in api.edge_case_only:
                out.append(Finding("info", "imports", f"{name} works on 9x except in edge cases "
                                   "(NT-only flags, overlapped I/O)", where))
            else:
                out.append(Finding("warn", "imports", f"{name} is exported by {api.title} but is a failing stub "
                                   "or broken there (KernelEx replaces it)", where))
    return out
