"""PE header checks on a real MinGW exe and on copies with one field patched."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pefile
import pytest

from audit_util import BADEXE, mingw
from toolchain.audit import audit_exe
from toolchain.audit.pe import check_pe, open_pe


@pytest.fixture(scope="module")
def hello(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return mingw(tmp_path_factory.mktemp("pe") / "hello.exe", [BADEXE / "hello.c"], ["-O2"])


def patched(src: Path, dst: Path, change: Callable[[pefile.PE], None]) -> Path:
    pe = pefile.PE(str(src))
    change(pe)
    pe.write(str(dst))
    pe.close()
    return dst


def pe_findings(exe: Path, os: str = "win98") -> list[tuple[str, str, str]]:
    pe = open_pe(exe)
    try:
        return [(f.severity, f.where, f.message) for f in check_pe(pe, os=os)]
    finally:
        pe.close()


def fail_wheres(exe: Path, os: str = "win98") -> set[str]:
    return {w for s, w, _ in pe_findings(exe, os) if s == "fail"}


def test_default_mingw_exe_has_sane_header_and_tls_warning_on_9x_only(hello: Path) -> None:
    got = pe_findings(hello)
    assert not [g for g in got if g[0] == "fail"]
    assert [g[0] for g in got if g[1].startswith("TLS")] == ["warn"]
    assert [g[0] for g in pe_findings(hello, "nt4") if g[1].startswith("TLS")] == ["info"]


def test_machine_and_subsystem(hello: Path, tmp_path: Path) -> None:
    def amd64_gui(pe: pefile.PE) -> None:
        pe.FILE_HEADER.Machine = 0x8664
        pe.OPTIONAL_HEADER.Subsystem = 2

    exe = patched(hello, tmp_path / "x.exe", amd64_gui)
    assert {"FILE_HEADER.Machine", "OPTIONAL_HEADER.Subsystem"} <= fail_wheres(exe)


def test_os_version_above_4_fails(hello: Path, tmp_path: Path) -> None:
    def os5(pe: pefile.PE) -> None:
        pe.OPTIONAL_HEADER.MajorOperatingSystemVersion = 5
        pe.OPTIONAL_HEADER.MinorOperatingSystemVersion = 1

    exe = patched(hello, tmp_path / "os5.exe", os5)
    [(sev, _, msg)] = [g for g in pe_findings(exe) if g[1] == "OPTIONAL_HEADER.MajorOperatingSystemVersion"]
    assert sev == "fail" and msg.startswith("OS version 5.1 is above 4.0")


def test_low_image_base_without_relocations_fails_on_9x(hello: Path, tmp_path: Path) -> None:
    def low_base(pe: pefile.PE) -> None:
        pe.OPTIONAL_HEADER.ImageBase = 0x10000
        pe.FILE_HEADER.Characteristics |= 0x0001

    exe = patched(hello, tmp_path / "low.exe", low_base)
    assert "OPTIONAL_HEADER.ImageBase" in fail_wheres(exe, "win98")
    assert "OPTIONAL_HEADER.ImageBase" not in fail_wheres(exe, "nt4")


def test_entry_point_outside_code_and_truncated_section(hello: Path, tmp_path: Path) -> None:
    def bad_entry(pe: pefile.PE) -> None:
        pe.OPTIONAL_HEADER.AddressOfEntryPoint = pe.OPTIONAL_HEADER.SizeOfImage + 0x1000

    assert "OPTIONAL_HEADER.AddressOfEntryPoint" in fail_wheres(patched(hello, tmp_path / "e.exe", bad_entry))
    cut = tmp_path / "cut.exe"
    data = hello.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    assert any("runs past the end of the file" in m for s, _, m in pe_findings(cut) if s == "fail")


def test_small_stack_warns(hello: Path, tmp_path: Path) -> None:
    def small(pe: pefile.PE) -> None:
        pe.OPTIONAL_HEADER.SizeOfStackReserve = 64 * 1024

    got = pe_findings(patched(hello, tmp_path / "s.exe", small))
    assert ("warn", "OPTIONAL_HEADER.SizeOfStackReserve") in {(s, w) for s, w, _ in got}


def test_symbols_twin_with_other_layout_is_ignored_not_fatal(hello: Path, tmp_path: Path) -> None:
    other = mingw(tmp_path / "other.exe", [BADEXE / "sse.c"], ["-O2"])
    report = audit_exe(hello, os="win98", cpu="pentium", symbols_exe=other.with_suffix(".sym.exe"))
    assert any(f.message.startswith("code layout differs") for f in report.findings)
    assert all(h.function is None for h in report.cpu_hits) and report.cpu_hits
