"""Name the function that holds an address: COFF symbols of an unstripped twin,
or a linker map file.

The CPU gate runs on the stripped exe that ships; a hit is only actionable when
it says *which* function (``___tmainCRTStartup`` from MinGW's startup, ``_pow``
from libmingwex, or our own ``matmul``).  The shipped exe has no symbols, so the
build passes either the same link without ``-s`` (identical layout: ``-s`` only
drops the symbol table and debug sections) or a map file.
"""

from __future__ import annotations

import bisect
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

import pefile

from toolchain.errors import AuditError

_SYM_SIZE = 18
_CLASS_EXTERNAL = 2
_CLASS_STATIC = 3
_CLASS_LABEL = 6
_SCN_MEM_EXECUTE = 0x20000000
_SCN_CNT_CODE = 0x00000020

# GNU ld map: "                0x00401000                _main"
_GNU_MAP_LINE = re.compile(r"^\s+0x([0-9A-Fa-f]+)\s+([A-Za-z_.$?@][\w.$@?]*)\s*$")
# Open Watcom 2 flat map: "00405520       main_" (absolute, '*'/'+' marks)
_FLAT_MAP_LINE = re.compile(r"^([0-9A-Fa-f]{8})[*+]?\s+([A-Za-z_.$?@][\w.$@?]*)\s*$")
# Open Watcom / Borland map: "0001:00000010       _main" (section:offset)
_SEG_MAP_LINE = re.compile(r"^\s*([0-9A-Fa-f]{4}):([0-9A-Fa-f]{8})\+?\s+([A-Za-z_.$?@][\w.$@?]*)")


def is_code_section(section: pefile.SectionStructure) -> bool:
    """Executable or code-bearing section (what the CPU gate disassembles)."""
    return bool(section.Characteristics & (_SCN_MEM_EXECUTE | _SCN_CNT_CODE))


@dataclass
class Symbolizer:
    """Sorted (address, name) pairs; ``name_of`` finds the enclosing symbol."""

    addresses: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    source: str = ""

    @classmethod
    def from_pairs(cls, pairs: list[tuple[int, str]], source: str) -> "Symbolizer":
        """Build from unsorted pairs; the first name wins at a shared address."""
        seen: dict[int, str] = {}
        for addr, name in sorted(pairs):
            seen.setdefault(addr, name)
        addrs = sorted(seen)
        return cls(addrs, [seen[a] for a in addrs], source)

    def __bool__(self) -> bool:
        return bool(self.addresses)

    def name_of(self, address: int) -> str | None:
        """Name of the last symbol at or below ``address`` (None before the first)."""
        i = bisect.bisect_right(self.addresses, address) - 1
        return self.names[i] if i >= 0 else None


def _coff_name(raw: bytes, strings: bytes) -> str:
    if raw[:4] == b"\0\0\0\0":
        (offset,) = struct.unpack_from("<I", raw, 4)
        end = strings.find(b"\0", offset)
        return strings[offset : end if end >= 0 else len(strings)].decode("latin-1")
    return raw.rstrip(b"\0").decode("latin-1")


def from_coff(exe: Path) -> Symbolizer:
    """Function symbols of an unstripped PE, as absolute addresses.

    Reads the COFF symbol table directly (pefile does not parse it): externals,
    statics and labels that lie in a code section, excluding section names.
    """
    try:
        pe = pefile.PE(str(exe), fast_load=True)
    except (OSError, pefile.PEFormatError) as exc:
        raise AuditError(f"{exe}: cannot read symbols ({exc})") from None
    data = bytes(pe.__data__)
    start = pe.FILE_HEADER.PointerToSymbolTable
    count = pe.FILE_HEADER.NumberOfSymbols
    code = {i + 1: s for i, s in enumerate(pe.sections) if is_code_section(s)}
    base = pe.OPTIONAL_HEADER.ImageBase
    pe.close()
    if not start or not count:
        return Symbolizer(source=f"{exe.name} (no symbols)")
    end = start + count * _SYM_SIZE
    if end > len(data):
        raise AuditError(f"{exe}: COFF symbol table runs past the end of the file")
    strings = data[end:]
    pairs: list[tuple[int, str]] = []
    i = 0
    while i < count:
        rec = data[start + i * _SYM_SIZE : start + (i + 1) * _SYM_SIZE]
        value, secnum, _type, klass, naux = struct.unpack_from("<IhHBB", rec, 8)
        i += 1 + naux
        if klass not in (_CLASS_EXTERNAL, _CLASS_STATIC, _CLASS_LABEL) or secnum not in code:
            continue
        name = _coff_name(rec[:8], strings)
        if not name or name.startswith("."):
            continue
        pairs.append((base + code[secnum].VirtualAddress + value, name))
    return Symbolizer.from_pairs(pairs, f"symbols of {exe.name}")


def from_map(map_file: Path, pe: pefile.PE) -> Symbolizer:
    """Symbols from a linker map: GNU ld (absolute 0x addresses), Open Watcom
    2's flat addresses, or the section:offset form of Open Watcom 1.x and
    Borland (section n = nth PE section).

    Maps list global symbols only, so a hit in a static function is named
    after the global that precedes it; an unstripped twin is more precise.
    """
    try:
        text = map_file.read_text(encoding="latin-1")
    except OSError as exc:
        raise AuditError(f"{map_file}: cannot read map file ({exc.strerror})") from None
    base = pe.OPTIONAL_HEADER.ImageBase
    sections = list(pe.sections)
    lo, hi = base, base + pe.OPTIONAL_HEADER.SizeOfImage
    pairs: list[tuple[int, str]] = []
    for line in text.splitlines():
        m = _GNU_MAP_LINE.match(line)
        if m:
            addr = int(m.group(1), 16)
            if lo <= addr < hi:
                pairs.append((addr, m.group(2)))
            continue
        m = _FLAT_MAP_LINE.match(line)
        if m:
            addr = int(m.group(1), 16)
            if lo <= addr < hi:
                pairs.append((addr, m.group(2)))
            continue
        m = _SEG_MAP_LINE.match(line)
        if m:
            seg, off = int(m.group(1), 16), int(m.group(2), 16)
            if 1 <= seg <= len(sections):
                pairs.append((base + sections[seg - 1].VirtualAddress + off, m.group(3)))
    if not pairs:
        raise AuditError(f"{map_file}: no symbol addresses found (expected a GNU ld, Watcom or Borland map)")
    return Symbolizer.from_pairs(pairs, f"map {map_file.name}")
