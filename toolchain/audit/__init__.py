"""Binary audit: prove an exe will load and run on its Windows 9x/NT4 target
(or, for MS-DOS, that it is a CauseWay-bound 32-bit program: ``audit.mz``).

Three checks on the finished exe (PE header, imports per OS, CPU instructions
per baseline) and one on the object files before linking (the C89 link
surface).  Callers pass plain strings for the OS and CPU, so the audit does not
depend on the target schema::

    report = audit_exe(Path("RUN.EXE"), os="win98", cpu="pentium2")
    if not report.ok:
        raise AuditError(report.verdict)
"""

from __future__ import annotations

from pathlib import Path

import pefile

from toolchain.audit.cpu import CpuHit, Gate, cpu_findings, name_hits, scan_pe
from toolchain.audit.findings import Finding
from toolchain.audit.imports import check_imports, list_imports
from toolchain.audit.linksurface import check_link_surface
from toolchain.audit.mz import check_module, read_module, scan_module
from toolchain.audit.pe import check_pe, open_pe
from toolchain.audit.platforms import DOS_OSES, check_cpu, check_os, cpu_names, os_names
from toolchain.audit.report import AuditReport
from toolchain.audit.symbols import Symbolizer, from_coff, from_map, is_code_section
from toolchain.errors import AuditError

__all__ = [
    "AuditReport",
    "CpuHit",
    "Finding",
    "audit_exe",
    "check_link_surface",
    "cpu_names",
    "os_names",
]


def _code_layout(pe: pefile.PE) -> list[tuple[int, int]]:
    return [(s.VirtualAddress, s.Misc_VirtualSize) for s in pe.sections if is_code_section(s)]


def _symbols(pe_exe: pefile.PE, map_file: Path | None, symbols_exe: Path | None,
             findings: list[Finding]) -> Symbolizer | None:
    """Symbols for naming CPU hits: the unstripped twin first, then the map.

    Names are a diagnostic, so a twin that cannot be used is an info finding,
    never a reason to fail the audit; a map the caller named must be readable.
    """
    if symbols_exe is not None:
        try:
            twin = open_pe(symbols_exe)
            same = (twin.OPTIONAL_HEADER.ImageBase == pe_exe.OPTIONAL_HEADER.ImageBase
                    and _code_layout(twin) == _code_layout(pe_exe))
            twin.close()
            if not same:
                findings.append(Finding("info", "cpu", "code layout differs from the exe: its symbols are not used",
                                        str(symbols_exe)))
            else:
                sym = from_coff(symbols_exe)
                if sym:
                    return sym
        except AuditError as exc:
            findings.append(Finding("info", "cpu", f"symbols not used: {exc}", str(symbols_exe)))
    if map_file is not None:
        return from_map(map_file, pe_exe)
    return None


def audit_exe(exe: Path, *, os: str, cpu: str, map_file: Path | None = None,
              symbols_exe: Path | None = None) -> AuditReport:
    """Run the header, import and CPU checks on ``exe`` for target (os, cpu).

    Raises AuditError only when the file cannot be read as a PE at all; every
    problem with a readable exe is a Finding in the report.
    """
    if os in DOS_OSES:
        return audit_dos_exe(Path(exe), cpu=cpu)
    check_os(os)
    check_cpu(cpu)
    exe = Path(exe)
    pe = open_pe(exe)
    try:
        findings = check_pe(pe, os=os)
        imports = list_imports(pe)
        findings += check_imports(imports, os=os)
        gate = Gate(cpu, os)
        hits, swept = scan_pe(pe, gate)
        symbols = _symbols(pe, Path(map_file) if map_file else None,
                           Path(symbols_exe) if symbols_exe else None, findings)
        hits = name_hits(hits, symbols)
        findings += cpu_findings(hits, gate)
    finally:
        pe.close()
    return AuditReport(exe, os, cpu, findings, hits, imports, swept, symbols.source if symbols else "")


def audit_dos_exe(exe: Path, *, cpu: str) -> AuditReport:
    """The MS-DOS checks: MZ + CauseWay + LE, not a PE, and the CPU sweep of
    its 32-bit code.  A DOS program imports nothing, so there is no import
    check; the findings and verdict read as for a PE."""
    check_cpu(cpu)
    module, findings = read_module(exe)
    if module is None:
        return AuditReport(exe, "dos", cpu, findings)
    findings += check_module(module, cpu)
    gate = Gate(cpu, "dos")
    hits, swept = scan_module(module, gate)
    findings += cpu_findings(hits, gate)
    return AuditReport(exe, "dos", cpu, findings, hits, [], swept, "")
