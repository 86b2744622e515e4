"""MS-DOS executable checks: a CauseWay-bound 32-bit program, not a Win32 PE.

``wlink system causeway`` writes an MZ file whose DOS stub is the CauseWay
extender itself (compressed; it carries the string "CauseWay") and whose
32-bit program follows as a Linear Executable (LE: the format of OS/2 2.x
and DOS/4GW, which CauseWay loads).  The MZ header's e_lfanew (offset 0x3C)
points at the LE header, as it points at "PE" in a Win32 file.  An LE file
is a set of objects (segments) whose pages lie in the file one after
another; the page map says which data page holds each object page.

The checks: the file is MZ; it is not a PE (DOS would answer "This program
cannot be run in DOS mode"), NE or plain real-mode program; the LE header is
sane and its entry lies in a 32-bit code object; the stub is CauseWay, so no
extender file has to travel with RUN.EXE.  The 32-bit code objects are then
swept with the same CPU tables as a PE (``toolchain.audit.cpu``).

Layout facts: the LE/LX header as documented in IBM's "OS/2 Linear eXecutable
Module Format" (1992), checked against what wlink writes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from toolchain.audit.cpu import CpuHit, Gate, scan_code
from toolchain.audit.findings import Finding
from toolchain.errors import AuditError

OBJ_EXECUTABLE = 0x0004
OBJ_BIG = 0x2000  # 32-bit default operand size (a USE32 segment)
_HEADER_BYTES = 0xAC
_OBJECT_BYTES = 24
_CPU_TYPES = {1: "286", 2: "386", 3: "486"}
# The LE header's CPU field cannot say more than 486; a target baseline at or
# above these may load a module marked so.
_CPU_FIELD_OK = {"i386": {1, 2}}


@dataclass(frozen=True)
class LeObject:
    """One object (segment) of an LE/LX module."""

    number: int
    virtual_size: int
    base: int
    flags: int
    data: bytes  # its pages as stored (zero-filled where the map says so)

    @property
    def code32(self) -> bool:
        return bool(self.flags & OBJ_EXECUTABLE) and bool(self.flags & OBJ_BIG)


@dataclass(frozen=True)
class LeModule:
    """What the audit needs from an MZ + LE/LX file."""

    kind: str  # "LE" or "LX"
    header_offset: int
    cpu_type: int
    entry_object: int
    entry_offset: int
    objects: list[LeObject]
    stub: bytes  # the MZ part before the LE header (the extender, when bound)


def _u16(data: bytes, off: int) -> int:
    return int(struct.unpack_from("<H", data, off)[0])


def _u32(data: bytes, off: int) -> int:
    return int(struct.unpack_from("<I", data, off)[0])


def read_module(exe: Path) -> tuple[LeModule | None, list[Finding]]:
    """Parse ``exe`` as MZ + LE/LX.  Header problems come back as findings
    (and no module); AuditError only when the file cannot be read at all."""
    if not exe.is_file():
        raise AuditError(f"{exe}: no such file")
    try:
        data = exe.read_bytes()
    except OSError as exc:
        raise AuditError(f"{exe}: cannot read ({exc.strerror})") from None

    def fail(message: str, where: str = "header") -> tuple[None, list[Finding]]:
        return None, [Finding("fail", "mz", message, where)]

    if len(data) < 0x40 or data[:2] not in (b"MZ", b"ZM"):
        return fail("not an MS-DOS executable (no MZ header)")
    lfanew = _u32(data, 0x3C)
    sig = data[lfanew:lfanew + 4] if 0x40 <= lfanew < len(data) - 4 else b""
    if sig == b"PE\0\0":
        return fail("a Win32 PE executable: MS-DOS runs only its stub "
                    "('This program cannot be run in DOS mode')", f"e_lfanew {lfanew:#x}")
    if sig[:2] == b"NE":
        return fail("a 16-bit Windows (NE) executable, not a DOS extender program", f"e_lfanew {lfanew:#x}")
    if sig[:2] not in (b"LE", b"LX"):
        return fail("no LE/LX module after the MZ stub: a real-mode DOS program, not the "
                    "32-bit engine bound to a DOS extender")
    kind = sig[:2].decode("ascii")
    h = data[lfanew:]
    if len(h) < _HEADER_BYTES:
        return fail(f"{kind} header cut short", f"{kind} @ {lfanew:#x}")
    if h[2] != 0 or h[3] != 0:
        return fail(f"{kind} module is not little-endian", f"{kind} @ {lfanew:#x}")
    n_pages, page_size, last_or_shift = _u32(h, 0x14), _u32(h, 0x28), _u32(h, 0x2C)
    obj_table, n_objects, page_map = _u32(h, 0x40), _u32(h, 0x44), _u32(h, 0x48)
    data_pages = _u32(h, 0x80)
    if page_size == 0 or page_size > 0x10000 or n_objects == 0 or n_objects > 256:
        return fail(f"{kind} header is damaged (page size {page_size}, {n_objects} objects)",
                    f"{kind} @ {lfanew:#x}")

    def page_bytes(page: int) -> bytes:
        """Bytes of 1-based map entry ``page`` (short or zero where the file says so)."""
        entry = lfanew + page_map + 4 * (page - 1) if kind == "LE" else lfanew + page_map + 8 * (page - 1)
        if page < 1 or page > n_pages or entry + 4 > len(data):
            return bytes(page_size)
        if kind == "LE":
            number = (data[entry] << 16) | (data[entry + 1] << 8) | data[entry + 2]
            if data[entry + 3] != 0 or number == 0:
                return bytes(page_size)
            start = data_pages + (number - 1) * page_size
            size = last_or_shift if number == n_pages else page_size
        else:
            offset, size, flags = struct.unpack_from("<IHH", data, entry)
            if flags != 0:
                return bytes(page_size)
            start = data_pages + (offset << last_or_shift)
        chunk = data[start:start + size]
        return chunk + bytes(page_size - len(chunk))

    objects = []
    for i in range(n_objects):
        off = lfanew + obj_table + _OBJECT_BYTES * i
        if off + _OBJECT_BYTES > len(data):
            return fail(f"{kind} object table runs past the end of the file", f"object {i + 1}")
        vsize, base, flags, first, count, _ = struct.unpack_from("<6I", data, off)
        if count > n_pages:
            return fail(f"{kind} object {i + 1} claims {count} pages of {n_pages}", f"object {i + 1}")
        body = b"".join(page_bytes(first + k) for k in range(count))[:vsize]
        objects.append(LeObject(i + 1, vsize, base, flags, body))
    module = LeModule(kind, lfanew, _u16(h, 0x08), _u32(h, 0x18), _u32(h, 0x1C), objects, data[:lfanew])
    return module, []


def check_module(module: LeModule, cpu: str) -> list[Finding]:
    """Header facts that decide whether CauseWay will load and start it."""
    out: list[Finding] = []
    where = f"{module.kind} @ {module.header_offset:#x}"
    if b"CauseWay" not in module.stub:
        out.append(Finding("warn", "mz", "the MZ stub is not CauseWay: the extender it loads "
                           "(e.g. DOS4GW.EXE) must travel with the exe", where))
    if module.cpu_type not in _CPU_TYPES:
        out.append(Finding("fail", "mz", f"unknown CPU type {module.cpu_type} in the {module.kind} header", where))
    elif cpu in _CPU_FIELD_OK and module.cpu_type not in _CPU_FIELD_OK[cpu]:
        out.append(Finding("fail", "mz", f"marked for a {_CPU_TYPES[module.cpu_type]}, above {cpu}", where))
    entry = next((o for o in module.objects if o.number == module.entry_object), None)
    if entry is None:
        out.append(Finding("fail", "mz", f"entry object {module.entry_object} does not exist", where))
    elif not entry.code32:
        out.append(Finding("fail", "mz", f"entry object {entry.number} is not 32-bit code", where))
    elif module.entry_offset >= entry.virtual_size:
        out.append(Finding("fail", "mz", f"entry {module.entry_offset:#x} lies outside object "
                           f"{entry.number} ({entry.virtual_size:#x} bytes)", where))
    for o in module.objects:
        if o.flags & OBJ_EXECUTABLE and not o.flags & OBJ_BIG:
            out.append(Finding("info", "mz", "16-bit code object: not swept by the CPU check",
                               f"object {o.number}"))
    return out


def scan_module(module: LeModule, gate: Gate) -> tuple[list[CpuHit], int]:
    """CPU hits in every 32-bit code object and the number of bytes swept."""
    hits: list[CpuHit] = []
    swept = 0
    for o in module.objects:
        if o.code32:
            hits += scan_code(o.data, o.base, gate)
            swept += len(o.data)
    return hits, swept
