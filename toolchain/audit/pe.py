"""PE header checks: will the Windows 9x / NT 4.0 loader accept this image?

Facts from docs/platform.md §1 and §4: 9x and NT4 accept subsystem/OS version 3.x or
4.0 (an image stamped 5.0 "is not a valid Win32 application"); only i386 PE32
images run; the runner must be a console program; Win32 code cannot live below
4 MB on 9x (DOS arena), so an image based there needs relocations.
"""

from __future__ import annotations

from pathlib import Path

import pefile

from toolchain.audit.findings import Finding
from toolchain.audit.platforms import is_9x
from toolchain.audit.symbols import is_code_section
from toolchain.errors import AuditError

MACHINE_I386 = 0x14C
MAGIC_PE32 = 0x10B
SUBSYSTEM_CONSOLE = 3
MAX_VERSION = (4, 0)
MIN_VERSION = (3, 10)
MIN_STACK = 1 << 20
DOS_ARENA_END = 0x400000
RELOCS_STRIPPED = 0x0001

_DIRS = [
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_TLS"],
    pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_BASERELOC"],
]


def open_pe(exe: Path) -> pefile.PE:
    """Parse the headers, imports, TLS and relocations of ``exe``.

    Raises AuditError (one line, naming the file) for a missing file or one
    that is not a PE image, instead of pefile's traceback.
    """
    if not exe.is_file():
        raise AuditError(f"{exe}: no such file")
    try:
        pe = pefile.PE(str(exe), fast_load=True)
        pe.parse_data_directories(directories=_DIRS)
    except pefile.PEFormatError as exc:
        raise AuditError(f"{exe}: not a Windows PE executable ({exc.value})") from None
    except OSError as exc:
        raise AuditError(f"{exe}: cannot read ({exc.strerror})") from None
    return pe


def _fail(msg: str, where: str) -> Finding:
    return Finding("fail", "pe", msg, where)


def _warn(msg: str, where: str) -> Finding:
    return Finding("warn", "pe", msg, where)


def check_pe(pe: pefile.PE, *, os: str) -> list[Finding]:
    """All header findings for ``pe`` on target ``os``."""
    out: list[Finding] = []
    fh, oh = pe.FILE_HEADER, pe.OPTIONAL_HEADER
    if fh.Machine != MACHINE_I386:
        name = pefile.MACHINE_TYPE.get(fh.Machine, hex(fh.Machine))
        out.append(_fail(f"machine is {name}, not i386: the exe cannot run on an x86 PC", "FILE_HEADER.Machine"))
    if oh.Magic != MAGIC_PE32:
        out.append(_fail(f"optional header magic {oh.Magic:#x} is not PE32 (0x10b): a 64-bit image", "OPTIONAL_HEADER.Magic"))
    if oh.Subsystem != SUBSYSTEM_CONSOLE:
        name = pefile.SUBSYSTEM_TYPE.get(oh.Subsystem, str(oh.Subsystem))
        out.append(_fail(f"subsystem is {name}, not console: RUN.BAT would get no output", "OPTIONAL_HEADER.Subsystem"))
    out += _check_versions(pe, os)
    out += _check_layout(pe)
    out += _check_relocs(pe, os)
    out += _check_tls(pe, os)
    if oh.SizeOfStackReserve < MIN_STACK:
        out.append(_warn(f"stack reserve is {oh.SizeOfStackReserve // 1024} KiB; the runner wants at least 1 MiB",
                         "OPTIONAL_HEADER.SizeOfStackReserve"))
    if fh.TimeDateStamp:
        out.append(Finding("info", "pe", "link timestamp is set: the build is not byte-reproducible "
                           "(--no-insert-timestamp)", "FILE_HEADER.TimeDateStamp"))
    return out


def _check_versions(pe: pefile.PE, os: str) -> list[Finding]:
    oh = pe.OPTIONAL_HEADER
    out: list[Finding] = []
    pairs = [
        ("subsystem", (oh.MajorSubsystemVersion, oh.MinorSubsystemVersion), "OPTIONAL_HEADER.MajorSubsystemVersion"),
        ("OS", (oh.MajorOperatingSystemVersion, oh.MinorOperatingSystemVersion),
         "OPTIONAL_HEADER.MajorOperatingSystemVersion"),
    ]
    for label, version, where in pairs:
        text = f"{version[0]}.{version[1]:02d}" if version[1] >= 10 else f"{version[0]}.{version[1]}"
        if version > MAX_VERSION:
            out.append(_fail(f"{label} version {text} is above 4.0: {os} refuses to load it "
                             f"(link with --subsystem console:4.0 --major-os-version 4)", where))
        elif label == "subsystem" and version < MIN_VERSION:
            out.append(_warn(f"{label} version {text} is below 3.10", where))
    return out


def _check_layout(pe: pefile.PE) -> list[Finding]:
    """Sections inside the file and the image, aligned, not overlapping; entry in code."""
    oh = pe.OPTIONAL_HEADER
    out: list[Finding] = []
    sa, fa = oh.SectionAlignment, oh.FileAlignment
    if sa & (sa - 1) or fa & (fa - 1) or sa < fa or fa < 0x200:
        out.append(_fail(f"section/file alignment {sa:#x}/{fa:#x} is invalid "
                         "(powers of two, file >= 0x200, section >= file)", "OPTIONAL_HEADER.SectionAlignment"))
    elif sa != 0x1000:
        out.append(_warn(f"section alignment {sa:#x} is not the page size 0x1000 the 9x loader expects",
                         "OPTIONAL_HEADER.SectionAlignment"))
    if oh.ImageBase % 0x10000:
        out.append(_fail(f"image base {oh.ImageBase:#x} is not 64 KiB aligned", "OPTIONAL_HEADER.ImageBase"))
    size = len(pe.__data__)
    spans: list[tuple[int, int, str]] = []
    for s in pe.sections:
        name = s.Name.rstrip(b"\0").decode("latin-1") or "?"
        if name.startswith("/"):
            out.append(Finding("info", "pe", f"section name {name} points into the COFF string table (a name "
                               "over 8 characters, e.g. .eh_frame): fine on NT, unverified on 9x", name))
        if s.SizeOfRawData and s.PointerToRawData + s.SizeOfRawData > size:
            out.append(_fail(f"section {name} raw data runs past the end of the file (truncated exe?)", name))
        if sa and s.VirtualAddress % sa:
            out.append(_fail(f"section {name} address {s.VirtualAddress:#x} is not section-aligned", name))
        vsize = max(s.Misc_VirtualSize, s.SizeOfRawData if not s.Misc_VirtualSize else 0)
        if s.VirtualAddress + vsize > oh.SizeOfImage:
            out.append(_fail(f"section {name} ends beyond SizeOfImage {oh.SizeOfImage:#x}", name))
        spans.append((s.VirtualAddress, s.VirtualAddress + vsize, name))
    spans.sort()
    for (_a0, a1, an), (b0, _b1, bn) in zip(spans, spans[1:]):
        if b0 < a1:
            out.append(_fail(f"sections {an} and {bn} overlap in memory", f"{an}/{bn}"))
    entry = oh.AddressOfEntryPoint
    holder = pe.get_section_by_rva(entry) if entry else None
    if holder is None or not is_code_section(holder):
        out.append(_fail(f"entry point {entry:#x} is not inside an executable section",
                         "OPTIONAL_HEADER.AddressOfEntryPoint"))
    return out


def _check_relocs(pe: pefile.PE, os: str) -> list[Finding]:
    oh = pe.OPTIONAL_HEADER
    out: list[Finding] = []
    has_relocs = hasattr(pe, "DIRECTORY_ENTRY_BASERELOC")
    for block in getattr(pe, "DIRECTORY_ENTRY_BASERELOC", []):
        page = block.struct.VirtualAddress
        if page >= oh.SizeOfImage:
            out.append(_fail(f"relocation block for page {page:#x} lies outside the image", ".reloc"))
            break
    stripped = bool(pe.FILE_HEADER.Characteristics & RELOCS_STRIPPED) or not has_relocs
    if is_9x(os) and oh.ImageBase < DOS_ARENA_END:
        if stripped:
            out.append(_fail(f"image base {oh.ImageBase:#x} is below 4 MB (the 9x DOS arena) and the exe "
                             "has no relocations: 9x cannot load it", "OPTIONAL_HEADER.ImageBase"))
        else:
            out.append(_warn(f"image base {oh.ImageBase:#x} is below 4 MB: 9x must relocate the exe",
                             "OPTIONAL_HEADER.ImageBase"))
    return out


def _check_tls(pe: pefile.PE, os: str) -> list[Finding]:
    """TLS callbacks: Win9x does not run them in all situations (docs/platform.md §4).

    MinGW's default startup calls its own callback by hand, so a callback is a
    warning on 9x rather than a failure; on NT 4.0 the loader runs them.
    """
    tls = getattr(pe, "DIRECTORY_ENTRY_TLS", None)
    if tls is None:
        return []
    callbacks = _tls_callbacks(pe, tls.struct.AddressOfCallBacks)
    if not callbacks:
        return [Finding("info", "pe", "TLS directory present (no callbacks)", "TLS")]
    where = ", ".join(f"{c:#x}" for c in callbacks)
    if is_9x(os):
        return [_warn(f"{len(callbacks)} TLS callback(s): Windows 9x does not run them in all situations "
                      "(fine when the startup code calls them itself, as MinGW's does)", f"TLS callbacks {where}")]
    return [Finding("info", "pe", f"{len(callbacks)} TLS callback(s)", f"TLS callbacks {where}")]


def _tls_callbacks(pe: pefile.PE, array_va: int) -> list[int]:
    """Read the zero-terminated callback array (absolute VAs)."""
    if not array_va:
        return []
    rva = array_va - pe.OPTIONAL_HEADER.ImageBase
    out: list[int] = []
    for _ in range(64):
        try:
            va = pe.get_dword_at_rva(rva + 4 * len(out))
        except pefile.PEFormatError:
            break
        if not va:
            break
        out.append(va)
    return out
